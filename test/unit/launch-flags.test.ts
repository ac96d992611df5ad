import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { parseLaunchArgs } from '../../src/cli/launch-flags.js';
import { UserError } from '../../src/errors.js';
import type { LaunchOptions } from '../../src/options.js';
import { ROOTLESSKIT_VERSION, VERSION } from '../../src/version.js';

const NSGATE = fileURLToPath(new URL('../../src/cli/nsgate.js', import.meta.url));

/** The options of a `run` command; fails the test on help or version. */
function run(...argv: string[]): LaunchOptions {
  const cmd = parseLaunchArgs(argv, {});
  assert.equal(cmd.kind, 'run');
  return cmd.options;
}

function rejects(argv: string[], message: RegExp): void {
  assert.throws(() => parseLaunchArgs(argv, {}), (err: unknown) => err instanceof UserError && message.test(err.message));
}

const NETNS = ['--net=slirp4netns'];
const BUILTIN = [...NETNS, '--port-driver=builtin'];

describe('parseLaunchArgs defaults', () => {
  it('gives RootlessKit defaults when only COMMAND is given', () => {
    assert.deepEqual(run('sh'), {
      stateDir: undefined,
      net: 'host',
      mtu: 1500,
      cidr: '10.0.2.0/24',
      ifname: 'tap0',
      disableHostLoopback: false,
      ipv6: false,
      copyUp: [],
      propagation: 'rprivate',
      pidns: false,
      cgroupns: false,
      utsns: false,
      ipcns: false,
      reaper: 'auto',
      evacuateCgroup2: undefined,
      detachNetns: false,
      slirp4netnsBinary: 'slirp4netns',
      pastaBinary: 'pasta',
      slirp4netnsSandbox: 'auto',
      slirp4netnsSeccomp: 'auto',
      sourceIpTransparent: true,
      bypassOutgoing: true,
      bypassIgnore: [],
      subidSource: 'auto',
      portDriver: 'none',
      publish: [],
      reversePublish: [],
      debug: false,
      command: ['sh'],
    });
  });
});

describe('value flags, as --flag=value and --flag value', () => {
  const cases: Array<{ flag: string; value: string; field: keyof LaunchOptions; expected: unknown; extra?: string[] }> = [
    { flag: 'state-dir', value: '/run/user/1000/ns', field: 'stateDir', expected: '/run/user/1000/ns' },
    { flag: 'net', value: 'none', field: 'net', expected: 'none' },
    { flag: 'net', value: 'slirp4netns', field: 'net', expected: 'slirp4netns' },
    { flag: 'net', value: 'pasta', field: 'net', expected: 'pasta' },
    { flag: 'mtu', value: '9000', field: 'mtu', expected: 9000 },
    { flag: 'cidr', value: '10.0.3.0/24', field: 'cidr', expected: '10.0.3.0/24', extra: NETNS },
    { flag: 'ifname', value: 'eth0', field: 'ifname', expected: 'eth0', extra: ['--net=pasta'] },
    { flag: 'copy-up', value: '/etc', field: 'copyUp', expected: ['/etc'] },
    { flag: 'propagation', value: 'rslave', field: 'propagation', expected: 'rslave' },
    { flag: 'reaper', value: 'false', field: 'reaper', expected: 'false' },
    { flag: 'reaper', value: 'true', field: 'reaper', expected: 'true', extra: ['--pidns'] },
    { flag: 'evacuate-cgroup2', value: 'rootlesskit_evacuation', field: 'evacuateCgroup2', expected: 'rootlesskit_evacuation', extra: ['--pidns', '--cgroupns'] },
    { flag: 'slirp4netns-binary', value: '/opt/bin/slirp4netns', field: 'slirp4netnsBinary', expected: '/opt/bin/slirp4netns' },
    { flag: 'pasta-binary', value: '/opt/bin/pasta', field: 'pastaBinary', expected: '/opt/bin/pasta' },
    { flag: 'slirp4netns-sandbox', value: 'true', field: 'slirp4netnsSandbox', expected: 'true' },
    { flag: 'slirp4netns-seccomp', value: 'false', field: 'slirp4netnsSeccomp', expected: 'false' },
    { flag: 'subid-source', value: 'dynamic', field: 'subidSource', expected: 'dynamic' },
    { flag: 'subid-source', value: 'static', field: 'subidSource', expected: 'static' },
    { flag: 'port-driver', value: 'builtin', field: 'portDriver', expected: 'builtin', extra: NETNS },
    {
      flag: 'publish',
      value: '127.0.0.1:8080:80/tcp',
      field: 'publish',
      expected: [{ proto: 'tcp', parentIP: '127.0.0.1', parentPort: 8080, childPort: 80 }],
      extra: BUILTIN,
    },
  ];
  for (const { flag, value, field, expected, extra = [] } of cases) {
    it(`--${flag} ${value}`, () => {
      assert.deepEqual(run(...extra, `--${flag}=${value}`, 'sh')[field], expected);
      assert.deepEqual(run(...extra, `--${flag}`, value, 'sh')[field], expected);
    });
  }

  it('--copy-up-mode tmpfs+symlink, the only mode, is accepted (and needs no field)', () => {
    assert.equal(run('--copy-up-mode=tmpfs+symlink', 'sh').net, 'host');
    assert.equal(run('--copy-up-mode', 'tmpfs+symlink', 'sh').net, 'host');
  });

  it('-p SPEC and -p=SPEC, like --publish', () => {
    const expected = [{ proto: 'udp', parentPort: 5353, childPort: 53 }];
    assert.deepEqual(run(...BUILTIN, '-p', ':5353:53/udp', 'sh').publish, expected);
    assert.deepEqual(run(...BUILTIN, '-p=:5353:53/udp', 'sh').publish, expected);
  });

  it('takes a single dash for a long name, as Go flags do', () => {
    assert.equal(run('-net=none', 'sh').net, 'none');
    assert.equal(run('-pidns', 'sh').pidns, true);
  });

  it('keeps the last value of a flag given twice', () => {
    assert.equal(run('--net=none', '--net=pasta', 'sh').net, 'pasta');
  });

  it('keeps "=" inside the value', () => {
    assert.equal(run('--state-dir=/tmp/a=b', 'sh').stateDir, '/tmp/a=b');
  });

  it('makes a relative --state-dir absolute', () => {
    assert.equal(run('--state-dir=state', 'sh').stateDir, resolve('state'));
  });
});

