/**
 * `npm test`: unit tests, then the end-to-end suite. As root (CI), it first prepares the test users
 * (scripts/setup-test-env.sh) and copies the built tree where they can read it, because the
 * end-to-end tests run nsgate as an unprivileged user and the checkout may be private.
 */
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runnableCopy } from './runnable-copy.js';

const root = resolve(fileURLToPath(new URL('../..', import.meta.url)));

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): number {
  const r = spawnSync(cmd, args, { stdio: 'inherit', env, cwd: root });
  return r.status ?? 1;
}

let e2eDir = root;
if (process.getuid!() === 0) {
  if (run('bash', [join(root, 'scripts/setup-test-env.sh')]) !== 0) process.exit(1);
  e2eDir = runnableCopy(root, '/tmp/nsgate-e2e-');
}

const only = process.argv.slice(2);
let status = 0;
if (only.length > 0) {
  status = run(process.execPath, ['--test', '--test-concurrency=1', ...only], { ...process.env, NSGATE_E2E_DIR: e2eDir });
} else {
  const unit = run(process.execPath, ['--test', 'dist/test/unit/']);
  // End-to-end files one at a time: they share the test user, its processes and host ports.
  const e2e = run(process.execPath, ['--test', '--test-concurrency=1', 'dist/test/e2e/'], { ...process.env, NSGATE_E2E_DIR: e2eDir });
  status = unit || e2e;
}
if (e2eDir !== root) rmSync(e2eDir, { recursive: true, force: true });
process.exit(status);
