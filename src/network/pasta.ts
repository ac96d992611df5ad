import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { killedWithParent } from '../pdeathsig.js';
import { networkAddresses } from './addresses.js';
import type { NetworkDriver } from './driver.js';
import { namespacePaths } from './namespace-paths.js';
import { assertTunUsable, findHelper, startHelper, when } from './helper.js';

const PID_FILE_POLL_MS = 20;

/** pasta's port-forwarding flags (short, long): a flag given twice is an error, so extra args replace our default. */
const FORWARDING_FLAGS = [
  ['-t', '--tcp-ports'],
  ['-u', '--udp-ports'],
  ['-T', '--tcp-ns'],
  ['-U', '--udp-ns'],
] as const;

/**
 * pasta in the foreground, joined to the namespace process' user and network namespaces, configuring the interface
 * itself (`--config-net`). It writes its pid file only once that is done: that is the readiness signal.
 * pasta watches nothing that tells it we died, so it is killed with us (killedWithParent).
 */
export function pastaDriver(extraArgs: string[]): NetworkDriver {
  return {
    async start(ctx) {
      const { options } = ctx;
      const binary = await findHelper(options.pastaBinary, 'passt', '--pasta-binary');
      await assertTunUsable('pasta');
      const addresses = networkAddresses(options.cidr);
      const pidFile = join(ctx.stateDir, 'pasta.pid');
      await rm(pidFile, { force: true });
      return startHelper(ctx, {
        name: 'pasta',
        argv: killedWithParent([
          binary,
          '--foreground',
          ...when(!options.debug, '--quiet'),
          '--config-net',
          '--address',
          addresses.childIP,
          '--netmask',
          String(addresses.prefix),
          '--gateway',
          addresses.gateway,
          '--dns-forward',
          addresses.dns,
          '--mtu',
          String(options.mtu),
          '--ns-ifname',
          options.ifname,
          ...when(options.disableHostLoopback, '--no-map-gw'),
          ...when(!options.ipv6, '--ipv4-only'),
          ...noForwarding(extraArgs),
          ...extraArgs,
          '--pid',
          pidFile,
          '--netns',
          namespacePaths(ctx).netns,
          '--userns',
          namespacePaths(ctx).userns,
        ]),
        extraPipes: 0,
        addresses,
        waitReady: (_proc, signal) => pidFileWritten(pidFile, signal),
        requestExit: (proc) => proc.kill('SIGTERM'),
        files: [pidFile],
        // Without a syslog socket (containers, CI) pasta says so before every message it logs.
        noise: /^Failed to send \d+ bytes to syslog$/,
      });
    },
  };
}

/** `-t none -u none -T none -U none`, minus the kinds `extraArgs` sets itself. */
function noForwarding(extraArgs: string[]): string[] {
  const given = (short: string, long: string): boolean =>
    extraArgs.some((arg) => arg === short || arg === long || arg.startsWith(`${long}=`));
  return FORWARDING_FLAGS.filter(([short, long]) => !given(short, long)).flatMap(([short]) => [short, 'none']);
}

/** pasta writes its pid file once the interface is configured (newer versions create it empty earlier): wait for content. */
async function pidFileWritten(file: string, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    const content = await readFile(file, 'utf8').catch(() => '');
    if (content.trim()) return;
    await delay(PID_FILE_POLL_MS, undefined, { signal }).catch(() => undefined);
  }
}