describe('boolean flags', () => {
  const cases: Array<[string, keyof LaunchOptions]> = [
    ['disable-host-loopback', 'disableHostLoopback'],
    ['ipv6', 'ipv6'],
    ['pidns', 'pidns'],
    ['cgroupns', 'cgroupns'],
    ['utsns', 'utsns'],
    ['ipcns', 'ipcns'],
    ['detach-netns', 'detachNetns'],
    ['debug', 'debug'],
  ];
  for (const [flag, field] of cases) {
    it(`--${flag}, --${flag}=true, --${flag}=false`, () => {
      assert.equal(run(...NETNS, `--${flag}`, 'sh')[field], true);
      assert.equal(run(...NETNS, `--${flag}=true`, 'sh')[field], true);
      assert.equal(run(...NETNS, `--${flag}=false`, 'sh')[field], false);
    });
  }

  it('never takes the next argument as its value', () => {
    assert.deepEqual(run('--pidns', 'true').command, ['true']);
  });
});

describe('repeatable flags', () => {
  it('collects --copy-up in order, normalized, without duplicates', () => {
    assert.deepEqual(run('--copy-up=/etc/', '--copy-up', '/run', '--copy-up=//etc', '--copy-up=/var/lib/../lib', 'sh').copyUp, [
      '/etc',
      '/run',
      '/var/lib',
    ]);
  });

  it('splits a value at commas and trims white space off each item, as RootlessKit (urfave/cli) does', () => {
    assert.deepEqual(run(...BUILTIN, '-p', ' 127.0.0.1:8080:80/tcp ,\t[::1]:8443:443/tcp6\n', 'sh').publish, [
      { proto: 'tcp', parentIP: '127.0.0.1', parentPort: 8080, childPort: 80 },
      { proto: 'tcp6', parentIP: '::1', parentPort: 8443, childPort: 443 },
    ]);
    assert.deepEqual(run('--copy-up=/etc, /run', 'sh').copyUp, ['/etc', '/run']);
    // Go's strings.TrimSpace: U+0085 and U+00A0 are white space, U+FEFF is not.
    assert.deepEqual(run(...BUILTIN, '-p', '\u0085:8080:80/tcp\u00a0', 'sh').publish, [{ proto: 'tcp', parentPort: 8080, childPort: 80 }]);
    rejects([...BUILTIN, '-p', '\ufeff:8080:80/tcp', 'sh'], /parent IP "\ufeff" is not an IP address/);
    rejects([...BUILTIN, '-p', ':8080:80/tcp,', 'sh'], /--publish needs a non-empty value/);
  });

  it('collects every --publish', () => {
    assert.deepEqual(run(...BUILTIN, '-p', ':8080:80/tcp', '--publish=[::1]:8443:443/tcp6', 'sh').publish, [
      { proto: 'tcp', parentPort: 8080, childPort: 80 },
      { proto: 'tcp6', parentIP: '::1', parentPort: 8443, childPort: 443 },
    ]);
  });
});

