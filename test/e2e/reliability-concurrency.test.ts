/**
 * Reliability: 100 API clients adding and removing ports at once on a real nsgate. Every conflict has
 * exactly one winner, and in the end list-ports is exactly what the host has listening.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiClient } from '../../src/api/client.js';
import type { PortSpec, PortStatus } from '../../src/port/types.js';
import { exchange, udpAsk } from './clients.js';
import { freePort, type Launched, launchNsgate, listenersOf, soakSize } from './harness.js';

const CLIENTS = 100;
const ROUNDS = soakSize(5, 50);

/** What the host must show for a published spec (the specs here all name 127.0.0.1 and tcp4 or udp4). */
const listenerOf = (spec: PortSpec) => `${spec.proto.replace(/4$/, '')} ${spec.parentIP}:${spec.parentPort}`;

/** The outcome of one API call: the value, or the error message. */
async function outcome<T>(call: Promise<T>): Promise<{ ok: true; value: T } | { ok: false; message: string }> {
  try {
    return { ok: true, value: await call };
  } catch (err) {
    return { ok: false, message: (err as Error).message };
  }
}

/** A conflict with a port already added, or with one whose add is still under way (a slower driver widens that window). */
const CONFLICT = /conflicts with (id \d+|\S+, which is being added)/;

describe('100 API clients at once', () => {
  let run: Launched;
  /** One connection per client, as separate programs would have. */
  let clients: ApiClient[];
  let pool: PortSpec[];
  before(async () => {
    run = await launchNsgate(['--net=none', '--port-driver=builtin'], ['tcp-echo,7,127.0.0.1', 'udp-echo,7,127.0.0.1']);
    clients = Array.from({ length: CLIENTS }, () => new ApiClient(`${run.stateDir}/api.sock`));
    pool = [];
    for (let i = 0; i < 10; i++) {
      pool.push({ proto: i % 2 ? 'udp4' : 'tcp4', parentIP: '127.0.0.1', parentPort: await freePort(), childPort: 7 });
    }
  });
  after(() => run.stop());

  /** list-ports and the host's real listeners of nsgate (parent, or the child where the native relay holds them) describe the same ports, and each one forwards. */
  async function assertListMatchesHost(): Promise<PortStatus[]> {
    const list = await run.api.listPorts();
    assert.deepEqual(listenersOf([run.p.pid, run.childPid()]), list.map((p) => listenerOf(p.spec)).sort());
    for (const { spec } of list) {
      const echoed = spec.proto === 'tcp4' ? (await exchange('127.0.0.1', spec.parentPort, 'ping')).toString() : (await udpAsk('127.0.0.1', spec.parentPort, 'ping')).reply;
      assert.equal(echoed, 'ping', `${listenerOf(spec)} forwards`);
    }
    return list;
  }

  test('the same spec raced by 10 clients each, 10 specs at once: exactly one add wins each', async () => {
    const results = await Promise.all(clients.map((client, i) => outcome(client.addPort(pool[i % pool.length]!))));
    for (const [n, spec] of pool.entries()) {
      const mine = results.filter((_, i) => i % pool.length === n);
      const won = mine.filter((r) => r.ok);
      assert.equal(won.length, 1, `one winner for ${listenerOf(spec)}`);
      for (const lost of mine.filter((r) => !r.ok)) assert.match(lost.ok ? '' : lost.message, CONFLICT);
    }
    assert.equal((await assertListMatchesHost()).length, pool.length);
  });

  test('the same id removed by 10 clients each: exactly one remove wins each, and every port closes', async () => {
    const ids = (await run.api.listPorts()).map((p) => p.id);
    const results = await Promise.all(clients.map((client, i) => outcome(client.removePort(ids[i % ids.length]!))));
    for (const [n, id] of ids.entries()) {
      const mine = results.filter((_, i) => i % ids.length === n);
      assert.equal(mine.filter((r) => r.ok).length, 1, `one winner for id ${id}`);
      for (const lost of mine.filter((r) => !r.ok)) assert.match(lost.ok ? '' : lost.message, new RegExp(`no port with id ${id}`));
    }
    assert.deepEqual(await assertListMatchesHost(), []);
  });

  test(`${CLIENTS} clients adding and removing for ${ROUNDS} rounds: list-ports ends equal to the host's listeners`, async (t) => {
    const tally = { added: 0, conflicts: 0, removed: 0, unknownIds: 0 };
    await Promise.all(
      clients.map(async (client, c) => {
        for (let round = 0; round < ROUNDS; round++) {
          const added = await outcome(client.addPort(pool[(c + round) % pool.length]!));
          if (added.ok) tally.added++;
          else if (CONFLICT.test(added.message)) tally.conflicts++;
          else throw new Error(`add: ${added.message}`);
          // Half the clients remove what they added; every client also tries a port some other client may hold.
          const victims = [...(added.ok && c % 2 ? [added.value.id] : []), ...(await client.listPorts()).slice(0, 1).map((p) => p.id)];
          for (const id of victims) {
            const removed = await outcome(client.removePort(id));
            if (removed.ok) tally.removed++;
            else if (new RegExp(`no port with id ${id}`).test(removed.message)) tally.unknownIds++;
            else throw new Error(`remove: ${removed.message}`);
          }
        }
      }),
    );
    const list = await assertListMatchesHost();
    assert.equal(tally.added - tally.removed, list.length, 'every successful add is either removed or listed');
    t.diagnostic(`${JSON.stringify(tally)}; ${list.length} ports left, each with its host listener`);
  });
});
