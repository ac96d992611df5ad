import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { REFERENCE_PATH, referenceText } from '../../tools/reference.js';

describe('docs/reference.md', () => {
  it('is what the code\'s own tables make (else: npm run reference)', async () => {
    const made = await referenceText();
    assert.equal(readFileSync(REFERENCE_PATH, 'utf8'), made, 'docs/reference.md is stale: run `npm run reference`');
    for (const part of ['## nsgate\n', '--publish value, -p value', '### nsgatectl add-ports', '## nsgate-shims', '| DELETE | `/v1/ports/{id}` |']) {
      assert.ok(made.includes(part), part);
    }
  });
});
