/**
 * `--port-driver=socat` (deprecated in RootlessKit, kept for compatibility): one socat process group per
 * published port on the host, entering the namespace process' namespaces with nsenter for each connection.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as delay } from 'node:timers/promises';
import { UserError } from '../../../errors.js';
import { stopWithGrace } from '../../../stop.js';
import { findHelper } from '../../../network/helper.js';
import type { Log } from '../../../log.js';
import { bindProbe } from '../../bind-probe.js';
import { listenAddress, listenError } from '../../listen.js';
import { holdsPortSocket } from '../../proc-sockets.js';
import { formatPortSpec } from '../../spec.js';
import type { PortDriver, PortDriverInfo, PortForward, PortSpec, Proto } from '../../types.js';
import type { NamespacePaths } from '../../../network/namespace-paths.js';
import { socatArgv } from './argv.js';
import { socat } from './descriptor.js';

const PROTOS: readonly Proto[] = socat.protos;
const LISTEN_TIMEOUT_MS = 5_000;
const LISTEN_POLL_MS = 10;
const TAIL_LINES = 5;

export class SocatDriver implements PortDriver {
  #installed: Promise<string> | undefined;

  constructor(
    private readonly namespaces: NamespacePaths,
    private readonly log: Log,
  ) {
    log.warn('--port-driver=socat is deprecated, as in RootlessKit: --port-driver=builtin is faster and needs no socat');
  }

  info(): PortDriverInfo {
    return { driver: socat.name, protos: [...PROTOS] };
  }

  async open(spec: PortSpec): Promise<PortForward> {
    if (!PROTOS.includes(spec.proto)) {
      throw new UserError(`proto ${spec.proto} is not supported by the socat driver (supported: ${PROTOS.join(', ')})`);
    }
    await (this.#installed ??= findHelper('socat', 'socat'));
    return startSocat(spec, socatArgv(spec, this.namespaces), this.log);
  }

  async stop(): Promise<void> {}
}

/**
 * Starts socat in a process group of its own and resolves once it listens. Success is read from the kernel
 * (/proc shows a listening or bound socket of socat's on the port), not from socat's log wording, and not by
 * connecting, which would reach the server inside and cannot tell for UDP. If socat exits first, the same bind
 * tried here says why. Closing the port kills the group: the listener and every connection.
 */
async function startSocat(spec: PortSpec, argv: string[], log: Log): Promise<PortForward> {
  const [command, ...args] = argv;
  const proc = spawn(command!, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  const where = formatPortSpec(spec);
  const tail: string[] = [];
  createInterface({ input: proc.stderr! }).on('line', (line) => {
    log.debug(`socat (${where}): ${line}`);
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  });
  // 'close' rather than 'exit': socat's last words are read by then.
  const exited = new Promise<void>((resolve) => {
    proc.once('close', () => resolve());
    proc.once('error', (err) => {
      tail.push(err.message);
      resolve();
    });
  });
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = (): Promise<void> => stopWithGrace(() => killGroup(proc.pid, 'SIGTERM'), () => killGroup(proc.pid, 'SIGKILL'), exited);

  const kind = spec.proto.startsWith('udp') ? 'udp' : 'tcp';
  const deadline = Date.now() + LISTEN_TIMEOUT_MS;
  while (!gone && !(proc.pid && (await holdsPortSocket(proc.pid, kind, spec.parentPort)))) {
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`socat did not listen on ${where} within ${LISTEN_TIMEOUT_MS / 1000} s${said(tail)}`);
    }
    await delay(LISTEN_POLL_MS);
  }
  if (!gone) return { close: stop };
  const bindError = await bindProbe(kind, listenAddress(spec), spec.parentPort);
  throw bindError ? listenError(spec, bindError) : new UserError(`socat could not publish ${where}${said(tail)}`);
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  try {
    if (pid) process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function said(tail: string[]): string {
  return tail.length > 0 ? `: ${tail.join('\n')}` : ' (it said nothing)';
}
