import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate as tick } from 'node:timers/promises';

import { UserError } from '../../src/errors.js';
import { createLog, type Log } from '../../src/log.js';
import { PortManager } from '../../src/port/manager.js';
import { formatPortSpec, parsePortSpec } from '../../src/port/spec.js';
import { PROTOS, type PortDriver, type PortDriverInfo, type PortForward, type PortSpec } from '../../src/port/types.js';

/** Records what it is asked to do, in order; opens and closes take a turn of the event loop. */
class FakeDriver implements PortDriver {
  readonly events: string[] = [];
  /** When set, open throws it (once per call) instead of opening. */
  openError: Error | undefined;
  /** Specs whose close throws. */
  readonly failClose = new Set<string>();

  info(): PortDriverInfo {
    return { driver: 'fake', protos: [...PROTOS] };
  }

  async open(spec: PortSpec): Promise<PortForward> {
    await tick();
    if (this.openError) throw this.openError;
    const text = formatPortSpec(spec);
    this.events.push(`open ${text}`);
    return {
      close: async () => {
        await tick();
        if (this.failClose.has(text)) throw new Error(`cannot close ${text}`);
        this.events.push(`close ${text}`);
      },
    };
  }

  async stop(): Promise<void> {
    this.events.push('stop');
  }
}

function setup(log: Pick<Log, 'error'> = createLog(false)): { driver: FakeDriver; ports: PortManager } {
  const driver = new FakeDriver();
  return { driver, ports: new PortManager(driver, log) };
}

const add = (ports: PortManager, text: string) => ports.add(parsePortSpec(text));

function userError(pattern: RegExp): (err: unknown) => boolean {
  return (err) => err instanceof UserError && pattern.test(err.message);
}

describe('PortManager ids', () => {
  test('start at 1, increase, and are never reused', async () => {
    const { ports } = setup();
    assert.equal((await add(ports, ':8001:80/tcp')).id, 1);
    assert.equal((await add(ports, ':8002:80/tcp')).id, 2);
    await ports.remove(2);
    assert.equal((await add(ports, ':8002:80/tcp')).id, 3);
    await ports.remove(1);
    assert.equal((await add(ports, ':8001:80/tcp')).id, 4);
    assert.deepEqual(ports.list().map((p) => p.id), [3, 4]);
  });

  test('are allocated only when an add succeeds', async () => {
    const { driver, ports } = setup();
    driver.openError = new Error('nope');
    await assert.rejects(add(ports, ':8001:80/tcp'));
    driver.openError = undefined;
    await assert.rejects(ports.add({ proto: 'tcp', parentPort: 0, childPort: 80 }), UserError);
    assert.equal((await add(ports, ':8001:80/tcp')).id, 1);
  });
});