describe('COMMAND', () => {
  const cases: Array<[string[], string[]]> = [
    [['--net=none', 'sh', '-c', 'echo --net'], ['sh', '-c', 'echo --net']],
    [['--pidns', 'ls', '--pidns', '-p'], ['ls', '--pidns', '-p']],
    [['--net', 'none', '--', '--not-a-flag', 'x'], ['--not-a-flag', 'x']],
    [['--', 'sh'], ['sh']],
    [['-', 'x'], ['-', 'x']],
    [['sh', '--', 'x'], ['sh', '--', 'x']],
  ];
  for (const [argv, command] of cases) {
    it(JSON.stringify(argv), () => assert.deepEqual(run(...argv).command, command));
  }

  it('is required', () => {
    rejects([], /no command specified.*nsgate \[flags\] COMMAND \[ARGS\.\.\.\]/);
    rejects(['--net=none'], /no command specified/);
    rejects(['--pidns', '--'], /no command specified/);
  });
});

describe('--help and --version', () => {
  it('win without COMMAND, in any of their forms', () => {
    for (const argv of [['--help'], ['-h'], ['--pidns', '--help'], ['-help']]) {
      assert.equal(parseLaunchArgs(argv).kind, 'help', argv.join(' '));
    }
    for (const argv of [['--version'], ['-v'], ['--net=none', '--version', 'sh']]) {
      assert.deepEqual(parseLaunchArgs(argv), { kind: 'version' }, argv.join(' '));
    }
  });

  it('win over a bad value but not over an unknown flag', () => {
    assert.equal(parseLaunchArgs(['--net=vpnkit', '--help']).kind, 'help');
    rejects(['--bogus', '--help'], /unknown flag --bogus/);
  });

  it('belong to COMMAND after it, and =false turns them off', () => {
    assert.deepEqual(run('sh', '--help').command, ['sh', '--help']);
    assert.deepEqual(run('--help=false', 'sh').command, ['sh']);
  });

  it('prints the usage and one line per flag with its default', () => {
    const cmd = parseLaunchArgs(['--help']);
    assert.equal(cmd.kind, 'help');
    const text = cmd.kind === 'help' ? cmd.text : '';
    assert.match(text, /^Usage: nsgate \[flags\] COMMAND \[ARGS\.\.\.\]\n/);
    assert.match(text, /\n {4}--net value +network driver \[host, none, slirp4netns, pasta\] \(default: "host"\)\n/);
    assert.match(text, /\n {4}--publish value, -p value +publish ports\. .*\(repeatable; a comma separates several in one\) \(nsgate adds: ranges of as many ports, [^\n]*\)\n/);
    assert.match(text, /\n {4}--reverse-publish value +builtin driver: listen inside the namespace .*\(nsgate adds: the flag\)\n/);
    assert.match(text, /\n {4}--print-semver value +print a component of the RootlessKit version nsgate stands in for \(2\.3\.4\) as a decimal integer \[major, minor, patch\]\n/);
    assert.match(text, /\n {4}--pidns +create a PID namespace \(default: false\)\n/);
    // nsgate's additions to RootlessKit v2.3.4's flags are marked; the rest is RootlessKit's.
    assert.match(text, /\n {4}--port-driver value +.*\(default: "none"\) \(nsgate adds: socat \(RootlessKit v1 had it; v2 has not\), bypass\)\n/);
    assert.match(text, /\n {4}--source-ip-transparent +.*\(default: true\) \(nsgate adds: the flag, as RootlessKit v3 has it\)\n/);
    assert.match(text, /\n {4}--bypass-outgoing +bypass driver: .*\(default: true\) \(nsgate adds: the flag\)\n/);
    assert.match(text, /\n {4}--bypass-ignore value +bypass driver: .*\(repeatable; a comma separates several in one\) \(nsgate adds: the flag\)\n/);
    assert.equal(text.match(/\(nsgate adds: /g)?.length, 6, 'no other flag marked than these six');
    assert.match(text, /^Options \(grouped as RootlessKit 2\.3\.4 groups them; "nsgate adds:" marks what it does not have\):$/m);
    assert.match(text, /\n {4}--mtu value +.*\(default: 0\)\n/);
    const names = [
      'state-dir', 'net', 'mtu', 'cidr', 'ifname', 'disable-host-loopback', 'ipv6', 'copy-up', 'copy-up-mode', 'propagation',
      'pidns', 'cgroupns', 'utsns', 'ipcns', 'reaper', 'detach-netns', 'slirp4netns-binary', 'pasta-binary',
      'slirp4netns-sandbox', 'slirp4netns-seccomp', 'subid-source', 'port-driver', 'publish', 'debug', 'version', 'help',
      'print-semver', 'evacuate-cgroup2', 'vpnkit-binary', 'lxc-user-nic-binary', 'lxc-user-nic-bridge', 'source-ip-transparent',
      'bypass-outgoing', 'bypass-ignore',
    ];
    for (const name of names) assert.match(text, new RegExp(`\\n {4}--${name}[ ,]`), name);
  });
});

describe('--print-semver', () => {
  it('prints a component of RootlessKit 2.3.4, which nsgate stands in for, in any form, before needing COMMAND', () => {
    for (const [component, value] of [['major', 2], ['minor', 3], ['patch', 4]] as const) {
      assert.deepEqual(parseLaunchArgs([`--print-semver=${component}`]), { kind: 'semver', component: value });
      assert.deepEqual(parseLaunchArgs(['--print-semver', component, 'sh']), { kind: 'semver', component: value });
    }
    assert.deepEqual(parseLaunchArgs(['--net=bogus', '-print-semver=major']), { kind: 'semver', component: 2 });
    assert.equal(parseLaunchArgs(['--print-semver=major', '--help']).kind, 'help');
  });

  it('refuses another component, even without COMMAND (RootlessKit: expected --print-semver=(major|minor|patch), got "foo")', () => {
    rejects(['--print-semver=foo'], /^invalid value "foo" for --print-semver: allowed values are major, minor, patch$/);
    rejects(['--print-semver=', 'sh'], /^invalid value "" for --print-semver: allowed values are major, minor, patch$/);
  });
});

describe("RootlessKit's flags for the networks nsgate does not have", () => {
  it('are accepted and ignored, as RootlessKit ignores them with another --net', () => {
    const options = run('--vpnkit-binary=/opt/vpnkit', '--lxc-user-nic-binary', '/usr/libexec/lxc/lxc-user-nic', '--lxc-user-nic-bridge=lxcbr0', 'sh');
    assert.deepEqual(options, run('sh'));
  });
});

describe('warnings, where RootlessKit warns', () => {
  const warnings = (...argv: string[]): string[] => {
    const cmd = parseLaunchArgs([...argv, 'sh']);
    assert.equal(cmd.kind, 'run');
    return cmd.kind === 'run' ? cmd.warnings : [];
  };
  const LOOPBACK = "specifying --disable-host-loopback is highly recommended: without it, processes in the namespace can connect to the host's 127.0.0.1:* through 10.0.2.2";

  it('without --disable-host-loopback on a slirp4netns or pasta network', () => {
    assert.deepEqual(warnings('--net=slirp4netns'), [LOOPBACK]);
    assert.deepEqual(warnings('--net=pasta', '--detach-netns'), [LOOPBACK]);
    assert.deepEqual(warnings('--net=pasta', '--cidr=10.1.0.0/16'), [LOOPBACK.replace('10.0.2.2', '10.1.0.2')]);
    for (const argv of [['--net=slirp4netns', '--disable-host-loopback'], ['--net=host'], ['--net=none'], []]) assert.deepEqual(warnings(...argv), [], argv.join(' '));
  });

  it('for --mtu and --ipv6 where there is no network of nsgate to apply them to', () => {
    assert.deepEqual(warnings('--mtu=9000'), ['--mtu has no effect with --net=host']);
    assert.deepEqual(warnings('--net=none', '--mtu=9000', '--ipv6'), ['--mtu has no effect with --net=none', '--ipv6 has no effect with --net=none']);
    assert.deepEqual(warnings('--net=none', '--mtu=0'), []);
    assert.deepEqual(warnings('--net=slirp4netns', '--disable-host-loopback', '--mtu=9000', '--ipv6'), []);
  });
});

describe('errors name the flag and what is allowed', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--nett=none', 'sh'], /unknown flag --nett: did you mean --net\?/],
    [['--pidn', 'sh'], /unknown flag --pidn: did you mean --pidns\?/],
    [['--copyup=/etc', 'sh'], /unknown flag --copyup: did you mean --copy-up\?/],
    [['--vpnkit-binry=vpnkit', 'sh'], /unknown flag --vpnkit-binry: did you mean --vpnkit-binary\?/],
    [['--frobnicate', 'sh'], /^unknown flag --frobnicate \(see nsgate --help\)$/],
    [['-x', 'sh'], /^unknown flag -x \(see nsgate --help\)$/],
    [['--net=vpnkit', 'sh'], /^--net=vpnkit is not supported: nsgate has no VPNKit network driver \(slirp4netns and pasta give the same kind of user-mode network\); allowed values are host, none, slirp4netns, pasta$/],
    [['--net=lxc-user-nic', 'sh'], /^--net=lxc-user-nic is not supported: nsgate has no lxc-user-nic network driver \(it needs the setuid lxc-user-nic helper and a host bridge\); allowed values are host, none, slirp4netns, pasta$/],
    [['--net=gvisor-tap-vsock', 'sh'], /^--net=gvisor-tap-vsock is not supported: nsgate has no gvisor-tap-vsock network driver \(RootlessKit v3 has one; .*\); allowed values are host, none, slirp4netns, pasta$/],
    [['--net=', 'sh'], /invalid value "" for --net: allowed values are host, none, slirp4netns, pasta$/],
    [['--propagation=shared', 'sh'], /invalid value "shared" for --propagation: allowed values are rprivate, rslave, rshared$/],
    [['--propagation=rshared', '--copy-up=/etc', 'sh'], /--copy-up cannot be used with --propagation=rshared: .* use --propagation=rslave or rprivate$/],
    [['--copy-up-mode=overlay', 'sh'], /invalid value "overlay" for --copy-up-mode: allowed values are tmpfs\+symlink$/],
    [['--reaper=yes', 'sh'], /invalid value "yes" for --reaper: allowed values are auto, true, false$/],
    [['--slirp4netns-sandbox=on', 'sh'], /invalid value "on" for --slirp4netns-sandbox: allowed values are auto, true, false$/],
    [['--slirp4netns-seccomp=1', 'sh'], /invalid value "1" for --slirp4netns-seccomp: allowed values are auto, true, false$/],
    [['--subid-source=ldap', 'sh'], /invalid value "ldap" for --subid-source: allowed values are auto, dynamic, static$/],
    [['--port-driver=vpnkit', 'sh'], /invalid value "vpnkit" for --port-driver: allowed values are none, builtin, slirp4netns, socat, implicit, bypass$/],
    [['--pidns=yes', 'sh'], /invalid value "yes" for --pidns: allowed values are true, false$/],
    [['--state-dir'], /--state-dir needs a value/],
    [['--net=none', '-p'], /--publish needs a value/],
    [['--state-dir=', 'sh'], /--state-dir needs a non-empty value/],
    [['--pasta-binary=', 'sh'], /--pasta-binary needs a non-empty value/],
    [['--mtu=big', 'sh'], /--mtu expects an integer, got "big"/],
    [['--mtu=67', 'sh'], /--mtu must be 0 \(auto\) or 68-65520, got 67/],
    [['--mtu=65521', 'sh'], /--mtu must be 0 \(auto\) or 68-65520, got 65521/],
    [['--mtu=-1', 'sh'], /--mtu must be 0 \(auto\) or 68-65520, got -1/],
    [['--copy-up=etc', 'sh'], /--copy-up etc: must be an absolute path/],
    [['--copy-up=/', 'sh'], /--copy-up \/: the root directory cannot be copied up/],
    [['--copy-up=/tmp/', 'sh'], /--copy-up \/tmp\/: \/tmp cannot be copied up/],
    [[...BUILTIN, '-p', '8080:80', 'sh'], /^--publish: invalid port spec "8080:80": missing "\/<proto>"/],
    [['-p', ':8080:80/tcp', 'sh'], /--publish needs a port driver: add --port-driver=builtin/],
    [['--net=host', '--port-driver=builtin', 'sh'], /--port-driver=builtin needs a network namespace: use --net=none, slirp4netns or pasta/],
    [['--port-driver=builtin', 'sh'], /--port-driver=builtin needs a network namespace/],
    [['--detach-netns', 'sh'], /--detach-netns needs a network namespace: use --net=none, slirp4netns or pasta/],
    [['--reaper=true', 'sh'], /--reaper=true requires --pidns/],
    [['--evacuate-cgroup2=evac', 'sh'], /^--evacuate-cgroup2 requires --cgroupns \(and --pidns\)$/],
    [['--evacuate-cgroup2=evac', '--pidns', 'sh'], /^--evacuate-cgroup2 requires --cgroupns/],
    [['--evacuate-cgroup2=evac', '--cgroupns', 'sh'], /^--evacuate-cgroup2 requires --pidns$/],
    [['--evacuate-cgroup2=a/b', '--pidns', '--cgroupns', 'sh'], /^--evacuate-cgroup2 "a\/b": expected the name of a new cgroup, without "\/" \(e\.g\. rootlesskit_evacuation\), not "\." or "\.\."$/],
    [['--evacuate-cgroup2=..', '--pidns', '--cgroupns', 'sh'], /^--evacuate-cgroup2 "\.\.": expected the name of a new cgroup/],
    [['--evacuate-cgroup2=', '--pidns', '--cgroupns', 'sh'], /--evacuate-cgroup2 needs a non-empty value/],
    [['--cidr=10.0.3.0/24', 'sh'], /^--cidr cannot be used with --net=host: it applies to the slirp4netns and pasta networks$/],
    [['--net=none', '--ifname=eth0', 'sh'], /^--ifname cannot be used with --net=none: it applies to the slirp4netns and pasta networks$/],
  ];
  for (const [argv, message] of cases) {
    it(argv.join(' '), () => rejects(argv, message));
  }
});

