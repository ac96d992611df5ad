import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { UserError } from '../../src/errors.js';
import { isShim, parseShimsArgs, planShims, SHIMS, shimScript, shQuote, type Existing } from '../../src/shims/plan.js';
import { runShims } from '../../src/shims/shims.js';
import { ROOTLESSKIT_VERSION } from '../../src/version.js';

const CLI_DIR = dirname(fileURLToPath(new URL('../../src/cli/nsgate.js', import.meta.url)));
const NAMES = SHIMS.map((s) => s.name);

function rejects(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => err instanceof UserError && message.test(err.message));
}

describe('parseShimsArgs', () => {
  it('takes one DIR and the flags in any order', () => {
    assert.deepEqual(parseShimsArgs(['d']), { kind: 'write', dir: 'd', force: false });
    assert.deepEqual(parseShimsArgs(['--force', 'd']), { kind: 'write', dir: 'd', force: true });
    assert.deepEqual(parseShimsArgs(['d', '--remove']), { kind: 'remove', dir: 'd' });
    assert.deepEqual(parseShimsArgs(['--', '--odd-dir']), { kind: 'write', dir: '--odd-dir', force: false });
    assert.deepEqual(parseShimsArgs(['--help', '--bogus']), { kind: 'help' });
    assert.deepEqual(parseShimsArgs(['-h']), { kind: 'help' });
  });

  it('refuses what it does not know, saying what is allowed', () => {
    rejects(() => parseShimsArgs([]), /^expected one DIR, got none \(usage: nsgate-shims DIR \[--force\] \[--remove\]\)$/);
    rejects(() => parseShimsArgs(['a', 'b']), /^expected one DIR, got "a", "b" /);
    rejects(() => parseShimsArgs(['']), /^DIR is empty /);
    rejects(() => parseShimsArgs(['d', '--forse']), /^unknown flag "--forse": allowed flags are --force, --remove and --help/);
    rejects(() => parseShimsArgs(['d', '--remove', '--force']), /^--remove and --force do not go together: --remove only ever deletes nsgate's own shims$/);
  });
});

describe('the shim script', () => {
  it('execs node and the entry by absolute path, quoted for sh, with the marker on line 2', () => {
    const script = shimScript('/opt/no de/bin/node', "/x/it's/nsgate.js");
    assert.equal(script, `#!/bin/sh\n# nsgate shim: written by nsgate-shims, removed by nsgate-shims --remove\nexec '/opt/no de/bin/node' '/x/it'\\''s/nsgate.js' "$@"\n`);
    assert.ok(isShim(script));
    assert.ok(!isShim('#!/bin/sh\nexec rootlesskit "$@"\n'));
    assert.ok(!isShim('\x7fELF...'));
  });

  it('quotes anything as one sh word', () => {
    for (const word of ["a'b", '$(x) `y` "z"', ' ', "''", 'a\nb']) {
      const r = spawnSync('sh', ['-c', `printf %s ${shQuote(word)}`], { encoding: 'utf8' });
      assert.equal(r.stdout, word);
    }
  });
});

describe('planShims', () => {
  const at = (states: Record<string, Existing>) => (path: string) => states[path.slice('/d/'.length)] ?? { kind: 'missing' as const };
  const elf: Existing = { kind: 'foreign', what: 'an ELF executable of 9 bytes' };

  it('writes every shim over nothing or over its own shims', () => {
    assert.deepEqual(planShims({ kind: 'write', dir: '/d', force: false }, at({ rootlesskit: { kind: 'shim' } })), [
      { action: 'write', path: '/d/rootlesskit', runs: 'nsgate.js' },
      { action: 'write', path: '/d/docker-rootlesskit', runs: 'nsgate.js' },
      { action: 'write', path: '/d/rootlessctl', runs: 'nsgatectl.js' },
    ]);
  });

  it('refuses the whole command for one foreign file, unless --force; never replaces a directory', () => {
    rejects(() => planShims({ kind: 'write', dir: '/d', force: false }, at({ rootlessctl: elf })),
      /^nothing written: \/d\/rootlessctl is not an nsgate shim \(an ELF executable of 9 bytes\): --force replaces it$/);
    assert.deepEqual(planShims({ kind: 'write', dir: '/d', force: true }, at({ rootlessctl: elf }))[2],
      { action: 'write', path: '/d/rootlessctl', runs: 'nsgatectl.js', replaces: 'an ELF executable of 9 bytes' });
    rejects(() => planShims({ kind: 'write', dir: '/d', force: true }, at({ rootlesskit: { kind: 'unreplaceable', what: 'a directory' } })),
      /^nothing written: \/d\/rootlesskit is a directory: only a file can be replaced by a shim$/);
  });

  it('--remove deletes only its own shims and says what it leaves', () => {
    assert.deepEqual(planShims({ kind: 'remove', dir: '/d' }, at({ rootlesskit: { kind: 'shim' }, rootlessctl: elf })), [
      { action: 'remove', path: '/d/rootlesskit' },
      { action: 'leave', path: '/d/rootlessctl', why: 'not an nsgate shim (an ELF executable of 9 bytes)' },
    ]);
  });
});

describe('runShims in a directory', () => {
  const base = mkdtempSync(join(tmpdir(), 'nsgate-shims-unit-'));
  after(() => rmSync(base, { recursive: true, force: true }));
  let n = 0;
  const fresh = () => join(base, `d${n++}`, 'bin');
  const run = (...argv: string[]) => {
    let stdout = '';
    let stderr = '';
    const code = runShims(argv, { stdout: { write: (t) => (stdout += t) }, stderr: { write: (t) => (stderr += t) }, node: process.execPath, cliDir: CLI_DIR });
    return { code, stdout, stderr };
  };
  const files = (dir: string) => readdirSync(dir).sort();

  it('creates DIR and writes 0755 shims that run this nsgate and nsgatectl', () => {
    const dir = fresh();
    const old = process.umask(0o077);
    try {
      assert.equal(run(dir).code, 0);
    } finally {
      process.umask(old);
    }
    assert.deepEqual(files(dir), [...NAMES].sort());
    for (const name of NAMES) assert.equal(statSync(join(dir, name)).mode & 0o777, 0o755, name);
    for (const name of ['rootlesskit', 'docker-rootlesskit']) {
      const r = spawnSync(join(dir, name), ['--version'], { encoding: 'utf8' });
      assert.match(r.stdout, new RegExp(`^rootlesskit version ${ROOTLESSKIT_VERSION} \\(nsgate `), name);
    }
    assert.match(spawnSync(join(dir, 'rootlessctl'), ['--version'], { encoding: 'utf8' }).stdout, /^nsgatectl version /);
    assert.equal(run(dir).code, 0, 'writing again over its own shims');
  });

  it('leaves a real RootlessKit and everything else as it was when it refuses', () => {
    const dir = fresh();
    mkdirSync(dir, { recursive: true });
    copyFileSync('/bin/true', join(dir, 'rootlessctl'));
    const before = readFileSync(join(dir, 'rootlessctl'));
    const r = run(dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^nsgate-shims: error: nothing written: .*\/rootlessctl is not an nsgate shim \(an ELF executable of \d+ bytes\): --force replaces it\n$/);
    assert.deepEqual(files(dir), ['rootlessctl']);
    assert.ok(readFileSync(join(dir, 'rootlessctl')).equals(before));
  });

  it('--force replaces a foreign file and a symlink (not what it points to); --remove then leaves no trace', () => {
    const dir = fresh();
    mkdirSync(dir, { recursive: true });
    const target = join(base, 'real-rootlesskit');
    writeFileSync(target, '#!/bin/sh\necho real\n', { mode: 0o755 });
    symlinkSync(target, join(dir, 'rootlesskit'));
    writeFileSync(join(dir, 'rootlessctl'), 'text');
    const r = run(dir, '--force');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\/rootlesskit: runs .*nsgate\.js \(replaced a symlink to .*real-rootlesskit\)\n/);
    assert.match(r.stdout, /\/rootlessctl: runs .*nsgatectl\.js \(replaced a file of 4 bytes\)\n/);
    assert.equal(readFileSync(target, 'utf8'), '#!/bin/sh\necho real\n');
    assert.equal(run(dir, '--remove').code, 0);
    assert.deepEqual(files(dir), []);
  });

  it('--remove keeps what is not its own and says so', () => {
    const dir = fresh();
    assert.equal(run(dir).code, 0);
    writeFileSync(join(dir, 'rootlesskit'), '#!/bin/sh\nexec /usr/bin/rootlesskit "$@"\n');
    const r = run(dir, '--remove');
    assert.equal(r.code, 0);
    assert.match(r.stdout, /\/rootlesskit: left alone, not an nsgate shim \(a script: #!\/bin\/sh\)\n/);
    assert.deepEqual(files(dir), ['rootlesskit']);
    assert.match(run(dir, '--remove').stdout, /^no nsgate shims in .*\n.*left alone/);
  });

  it('fails clearly where DIR cannot be made', () => {
    const parent = join(base, 'notdir');
    mkdirSync(parent);
    writeFileSync(join(parent, 'file'), '');
    const r = run(join(parent, 'file', 'bin'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^nsgate-shims: error: cannot look at .*\/file\/bin\/rootlesskit: ENOTDIR/);
  });

  it('fails, instead of hanging, where the kernel refuses to make DIR (under /proc)', () => {
    const r = run('/proc/nsgate-shims-test/bin');
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^nsgate-shims: error: cannot write the shims in \/proc\/nsgate-shims-test\/bin: ENOENT/);
  });

  it('writes no shim at all when one cannot be written, and removes its temporary files', () => {
    const dir = fresh();
    mkdirSync(dir, { recursive: true });
    // The second shim's temporary name is taken: the first is written by then and must not land.
    const blocker = `.docker-rootlesskit.nsgate-shims-${process.pid}`;
    mkdirSync(join(dir, blocker));
    const r = run(dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^nsgate-shims: error: cannot write the shims in .*: EEXIST/);
    assert.deepEqual(files(dir), [blocker]);
  });
});
