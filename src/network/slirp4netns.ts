import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { UserError, errorMessage } from '../errors.js';
import type { AutoBool } from '../options.js';
import { networkAddresses } from './addresses.js';
import type { NetworkContext, NetworkDriver } from './driver.js';
import { namespacePaths } from './namespace-paths.js';
import { assertTunUsable, findHelper, startHelper, when } from './helper.js';

const READY_FD = 3;
const EXIT_FD = 4;

/** slirp4netns' API socket (`add_hostfwd`...), which the slirp4netns port driver talks to. */
export function slirp4netnsApiSocket(stateDir: string): string {
  return join(stateDir, 'slirp4netns.sock');
}

/**
 * slirp4netns against the namespace process' PID: it creates and configures the tap itself (`--configure`),
 * writes to the ready fd once it is up, and exits when the exit fd (whose other end only we hold) is closed,
 * so it also goes away if we die.
 */
export function slirp4netnsDriver(extraArgs: string[]): NetworkDriver {
  return {
    async start(ctx) {
      const { options } = ctx;
      const binary = await findHelper(options.slirp4netnsBinary, 'slirp4netns', '--slirp4netns-binary');
      await assertTunUsable('slirp4netns');
      const addresses = networkAddresses(options.cidr);
      // The sandbox (pivot_root into an empty root) cannot reach a detached netns' path: RootlessKit turns it off there too.
      const sandboxWanted = options.detachNetns && options.slirp4netnsSandbox === 'auto' ? 'false' : options.slirp4netnsSandbox;
      const { sandbox, seccomp } = await hardening(binary, sandboxWanted, options.slirp4netnsSeccomp);
      const apiSocket = slirp4netnsApiSocket(ctx.stateDir);
      return startHelper(ctx, {
        name: 'slirp4netns',
        argv: [
          binary,
          '--configure',
          `--mtu=${options.mtu}`,
          `--cidr=${addresses.network}/${addresses.prefix}`,
          ...when(options.disableHostLoopback, '--disable-host-loopback'),
          ...when(options.ipv6, '--enable-ipv6'),
          ...when(sandbox, '--enable-sandbox'),
          ...when(seccomp, '--enable-seccomp'),
          '--api-socket',
          apiSocket,
          `--ready-fd=${READY_FD}`,
          `--exit-fd=${EXIT_FD}`,
          ...extraArgs,
          ...target(ctx),
          options.ifname,
        ],
        extraPipes: 2,
        addresses,
        waitReady: (proc) => new Promise((resolve) => (proc.stdio[READY_FD] as Readable).once('data', () => resolve())),
        requestExit: (proc) => proc.stdio[EXIT_FD]?.destroy(),
        files: [apiSocket],
      });
    },
  };
}

/** The namespace process by pid; a detached netns by path (the sandbox, which breaks paths, is off then). */
function target(ctx: NetworkContext): string[] {
  if (!ctx.detachedNetns) return [String(ctx.childPid)];
  const { netns, userns } = namespacePaths(ctx);
  return ['--netns-type=path', `--userns-path=${userns}`, netns];
}

/**
 * Whether to pass --enable-sandbox / --enable-seccomp. `auto` decides as RootlessKit does:
 * the flag is in `slirp4netns --help` (and, for seccomp, the kernel has seccomp filters).
 */
async function hardening(
  binary: string,
  sandbox: AutoBool,
  seccomp: AutoBool,
): Promise<{ sandbox: boolean; seccomp: boolean }> {
  if (sandbox === 'false' && seccomp === 'false') return { sandbox: false, seccomp: false };
  const help = await helpText(binary);
  const flagGap = (flag: string): string | undefined =>
    help.includes(flag) ? undefined : `${binary} has no ${flag} (slirp4netns 0.4.0 or later has it)`;
  const seccompGap = flagGap('--enable-seccomp') ?? kernelSeccompGap();
  return {
    sandbox: decide(sandbox, flagGap('--enable-sandbox'), '--slirp4netns-sandbox'),
    seccomp: decide(seccomp, seccompGap, '--slirp4netns-seccomp'),
  };
}

async function helpText(binary: string): Promise<string> {
  try {
    return (await promisify(execFile)(binary, ['--help'])).stdout;
  } catch (err) {
    throw new UserError(`"${binary} --help" failed, is it slirp4netns 0.4.0 or later? ${errorMessage(err)}`);
  }
}

/** This file exists when the kernel has CONFIG_SECCOMP_FILTER (Linux 4.14+), which --enable-seccomp needs. */
function kernelSeccompGap(): string | undefined {
  return existsSync('/proc/sys/kernel/seccomp/actions_avail') ? undefined : 'the kernel has no seccomp filter support';
}

function decide(setting: AutoBool, gap: string | undefined, flag: string): boolean {
  if (setting === 'auto') return gap === undefined;
  if (setting === 'true' && gap !== undefined) {
    throw new UserError(`${flag}=true cannot be honoured: ${gap}; use ${flag}=auto or ${flag}=false`);
  }
  return setting === 'true';
}