describe('--mtu', () => {
  const cases: Array<[string[], number]> = [
    [[], 1500],
    [['--net=host'], 1500],
    [['--net=none'], 1500],
    [['--net=slirp4netns'], 65520],
    [['--net=pasta'], 65520],
    [['--net=pasta', '--mtu=0'], 65520],
    [['--net=none', '--mtu=0'], 1500],
    [['--net=slirp4netns', '--mtu=1500'], 1500],
    [['--net=none', '--mtu=68'], 68],
    [['--net=none', '--mtu=65520'], 65520],
    [['--net=host', '--mtu=9000'], 9000],
  ];
  for (const [argv, mtu] of cases) {
    it(`${argv.join(' ') || '(none)'} -> ${mtu}`, () => assert.equal(run(...argv, 'sh').mtu, mtu));
  }
});

describe('--cidr', () => {
  it('accepts IPv4 networks with prefix 8 to 25', () => {
    for (const cidr of ['10.0.2.0/24', '10.0.0.0/8', '192.168.7.128/25', '172.16.0.0/12']) {
      assert.equal(run(...NETNS, `--cidr=${cidr}`, 'sh').cidr, cidr);
    }
  });

  it('normalizes the prefix length', () => {
    assert.equal(run(...NETNS, '--cidr=10.0.2.0/024', 'sh').cidr, '10.0.2.0/24');
  });

  const cases: Array<[string, RegExp]> = [
    ['10.0.2.5/24', /host bits are set \(the network is 10\.0\.2\.0\/24\)/],
    ['192.168.7.100/25', /host bits are set \(the network is 192\.168\.7\.0\/25\)/],
    ['10.0.2.0/26', /prefix length must be 8-25.*got \/26/],
    ['10.0.0.0/7', /prefix length must be 8-25.*got \/7/],
    ['300.1.1.0/24', /"300\.1\.1\.0" is not an IPv4 address/],
    ['010.0.2.0/24', /"010\.0\.2\.0" is not an IPv4 address/],
    ['::/64', /IPv6 networks are not supported/],
    ['10.0.2.0', /prefix length after "\/" is missing/],
    ['10.0.2.0/x', /prefix length after "\/" is missing or not a number/],
    ['10.0.2.0/24/1', /prefix length after "\/" is missing or not a number/],
  ];
  for (const [cidr, problem] of cases) {
    it(`rejects ${cidr}`, () => {
      const expected = `^--cidr ${escapeRegExp(cidr)}: .*${problem.source}.*; expected an IPv4 network like 10\\.0\\.2\\.0/24$`;
      rejects([`--cidr=${cidr}`, 'sh'], new RegExp(expected));
    });
  }
});

