import assert from 'node:assert/strict';
import { test } from 'node:test';
import { matchBind, type BindRequest, type Published } from '../../src/port/drivers/bypass/rules.js';
import { parsePortSpec } from '../../src/port/spec.js';
import { userNotificationUnsupported } from '../../src/sys/seccomp.js';

const published = (...specs: string[]): Published[] => specs.map((text, i) => ({ key: i + 1, spec: parsePortSpec(text) }));
const tcp4 = (ip: string, port = 80): BindRequest => ({ family: 4, ip, port, kind: 'tcp', v6only: false });
const tcp6 = (ip: string, v6only: boolean, port = 80): BindRequest => ({ family: 6, ip, port, kind: 'tcp', v6only });
const host = (bind: BindRequest, ports: Published[]) => {
  const m = matchBind(bind, ports);
  return m && { key: m.key, ip: m.ip, port: m.port, v6only: m.v6only };
};

test('a bind matches by child port and kind: tcp specs take stream sockets, udp specs datagram ones', () => {
  const ports = published('127.0.0.1:8080:80/tcp', '127.0.0.1:8053:53/udp');
  assert.deepEqual(host(tcp4('0.0.0.0'), ports), { key: 1, ip: '127.0.0.1', port: 8080, v6only: false });
  assert.equal(host(tcp4('0.0.0.0', 81), ports), null, 'another port stays inside');
  assert.equal(host({ ...tcp4('0.0.0.0', 53), kind: 'tcp' }, ports), null, 'TCP on a udp-only port stays inside');
  assert.deepEqual(host({ ...tcp4('0.0.0.0', 53), kind: 'udp' }, ports), { key: 2, ip: '127.0.0.1', port: 8053, v6only: false });
});

test('the child address: a bind matches when a connection to childIP (else 127.0.0.1) reaches it', () => {
  const loopback = published(':8080:80/tcp');
  assert.ok(host(tcp4('0.0.0.0'), loopback), 'IPv4 wildcard');
  assert.ok(host(tcp4('127.0.0.1'), loopback), '127.0.0.1 itself');
  assert.equal(host(tcp4('10.0.2.100'), loopback), null, 'another address is not reached from 127.0.0.1');
  assert.ok(host(tcp6('::', false), loopback), 'a dual-stack [::] takes 127.0.0.1');
  assert.equal(host(tcp6('::', true), loopback), null, 'an IPv6-only [::] does not');
  assert.ok(host(tcp6('::ffff:127.0.0.1', false), loopback), 'v4-mapped 127.0.0.1');
  assert.equal(host(tcp6('::1', false), loopback), null, '::1 is not 127.0.0.1');
  const v6child = published(':8080:[::1]:80/tcp');
  assert.ok(host(tcp6('::1', true), v6child));
  assert.ok(host(tcp6('::', true), v6child));
  assert.equal(host(tcp4('0.0.0.0'), v6child), null);
  const childIP = published(':8080:10.0.2.100:80/tcp');
  assert.ok(host(tcp4('10.0.2.100'), childIP));
  assert.equal(host(tcp4('127.0.0.1'), childIP), null);
});

test("the host side: the parent address in the app socket's family, as the other drivers listen", () => {
  // Wildcard tcp: the socket's own family, dual-stack kept as the app set it.
  assert.deepEqual(host(tcp4('0.0.0.0'), published(':8080:80/tcp')), { key: 1, ip: '0.0.0.0', port: 8080, v6only: false });
  assert.deepEqual(host(tcp6('::', false), published(':8080:80/tcp')), { key: 1, ip: '::', port: 8080, v6only: false });
  assert.deepEqual(host(tcp6('::', false), published('0.0.0.0:8080:80/tcp')), { key: 1, ip: '::', port: 8080, v6only: false });
  // tcp6: IPv6 sockets only, made IPv6-only; tcp4 on a dual-stack socket: v4-mapped, so IPv4 only.
  assert.equal(host(tcp4('0.0.0.0'), published(':8080:80/tcp6')), null);
  assert.deepEqual(host(tcp6('::', false), published(':8080:80/tcp6')), { key: 1, ip: '::', port: 8080, v6only: true });
  assert.deepEqual(host(tcp6('::', false), published(':8080:80/tcp4')), { key: 1, ip: '::ffff:0.0.0.0', port: 8080, v6only: false });
  assert.equal(host(tcp6('::', true), published(':8080:80/tcp4')), null);
  // A specific parent IP must fit the socket's family.
  assert.deepEqual(host(tcp6('::', false), published('127.0.0.1:8080:80/tcp')), { key: 1, ip: '::ffff:127.0.0.1', port: 8080, v6only: false });
  assert.equal(host(tcp6('::', true), published('127.0.0.1:8080:80/tcp')), null, "nginx's [::] IPv6-only listener stays inside");
  assert.equal(host(tcp4('0.0.0.0'), published('[::1]:8080:80/tcp')), null);
  assert.deepEqual(host(tcp6('::', true), published('[::1]:8080:[::1]:80/tcp')), { key: 1, ip: '::1', port: 8080, v6only: true });
  // An IPv4-mapped parent IP is the IPv4 address it holds, as Go (and so RootlessKit) listens.
  assert.deepEqual(host(tcp4('0.0.0.0'), published('[::ffff:127.0.0.1]:8080:80/tcp4')), { key: 1, ip: '127.0.0.1', port: 8080, v6only: false });
  assert.deepEqual(host(tcp4('0.0.0.0'), published('[::ffff:0.0.0.0]:8080:80/tcp')), { key: 1, ip: '0.0.0.0', port: 8080, v6only: false });
  assert.equal(host(tcp6('::', true), published('[::ffff:127.0.0.1]:8080:80/tcp')), null);
});

test('of several matching specs the first published wins; one the socket cannot serve is skipped', () => {
  const ports = published(':8080:[::1]:80/tcp6', ':8081:80/tcp4');
  assert.equal(host(tcp4('0.0.0.0'), ports)?.key, 2);
  assert.equal(host(tcp6('::', true), ports)?.key, 1);
  assert.equal(host(tcp6('::', false), ports)?.key, 1);
});

test('bypass needs Linux >= 5.9 on x86_64 or arm64: anything else is named', () => {
  assert.equal(userNotificationUnsupported('6.1.0-18-amd64', 'x64'), null);
  assert.equal(userNotificationUnsupported('5.9.0', 'arm64'), null);
  assert.match(userNotificationUnsupported('5.8.18', 'x64')!, /needs Linux >= 5\.9 \(seccomp user notification with SECCOMP_IOCTL_NOTIF_ADDFD\); this kernel is 5\.8\.18/);
  assert.match(userNotificationUnsupported('4.19.0', 'x64')!, /this kernel is 4\.19\.0/);
  assert.match(userNotificationUnsupported('6.1.0', 'ia32')!, /x86_64 and arm64 only, not ia32/);
});
