/**
 * A copy of the built tree that the unprivileged test user can run, for when the checkout is private:
 * dist/, package.json and the runtime dependencies (koffi: without it nsgate would quietly fall back
 * to its JavaScript relay, and the tests would not test the real data plane).
 */
import { chmodSync, cpSync, mkdtempSync } from 'node:fs';
import { join } from 'node:path';

const RUNTIME_DEPENDENCIES = ['koffi'];

export function runnableCopy(root: string, prefix: string): string {
  const copy = mkdtempSync(prefix);
  cpSync(join(root, 'dist'), join(copy, 'dist'), { recursive: true });
  cpSync(join(root, 'package.json'), join(copy, 'package.json'));
  for (const dep of RUNTIME_DEPENDENCIES) cpSync(join(root, 'node_modules', dep), join(copy, 'node_modules', dep), { recursive: true });
  chmodSync(copy, 0o755);
  return copy;
}