describe('--ifname', () => {
  it('accepts 1 to 15 characters', () => {
    for (const name of ['e', 'eth0', 'a-very-long-n15']) assert.equal(run(...NETNS, `--ifname=${name}`, 'sh').ifname, name);
  });

  for (const name of ['a-very-long-n16x', 'tap/0', 'tap:0', 'tap 0', '..']) {
    it(`rejects ${JSON.stringify(name)}`, () => {
      rejects([`--ifname=${name}`, 'sh'], /--ifname ".*" is not a valid interface name: 1-15 characters, no "\/", ":" or whitespace/);
    });
  }
});

describe('--bypass-outgoing and --bypass-ignore', () => {
  const BYPASS = [...NETNS, '--port-driver=bypass'];

  it('bypass outgoing connects by default; =false turns it off', () => {
    assert.equal(run(...BYPASS, 'sh').bypassOutgoing, true);
    assert.equal(run(...BYPASS, '--bypass-outgoing=false', 'sh').bypassOutgoing, false);
  });

  it('--bypass-ignore repeats, takes commas, networks and single addresses of both families', () => {
    const options = run(...BYPASS, '--bypass-ignore=192.0.2.0/24,2001:db8::/32', '--bypass-ignore', '203.0.113.7', 'sh');
    assert.deepEqual(options.bypassIgnore, ['192.0.2.0/24', '2001:db8::/32', '203.0.113.7']);
  });

  for (const [value, why] of [
    ['example.com', /"example\.com" is not an IP address or network \(expected e\.g\. 192\.0\.2\.0\/24, 2001:db8::\/32 or 192\.0\.2\.7\)/],
    ['192.0.2.0/33', /"192\.0\.2\.0\/33": the prefix length must be 0-32, got "33"/],
    ['2001:db8::/129', /"2001:db8::\/129": the prefix length must be 0-128, got "129"/],
    ['192.0.2.0/x', /"192\.0\.2\.0\/x": the prefix length must be 0-32, got "x"/],
    ['192.0.2.0/24/8', /"192\.0\.2\.0\/24\/8" is not an IP address or network/],
  ] as const) {
    it(`rejects ${value}`, () => rejects([...BYPASS, `--bypass-ignore=${value}`, 'sh'], new RegExp(`^--bypass-ignore ${why.source}`)));
  }

  it('are refused with another port driver, naming it', () => {
    rejects([...BUILTIN, '--bypass-outgoing=false', 'sh'], /--bypass-outgoing applies to --port-driver=bypass only, not --port-driver=builtin/);
    rejects([...NETNS, '--bypass-ignore=192.0.2.0/24', 'sh'], /--bypass-ignore applies to --port-driver=bypass only, not --port-driver=none/);
  });
});

