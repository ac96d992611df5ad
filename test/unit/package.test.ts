import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

/** The checkout's package.json (dist/test/unit/ is three levels below it). */
const ROOT = new URL('../../../', import.meta.url);
const PKG = JSON.parse(readFileSync(new URL('package.json', ROOT), 'utf8')) as { bin: Record<string, string>; files: string[] };

describe('package.json', () => {
  it('names built executables as bins, each inside the packed files', () => {
    assert.deepEqual(Object.keys(PKG.bin).sort(), ['nsgate', 'nsgate-shims', 'nsgatectl']);
    for (const [name, path] of Object.entries(PKG.bin)) {
      assert.match(readFileSync(new URL(path, ROOT), 'utf8'), /^#!\/usr\/bin\/env node\n/, name);
      assert.ok(PKG.files.some((f) => path.startsWith(`${f}/`)), `${path} in ${PKG.files.join(', ')}`);
    }
  });
});