describe('PortManager add', () => {
  test('returns and lists the validated spec, as copies', async () => {
    const { driver, ports } = setup();
    const input = { proto: 'tcp', parentIP: '', parentPort: 8080, childPort: 80 } as const;
    const status = await ports.add(input);
    assert.deepEqual(status, { id: 1, spec: { proto: 'tcp', parentPort: 8080, childPort: 80 } });
    assert.deepEqual(driver.events, ['open :8080:80/tcp']);
    status.spec.parentPort = 1;
    ports.list()[0]!.spec.childPort = 2;
    assert.deepEqual(ports.list(), [{ id: 1, spec: { proto: 'tcp', parentPort: 8080, childPort: 80 } }]);
  });

  test('validates before opening', async () => {
    const { driver, ports } = setup();
    await assert.rejects(
      ports.add({ proto: 'tcp6', parentIP: '0.0.0.0', parentPort: 8080, childPort: 80 }),
      userError(/parentIP "0\.0\.0\.0" is IPv4 but proto "tcp6"/),
    );
    assert.deepEqual(driver.events, []);
  });

  test('a failed open leaves nothing behind and propagates the error unchanged', async () => {
    const { driver, ports } = setup();
    const error = new Error('EADDRINUSE');
    driver.openError = error;
    await assert.rejects(add(ports, '0.0.0.0:8080:80/tcp'), (err) => err === error);
    assert.deepEqual(ports.list(), []);
    driver.openError = undefined;
    assert.equal((await add(ports, '0.0.0.0:8080:80/tcp')).id, 1, 'the port is free again');
  });

  // [existing, added, conflicts]
  const MATRIX: [string, string, boolean][] = [
    ['0.0.0.0:8080:80/tcp', '0.0.0.0:8080:80/tcp', true],
    ['0.0.0.0:8080:80/tcp', '0.0.0.0:8080:10.0.2.100:81/tcp', true],
    [':8080:80/udp', ':8080:80/udp', true],
    ['[::]:8080:80/tcp6', '[::]:8080:80/tcp6', true],
    ['0.0.0.0:8080:80/tcp4', '[::]:8080:80/tcp6', false],
    [':8080:80/tcp4', ':8080:80/tcp6', false],
    ['0.0.0.0:8080:80/tcp', '0.0.0.0:8080:80/tcp4', false],
    ['0.0.0.0:8080:80/tcp', '0.0.0.0:8080:80/udp', false],
    ['0.0.0.0:8080:80/tcp', '0.0.0.0:8080:80/sctp', false],
    ['0.0.0.0:8080:80/tcp', '127.0.0.1:8080:80/tcp', false],
    ['0.0.0.0:8080:80/tcp', '0.0.0.0:8081:80/tcp', false],
    // RootlessKit compares the parent IP text: absent, 0.0.0.0 and :: differ.
    [':8080:80/tcp', '0.0.0.0:8080:80/tcp', false],
    ['0.0.0.0:8080:80/tcp', '[::]:8080:80/tcp', false],
  ];
  for (const [existing, added, conflicts] of MATRIX) {
    test(`${added} ${conflicts ? 'conflicts' : 'coexists'} with ${existing}`, async () => {
      const { ports } = setup();
      await add(ports, existing);
      if (conflicts) {
        await assert.rejects(add(ports, added), (err) => err instanceof UserError && err.message.includes(`conflicts with id 1 (${existing})`));
        assert.equal(ports.list().length, 1);
      } else {
        assert.equal((await add(ports, added)).id, 2);
      }
    });
  }

  test('of 50 concurrent identical adds exactly one wins', async () => {
    const { driver, ports } = setup();
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => add(ports, '0.0.0.0:8080:80/tcp')));
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    assert.equal(won.length, 1);
    assert.equal(lost.length, 49);
    for (const { reason } of lost) assert.ok(userError(/conflicts with 0\.0\.0\.0:8080:80\/tcp, which is being added/)(reason), String(reason));
    assert.deepEqual(driver.events, ['open 0.0.0.0:8080:80/tcp']);
    assert.deepEqual(ports.list(), [{ id: 1, spec: parsePortSpec('0.0.0.0:8080:80/tcp') }]);
  });
});

describe('PortManager remove', () => {
  test('closes and unregisters the port', async () => {
    const { driver, ports } = setup();
    await add(ports, ':8001:80/tcp');
    await add(ports, ':8002:80/tcp');
    await ports.remove(1);
    assert.deepEqual(driver.events, ['open :8001:80/tcp', 'open :8002:80/tcp', 'close :8001:80/tcp']);
    assert.deepEqual(ports.list().map((p) => p.id), [2]);
  });

  test('an unknown id is a UserError listing the existing ids', async () => {
    const { ports } = setup();
    await assert.rejects(ports.remove(1), userError(/^no port with id 1 \(there are no ports\)$/));
    for (const port of [8001, 8002, 8003]) await add(ports, `:${port}:80/tcp`);
    await ports.remove(2);
    await assert.rejects(ports.remove(2), userError(/^no port with id 2 \(existing ids: 1, 3\)$/));
  });

  test('of two concurrent removes of one id, one succeeds and one gets the unknown-id error', async () => {
    const { driver, ports } = setup();
    await add(ports, ':8001:80/tcp');
    const results = await Promise.allSettled([ports.remove(1), ports.remove(1)]);
    assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected')!;
    assert.ok(userError(/^no port with id 1 /)(rejected.reason));
    assert.deepEqual(driver.events, ['open :8001:80/tcp', 'close :8001:80/tcp']);
  });

  test('keeps the port taken until it is closed', async () => {
    const { ports } = setup();
    await add(ports, ':8001:80/tcp');
    const removing = ports.remove(1);
    assert.deepEqual(ports.list(), []);
    await assert.rejects(add(ports, ':8001:80/tcp'), userError(/conflicts with id 1 \(:8001:80\/tcp\), which is being removed/));
    await removing;
    assert.equal((await add(ports, ':8001:80/tcp')).id, 2);
  });
});

