/**
 * Reliability: bad input to a real nsgate. Generated requests to api.sock (test/e2e/api-fuzz.ts), bad
 * nsgatectl command lines and bad -p specs: each gets a clear error, and nothing is crashed, leaked or left.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { FAMILY_NAMES, fuzzCases, type FuzzCase } from './api-fuzz.js';
import {
  asUser, descendants, eventually, freePort, type Launched, launchNsgate, listenersOf, NSGATECTL, runNsgate, settledFds, soakSize, userEnv, userTempDir,
} from './harness.js';
import { rawExchange, type RawAnswer } from './raw-http.js';

const REQUESTS = soakSize(10_000, 100_000);
const IN_FLIGHT = 100;
const SEED = Number(process.env.NSGATE_FUZZ_SEED ?? 7);

/** What is wrong with an answer, or undefined: errors are `{"message": "..."}` JSON, successes JSON too. */
function answerProblem(answer: RawAnswer, expected: number | undefined): string | undefined {
  if (answer.status !== expected) return `status ${answer.status}, expected ${expected}`;
  if (answer.status === 200 && answer.body === '') return undefined; // DELETE's answer has no body, as RootlessKit's
  if (answer.headers['content-type'] !== 'application/json') return `content-type ${answer.headers['content-type']}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.body);
  } catch {
    return `body is not JSON: ${answer.body.slice(0, 80)}`;
  }
  if (answer.status < 400) return undefined;
  const message = (parsed as { message?: unknown }).message;
  return typeof message === 'string' && message.length > 0 ? undefined : `no message in ${answer.body.slice(0, 80)}`;
}

/** Runs `cases` with IN_FLIGHT connections at a time; returns statuses seen per family, and every problem. */
async function flood(socketPath: string, cases: Iterable<FuzzCase>): Promise<{ sent: number; seen: Map<string, Map<number, number>>; problems: string[] }> {
  const seen = new Map<string, Map<number, number>>(FAMILY_NAMES.map((f) => [f, new Map()]));
  const problems: string[] = [];
  const iterator = cases[Symbol.iterator]();
  let sent = 0;
  const worker = async () => {
    for (let next = iterator.next(); !next.done; next = iterator.next()) {
      const c = next.value;
      const n = ++sent;
      const started = Date.now();
      const got = await rawExchange(socketPath, c.chunks, { then: c.then, waitMs: 15_000 });
      const counts = seen.get(c.family)!;
      for (const a of got.answers) counts.set(a.status, (counts.get(a.status) ?? 0) + 1);
      const issues = [
        got.answers.length !== c.expect.length ? `${got.answers.length} answers, expected ${c.expect.length}` : undefined,
        ...got.answers.map((a, i) => answerProblem(a, c.expect[i])),
        got.rest ? `unframed bytes after the answers: ${JSON.stringify(got.rest.slice(0, 80))}` : undefined,
        got.closedByServer || c.then === 'close' ? undefined : 'the server did not close the connection',
      ].filter(Boolean);
      if (issues.length) problems.push(`case ${n} (${c.family}, ${Date.now() - started} ms): ${issues.join('; ')}`);
    }
  };
  await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  return { sent, seen, problems };
}

describe('the API of a running nsgate under bad input', () => {
  let run: Launched;
  let socketPath: string;
  before(async () => {
    run = await launchNsgate(['--net=none', '--port-driver=builtin', '-p', `127.0.0.1:${await freePort()}:7/tcp`], ['tcp-echo,7,127.0.0.1']);
    socketPath = `${run.stateDir}/api.sock`;
  });
  after(() => run.stop());

  test(`${REQUESTS} generated bad requests: every answer JSON with a message and the right status; no crash, no leak`, { timeout: 600_000 }, async (t) => {
    // Warm-up: the first answers and a port added and removed, so lazily opened files count in the baseline.
    const warm = await run.api.addPort({ proto: 'tcp', parentIP: '127.0.0.1', parentPort: await freePort(), childPort: 7 });
    await run.api.removePort(warm.id);
    await run.api.info();
    const tree = [run.p.pid, ...descendants(run.p.pid)];
    const listenersBefore = listenersOf(tree);
    const portsBefore = await run.api.listPorts();
    const fdsBefore = await settledFds(run);

    // A few clients stop mid-header and stay: they must get a 408 while the flood goes on.
    const silent = Array.from({ length: 20 }, () =>
      rawExchange(socketPath, [Buffer.from('GET /v1/info HTTP/1.1\r\nHo')], { then: 'wait', waitMs: 15_000 }),
    );
    const t0 = Date.now();
    const { sent, seen, problems } = await flood(socketPath, fuzzCases(SEED, REQUESTS));
    const ms = Date.now() - t0;
    for (const got of await Promise.all(silent)) {
      assert.equal(got.answers.length, 1, 'a silent client gets one answer');
      assert.equal(answerProblem(got.answers[0]!, 408), undefined);
    }

    const summary = [...seen].map(([family, counts]) => `${family}: ${[...counts].map(([s, n]) => `${n}×${s}`).join(' ') || 'no answer'}`);
    t.diagnostic(`${sent} requests in ${ms} ms (seed ${SEED}); ${summary.join('; ')}`);
    assert.equal(sent, REQUESTS);
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} bad answers`);

    assert.equal((await run.api.info()).apiVersion, '1.1.1', 'GET /v1/info still answers');
    assert.deepEqual(await run.api.listPorts(), portsBefore, 'no port added or removed');
    assert.deepEqual(listenersOf(tree), listenersBefore, 'no listener opened or left');
    await eventually(`fds back to ${JSON.stringify(fdsBefore)} (now ${JSON.stringify(run.fds())})`, () => {
      const now = run.fds();
      return now.parent <= fdsBefore.parent && now.child <= fdsBefore.child;
    }, 5_000);
    t.diagnostic(`fds before ${JSON.stringify(fdsBefore)}, after ${JSON.stringify(run.fds())}`);
  });

  test('bad nsgatectl command lines: a clear error, a non-zero exit, and nothing changed', async () => {
    const ctl = (...args: string[]) => {
      const [cmd, argv] = asUser(process.execPath, [NSGATECTL, `--socket=${socketPath}`, ...args]);
      return spawnSync(cmd, argv, { encoding: 'utf8', env: userEnv() });
    };
    const portsBefore = await run.api.listPorts();
    const tree = [run.p.pid, ...descendants(run.p.pid)];
    const listenersBefore = listenersOf(tree);
    const cases: Array<[string[], RegExp]> = [
      [['add-ports', '8080:80'], /missing "\/<proto>"/],
      [['add-ports', '127.0.0.1:8080:80/icmp'], /proto "icmp" is unknown/],
      [['add-ports', '127.0.0.1:99999:80/tcp'], /parent port "99999"/],
      [['add-ports', '[::1:8080:80/tcp'], /unbalanced/],
      [['add-ports', '1.2.3:8080:80/tcp'], /parent IP "1\.2\.3"/],
      // The first spec is valid: it must not be added when a later one is malformed.
      [['add-ports', `127.0.0.1:${portsBefore[0]!.spec.parentPort + 1}:7/tcp`, 'nonsense'], /invalid port spec "nonsense"/],
      [['add-ports', `127.0.0.1:${portsBefore[0]!.spec.parentPort}:7/tcp`], /conflicts with id 1/],
      [['add-ports'], /no port specified/],
      [['remove-ports', 'abc'], /"abc"/],
      [['remove-ports', '424242'], /no port with id 424242/],
      [['remove-ports'], /no ID specified/i],
      [['frobnicate'], /unknown command "frobnicate"/],
      [['list-ports', '--bogus'], /--bogus/],
    ];
    for (const [args, message] of cases) {
      const r = ctl(...args);
      assert.notEqual(r.status, 0, `${args.join(' ')} must fail`);
      assert.match(r.stderr, message, args.join(' '));
      assert.equal(r.stdout, '', `${args.join(' ')} prints nothing on stdout`);
    }
    assert.deepEqual(await run.api.listPorts(), portsBefore);
    assert.deepEqual(listenersOf(tree), listenersBefore);
  });
});