describe('cross-flag rules', () => {
  it('accepts --disable-host-loopback and --ipv6 with --net=host and none', () => {
    for (const net of ['host', 'none']) {
      const options = run(`--net=${net}`, '--disable-host-loopback', '--ipv6', 'sh');
      assert.equal(options.disableHostLoopback, true);
      assert.equal(options.ipv6, true);
      assert.equal(options.mtu, 1500);
    }
  });

  it('accepts a port driver with every network namespace', () => {
    for (const net of ['none', 'slirp4netns', 'pasta']) {
      assert.equal(run(`--net=${net}`, '--port-driver=builtin', '-p', ':8080:80/tcp', 'sh').portDriver, 'builtin');
    }
  });
});

describe('port driver/network matrix', () => {
  const accepted: Array<[string, string[]]> = [
    ['none', ['host', 'none', 'slirp4netns', 'pasta']],
    ['builtin', ['none', 'slirp4netns', 'pasta']],
    ['slirp4netns', ['slirp4netns']],
    ['socat', ['none', 'slirp4netns', 'pasta']],
    ['implicit', ['pasta']],
    ['bypass', ['none', 'slirp4netns', 'pasta']],
  ];
  for (const [driver, nets] of accepted) {
    it(`--port-driver=${driver} runs with --net=${nets.join(', ')} and no other`, () => {
      for (const net of ['host', 'none', 'slirp4netns', 'pasta']) {
        const argv = [`--net=${net}`, `--port-driver=${driver}`, 'sh'];
        if (nets.includes(net)) assert.equal(run(...argv).portDriver, driver, net);
        else assert.throws(() => parseLaunchArgs(argv), UserError, net);
      }
    });
  }

  it('takes --publish with the drivers that publish', () => {
    for (const [net, driver] of [['slirp4netns', 'slirp4netns'], ['pasta', 'socat'], ['none', 'socat']]) {
      assert.equal(run(`--net=${net}`, `--port-driver=${driver}`, '-p', ':8080:80/tcp', 'sh').publish.length, 1);
    }
  });

  const refused: Array<[string[], RegExp]> = [
    [['--net=pasta', '--port-driver=slirp4netns'], /^--port-driver=slirp4netns works only with --net=slirp4netns, not --net=pasta: it publishes ports through slirp4netns' own API$/],
    [['--net=none', '--port-driver=slirp4netns'], /^--port-driver=slirp4netns works only with --net=slirp4netns, not --net=none/],
    [['--net=slirp4netns', '--port-driver=implicit'], /^--port-driver=implicit works only with --net=pasta, not --net=slirp4netns: pasta is what forwards the ports$/],
    [['--net=none', '--port-driver=implicit'], /^--port-driver=implicit works only with --net=pasta, not --net=none/],
    [['--port-driver=slirp4netns'], /^--port-driver=slirp4netns needs a network namespace: use --net=slirp4netns$/],
    [['--net=host', '--port-driver=implicit'], /^--port-driver=implicit needs a network namespace: use --net=pasta$/],
    [['--net=host', '--port-driver=socat'], /^--port-driver=socat needs a network namespace: use --net=none, slirp4netns or pasta$/],
    [['--net=slirp4netns', '--port-driver=bypass', '--detach-netns'], /^--port-driver=bypass cannot be used with --detach-netns: COMMAND stays in the host network namespace there, so what it binds is on the host already$/],
    [
      ['--net=pasta', '--port-driver=implicit', '-p', ':8080:80/tcp'],
      /^--publish cannot be used with --port-driver=implicit: ports are implicit: pasta forwards every port bound in the namespace by itself \(a server listening on port N inside is reachable on the host's port N\)\. Drop --publish, or choose the ports with --port-driver=builtin, --port-driver=socat or --port-driver=bypass$/,
    ],
    [['--net=slirp4netns', '-p', ':8080:80/tcp'], /^--publish needs a port driver: add --port-driver=builtin, --port-driver=slirp4netns, --port-driver=socat or --port-driver=bypass \(--port-driver=none publishes nothing\)$/],
    [['--net=pasta', '-p', ':8080:80/tcp'], /^--publish needs a port driver: add --port-driver=builtin, --port-driver=socat or --port-driver=bypass \(/],
  ];
  for (const [argv, message] of refused) {
    it(argv.join(' '), () => rejects([...argv, 'sh'], message));
  }
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

describe('the nsgate executable', () => {
  it('prints RootlessKit\'s version line first, then nsgate\'s, for --version and -v', () => {
    for (const flag of ['--version', '-v']) {
      const r = spawnSync(process.execPath, [NSGATE, flag], { encoding: 'utf8' });
      assert.deepEqual([r.status, r.stdout, r.stderr], [0, `rootlesskit version ${ROOTLESSKIT_VERSION} (nsgate ${VERSION})\n`, ''], flag);
    }
  });

  it('answers what scripts written for RootlessKit parse out of --version and --print-semver', () => {
    // `rootlesskit --version | cut -d' ' -f3` is how install scripts compare the version they expect.
    const sh = (cmd: string) => spawnSync('sh', ['-c', cmd, 'sh', process.execPath, NSGATE], { encoding: 'utf8' }).stdout;
    assert.equal(sh(`"$1" "$2" --version | cut -d' ' -f3`), `${ROOTLESSKIT_VERSION}\n`);
    assert.equal(sh(`"$1" "$2" --print-semver major`), `${ROOTLESSKIT_VERSION.split('.')[0]}\n`);
  });
});