describe('PortManager closeAll', () => {
  test('closes every port, logs close failures, then stops the driver', async (t) => {
    const logged = t.mock.fn((_message: string) => {});
    const { driver, ports } = setup({ error: logged });
    for (const port of [8001, 8002, 8003]) await add(ports, `:${port}:80/tcp`);
    driver.failClose.add(':8002:80/tcp');
    await ports.closeAll();
    assert.deepEqual(driver.events.slice(3), ['close :8001:80/tcp', 'close :8003:80/tcp', 'stop']);
    assert.equal(logged.mock.callCount(), 1);
    assert.match(String(logged.mock.calls[0]!.arguments[0]), /closing port 2: cannot close :8002:80\/tcp/);
    assert.deepEqual(ports.list(), []);
  });

  test('with no ports just stops the driver', async () => {
    const { driver, ports } = setup();
    await ports.closeAll();
    assert.deepEqual(driver.events, ['stop']);
  });
});

/** A driver that picks a parent port for 0 (from 40000 up) and fails to open the ports in `busy`. */
class PickingDriver extends FakeDriver {
  readonly picksParentPort = true;
  readonly busy = new Set<number>();
  private nextPick = 40000;

  override async open(spec: PortSpec): Promise<PortForward> {
    if (this.busy.has(spec.parentPort)) {
      await tick();
      throw new UserError(`port ${spec.parentPort} is taken`);
    }
    const parentPort = spec.parentPort === 0 ? this.nextPick++ : spec.parentPort;
    return { ...(await super.open({ ...spec, parentPort })), parentPort };
  }
}

describe('PortManager ranges', () => {
  test('a range becomes one entry per port, in order, with consecutive ids', async () => {
    const { ports } = setup();
    await add(ports, ':7000:70/tcp');
    const added = await ports.addRange(parsePortSpec('127.0.0.1:8000-8009:80-89/tcp'));
    assert.deepEqual(added.map((p) => p.id), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
    assert.deepEqual(added.map((p) => [p.spec.parentPort, p.spec.childPort]), Array.from({ length: 10 }, (_, i) => [8000 + i, 80 + i]));
    assert.deepEqual(ports.list().slice(1), added);
  });

  test('a range that collides half-way adds nothing, names the port, and frees its claims', async () => {
    const { driver, ports } = setup();
    await add(ports, '127.0.0.1:8005:80/tcp');
    await assert.rejects(
      ports.addRange(parsePortSpec('127.0.0.1:8000-8009:80-89/tcp')),
      userError(/^port 127\.0\.0\.1:8005:85\/tcp of the range 127\.0\.0\.1:8000-8009:80-89\/tcp \(none of it added\) conflicts with id 1 \(127\.0\.0\.1:8005:80\/tcp\)/),
    );
    assert.deepEqual(driver.events, ['open 127.0.0.1:8005:80/tcp'], 'nothing of the range was opened');
    assert.equal(ports.list().length, 1);
    assert.equal((await ports.addRange(parsePortSpec('127.0.0.1:8000-8004:80-84/tcp'))).length, 5, 'the free part can be added');
  });

  test('a port of a range that fails to open closes the opened ones: nothing stays', async () => {
    const driver = new PickingDriver();
    const ports = new PortManager(driver, createLog(false));
    driver.busy.add(8050);
    await assert.rejects(
      ports.addRange(parsePortSpec(':8000-8099:8000-8099/udp')),
      userError(/^the range :8000-8099:8000-8099\/udp was not added \(no port of it is open\): port :8050:8050\/udp: port 8050 is taken$/),
    );
    const opened = driver.events.filter((e) => e.startsWith('open')).map((e) => e.slice(5));
    const closed = driver.events.filter((e) => e.startsWith('close')).map((e) => e.slice(6));
    assert.ok(opened.length > 0);
    assert.deepEqual(closed.sort(), opened.sort());
    assert.deepEqual(ports.list(), []);
    assert.equal((await ports.add(parsePortSpec(':8000:8000/udp'))).id, 1, 'ids are not used up and claims are freed');
  });

  test('parent port 0: the picked port is listed and claimed; a driver that cannot pick refuses', async () => {
    const driver = new PickingDriver();
    const ports = new PortManager(driver, createLog(false));
    const first = await ports.add(parsePortSpec('127.0.0.1:0:80/tcp'));
    assert.equal(first.spec.parentPort, 40000);
    assert.equal((await ports.add(parsePortSpec('127.0.0.1:0:81/tcp'))).spec.parentPort, 40001);
    assert.deepEqual(ports.list().map((p) => p.spec.parentPort), [40000, 40001]);
    await assert.rejects(add(ports, '127.0.0.1:40000:82/tcp'), userError(/conflicts with id 1 \(127\.0\.0\.1:40000:80\/tcp\)/));
    const { ports: plain } = setup();
    await assert.rejects(add(plain, '127.0.0.1:0:80/tcp'), userError(/^parent port 0 \(a free port the kernel picks\) is not supported by the fake port driver: give a port number/));
  });
});
