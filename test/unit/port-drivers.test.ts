import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '../../src/errors.js';
import { NET_DRIVERS, type LaunchOptions } from '../../src/options.js';
import type { PortDriverContext, PortDriverDescriptor } from '../../src/port/drivers/descriptor.js';
import { createPortDriver, networkArgsFor, noPortsMessage, PORT_DRIVER_DESCRIPTORS, PORT_DRIVERS } from '../../src/port/drivers/registry.js';
import { hostFwd } from '../../src/port/drivers/slirp4netns/parent.js';
import { socatArgv } from '../../src/port/drivers/socat/argv.js';
import { PROTOS, type PortSpec } from '../../src/port/types.js';

const NS = { netns: '/proc/42/ns/net', userns: '/proc/42/ns/user' };
const PDEATHSIG = ['setpriv', '--pdeathsig', 'KILL', '--'];

function spec(text: Partial<PortSpec> & Pick<PortSpec, 'proto'>): PortSpec {
  return { parentPort: 8080, childPort: 80, ...text };
}

describe('socat command line', () => {
  const inner = (timeout: string, target: string) =>
    `EXEC:"${[...PDEATHSIG, 'nsenter', '--preserve-credentials', `--user=${NS.userns}`, `--net=${NS.netns}`, 'socat', ...timeout.split(' '), 'STDIO,shut-down', target].join(' ')}",nofork`;

  const cases: Array<[PortSpec, string, string]> = [
    [spec({ proto: 'tcp' }), 'TCP-LISTEN:8080,pf=ip6,bind=[::],ipv6only=0,reuseaddr,fork', inner('-t 3600', 'TCP:127.0.0.1:80')],
    [spec({ proto: 'tcp4', parentIP: '0.0.0.0' }), 'TCP-LISTEN:8080,pf=ip4,bind=0.0.0.0,reuseaddr,fork', inner('-t 3600', 'TCP:127.0.0.1:80')],
    [spec({ proto: 'tcp6', parentIP: '::' }), 'TCP-LISTEN:8080,pf=ip6,bind=[::],ipv6only=1,reuseaddr,fork', inner('-t 3600', 'TCP:127.0.0.1:80')],
    [spec({ proto: 'tcp', parentIP: '127.0.0.1', childIP: '::1' }), 'TCP-LISTEN:8080,pf=ip4,bind=127.0.0.1,reuseaddr,fork', inner('-t 3600', 'TCP:[::1]:80')],
    [spec({ proto: 'udp4', parentIP: '127.0.0.1', childIP: '10.0.2.100' }), 'UDP-LISTEN:8080,pf=ip4,bind=127.0.0.1,reuseaddr,fork', inner('-T 90', 'UDP:10.0.2.100:80')],
    [spec({ proto: 'udp6', parentIP: '::1' }), 'UDP-LISTEN:8080,pf=ip6,bind=[::1],ipv6only=1,reuseaddr,fork', inner('-T 90', 'UDP:127.0.0.1:80')],
  ];
  for (const [given, listen, exec] of cases) {
    it(`${given.proto} ${given.parentIP ?? '(no parent IP)'} -> ${given.childIP ?? '(no child IP)'}`, () => {
      assert.deepEqual(socatArgv(given, NS), [...PDEATHSIG, 'socat', listen, exec]);
    });
  }

  it('refuses namespace paths that socat would split or parse', () => {
    assert.throws(() => socatArgv(spec({ proto: 'tcp' }), { ...NS, netns: '/proc/42/root/my state/netns' }), UserError);
    assert.throws(() => socatArgv(spec({ proto: 'tcp' }), { ...NS, netns: '/proc/42/root/a:b/netns' }), UserError);
  });
});

