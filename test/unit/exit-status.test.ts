import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { commandProblem } from '../../src/namespace-process/command-check.js';
import { commandStatus, goExitDescription, shellStatus } from '../../src/exit-status.js';
import { FORWARDED_SIGNALS } from '../../src/forwarded-signals.js';

describe('exit status and its words, as RootlessKit v2.3.4 prints them', () => {
  test('a code passes through; a signal gives 255 (Go exits -1)', () => {
    assert.equal(commandStatus(0), 0);
    assert.equal(commandStatus(42), 42);
    assert.equal(commandStatus(null), 255);
    assert.equal(shellStatus(null, 'SIGTERM'), 143);
  });

  test('Go words for exits and signals', () => {
    assert.equal(goExitDescription(42, null), 'exit status 42');
    assert.equal(goExitDescription(null, 'SIGKILL'), 'signal: killed');
    assert.equal(goExitDescription(null, 'SIGUSR1'), 'signal: user defined signal 1');
    assert.equal(goExitDescription(null, 'SIGTERM'), 'signal: terminated');
    assert.equal(goExitDescription(null, 'SIGINT'), 'signal: interrupt');
  });

  test('every catchable signal is forwarded once, except those RootlessKit skips and the fault signals', () => {
    for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP', 'SIGUSR1', 'SIGUSR2', 'SIGWINCH', 'SIGCONT', 'SIGTSTP', 'SIGALRM', 'SIGQUIT', 'SIGABRT'] as const) {
      assert.ok(FORWARDED_SIGNALS.includes(sig), sig);
    }
    for (const sig of ['SIGKILL', 'SIGSTOP', 'SIGCHLD', 'SIGPIPE', 'SIGURG', 'SIGSEGV', 'SIGIOT', 'SIGPOLL'] as const) {
      assert.ok(!FORWARDED_SIGNALS.includes(sig), sig);
    }
  });
});

describe('commandProblem: why COMMAND cannot be exec\'d, in Go\'s words', () => {
  const dir = mkdtempSync(join(tmpdir(), 'nsgate-cmd-'));
  const file = (name: string, text: string, mode: number) => {
    writeFileSync(join(dir, name), text);
    chmodSync(join(dir, name), mode);
    return join(dir, name);
  };
  const script = file('script', '#!/bin/sh\nexit 0\n', 0o755);
  const plain = file('plain', 'echo hi\n', 0o755);
  const noExec = file('noexec', '#!/bin/sh\n', 0o644);
  symlinkSync(script, join(dir, 'link'));

  test('found on PATH, or by path', () => {
    assert.equal(commandProblem('script', `/nonexistent:${dir}`), undefined);
    assert.equal(commandProblem('link', dir), undefined);
    assert.equal(commandProblem(script, undefined), undefined);
    assert.equal(commandProblem('sh', '/usr/bin:/bin'), undefined);
  });

  test('refused as Go refuses it', () => {
    assert.equal(commandProblem('no-such-xyz', dir), 'exec: "no-such-xyz": executable file not found in $PATH');
    assert.equal(commandProblem('noexec', dir), 'exec: "noexec": executable file not found in $PATH');
    assert.equal(commandProblem(join(dir, 'missing'), dir), `fork/exec ${join(dir, 'missing')}: no such file or directory`);
    assert.equal(commandProblem(noExec, dir), `fork/exec ${noExec}: permission denied`);
    assert.equal(commandProblem(dir, dir), `fork/exec ${dir}: permission denied`);
    assert.equal(commandProblem(plain, dir), `fork/exec ${plain}: exec format error`);
  });

  test.after(() => rmSync(dir, { recursive: true, force: true }));
});