describe('nsgate with a malformed -p spec', () => {
  const SPECS: Array<[string, RegExp]> = [
    ['8080:80', /missing "\/<proto>"/],
    ['8080:80/tcp', /missing the parent IP part/],
    ['127.0.0.1:8080:80/tcp/x', /proto/],
    ['127.0.0.1:-1:80/tcp', /parent port/],
    ['127.0.0.1:8080:65536/tcp', /child port/],
    ['::1:8080:80/tcp6', /brackets/],
    ['[::1]x:8080:80/tcp6', /unexpected "x" after "\[::1\]"/],
    ['127.0.0.1:8080:80/tcp6', /IPv4 but proto "tcp6" is IPv6 only/],
    ['', /empty/],
  ];
  for (const [spec, message] of SPECS) {
    test(`-p ${JSON.stringify(spec)}: a clear error, exit 1, COMMAND not run, nothing left`, async () => {
      const dir = userTempDir();
      const r = await runNsgate([`--state-dir=${dir}/s`, '--net=none', '--port-driver=builtin', '-p', spec, 'touch', `${dir}/ran`]);
      assert.equal(r.code, 1);
      assert.match(r.stderr, message);
      assert.equal(existsSync(`${dir}/ran`), false, 'COMMAND did not run');
      assert.deepEqual(existsSync(`${dir}/s`) ? readdirSync(`${dir}/s`) : [], [], 'nothing in the state dir');
      rmSync(dir, { recursive: true, force: true });
    });
  }
});