describe('slirp4netns add_hostfwd arguments', () => {
  it('default to 0.0.0.0 and the network\'s child address, proto without its family', () => {
    assert.deepEqual(hostFwd(spec({ proto: 'tcp4' }), '10.0.2.100'), {
      proto: 'tcp', host_addr: '0.0.0.0', host_port: 8080, guest_addr: '10.0.2.100', guest_port: 80,
    });
    assert.deepEqual(hostFwd(spec({ proto: 'udp', parentIP: '127.0.0.1', childIP: '10.0.2.5' }), '10.0.2.100'), {
      proto: 'udp', host_addr: '127.0.0.1', host_port: 8080, guest_addr: '10.0.2.5', guest_port: 80,
    });
    // An IPv4-mapped child IP is the IPv4 address it holds, as RootlessKit's driver sends it.
    assert.equal(hostFwd(spec({ proto: 'tcp', childIP: '::ffff:10.0.2.5' }), '10.0.2.100').guest_addr, '10.0.2.5');
  });

  const refused: Array<[PortSpec, RegExp]> = [
    [spec({ proto: 'tcp6' }), /^proto tcp6 is not supported by the slirp4netns driver \(supported: tcp, tcp4, udp, udp4; slirp4netns forwards IPv4 only\)$/],
    [spec({ proto: 'udp6' }), /proto udp6 is not supported/],
    [spec({ proto: 'sctp' }), /proto sctp is not supported/],
    [spec({ proto: 'tcp', parentIP: '::' }), /^parent IP :: is not IPv4/],
    [spec({ proto: 'tcp', childIP: '::1' }), /^child IP ::1 is not IPv4/],
    [spec({ proto: 'tcp', childIP: '127.0.0.1' }), /^child IP 127\.0\.0\.1 is a loopback address, which the slirp4netns driver cannot reach/],
    [spec({ proto: 'udp4', childIP: '127.1.2.3' }), /^child IP 127\.1\.2\.3 is a loopback address/],
  ];
  for (const [given, message] of refused) {
    it(`refuses ${JSON.stringify(given)}`, () => {
      assert.throws(() => hostFwd(given, '10.0.2.100'), (err: unknown) => err instanceof UserError && message.test(err.message));
    });
  }
});

describe('network arguments of a port driver', () => {
  it('implicit turns pasta\'s automatic forwarding on; the others add nothing', () => {
    const options = (portDriver: LaunchOptions['portDriver']) => ({ portDriver }) as LaunchOptions;
    assert.deepEqual(networkArgsFor(options('implicit')), ['--tcp-ports', 'auto', '--udp-ports', 'auto', '--tcp-ns', 'auto']);
    for (const driver of ['none', 'builtin', 'slirp4netns', 'socat'] as const) assert.deepEqual(networkArgsFor(options(driver)), []);
  });
});

describe('no port driver', () => {
  it('none and implicit give none, as RootlessKit v2 (its nil port driver): info then has no portDriver', () => {
    for (const portDriver of ['none', 'implicit'] as const) {
      assert.equal(createPortDriver({ options: { portDriver } } as PortDriverContext), null, portDriver);
    }
  });

  it('the ports routes then say why, and name the drivers that publish on the network', () => {
    assert.equal(
      noPortsMessage({ portDriver: 'none', net: 'slirp4netns' }),
      'no port driver is available: nsgate was started with --port-driver=none; start it with --port-driver=builtin, --port-driver=slirp4netns, --port-driver=socat or --port-driver=bypass to publish ports one by one',
    );
    assert.equal(
      noPortsMessage({ portDriver: 'implicit', net: 'pasta' }),
      "no port driver is available: nsgate was started with --port-driver=implicit, where ports are implicit: pasta forwards every port bound in the namespace by itself (a server listening on port N inside is reachable on the host's port N); start it with --port-driver=builtin, --port-driver=socat or --port-driver=bypass to publish ports one by one",
    );
    assert.match(noPortsMessage({ portDriver: 'none', net: 'host' }), /start it with --port-driver=builtin, --port-driver=slirp4netns, --port-driver=socat or --port-driver=bypass to publish/);
  });
});

describe('the driver registry', () => {
  it('lists each driver once, in --help order, with descriptors that agree with themselves', () => {
    assert.deepEqual(PORT_DRIVERS, ['none', 'builtin', 'slirp4netns', 'socat', 'implicit', 'bypass']);
    for (const d of PORT_DRIVER_DESCRIPTORS) {
      const descriptor: PortDriverDescriptor = d;
      assert.ok(descriptor.networks.every((net) => (NET_DRIVERS as readonly string[]).includes(net)), `${d.name}: known networks`);
      assert.ok(descriptor.protos.every((proto) => (PROTOS as readonly string[]).includes(proto)), `${d.name}: known protos`);
      // A driver publishes exactly when it has a parent half, and then names its protos.
      assert.equal(descriptor.publishes, descriptor.parent !== undefined, `${d.name}: publishes iff it has a parent half`);
      assert.equal(descriptor.publishes, descriptor.protos.length > 0, `${d.name}: publishes iff it has protos`);
      assert.equal(descriptor.launch.insideRunsIn !== undefined, descriptor.inside !== undefined, `${d.name}: an inside half says where it runs`);
    }
  });
});
