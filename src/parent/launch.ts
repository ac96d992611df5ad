import { existsSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { API_VERSION, type ApiInfo } from '../api/types.js';
import { namespacePaths } from '../network/namespace-paths.js';
import type { LaunchOptions } from '../options.js';
import { UserError } from '../errors.js';
import { createPortDriver, networkArgsFor, noPortsMessage, portDriverDescriptor } from '../port/drivers/registry.js';
import { formatPortSpec } from '../port/spec.js';
import { ReverseManager } from '../port/reverse.js';
import { formatReverseSpec } from '../port/reverse-spec.js';
import { VERSION } from '../version.js';
import { FORWARDED_SIGNALS } from '../forwarded-signals.js';
import { NamespaceHandle } from './namespace-handle.js';
import { writeEtcFiles } from './etc-files.js';
import type { InsideRequests } from './inside-requests.js';
import { insideLaunches, type SpawnedNamespaceProcess } from './namespace-handle.js';
import { evacuateCgroup2 } from './cgroup2.js';
import { idMapWriter } from './idmap.js';
import type { Log } from '../log.js';
import { parseMountinfo, propagationWarning } from './mountinfo.js';
import { openStateDir } from './state-dir.js';
import { shellStatus } from '../exit-status.js';

/** RootlessKit's warning, in other words: a host that replaces its /etc/resolv.conf unmounts ours in the namespace. */
const RESOLV_CONF_WITHOUT_COPY_UP =
  "/etc/resolv.conf is bind-mounted without --copy-up=/etc: if the host recreates its /etc/resolv.conf, the namespace sees the host's again " +
  '(its nameserver may be unreachable from inside); unless it is static, --copy-up=/etc is highly recommended';

/** Undo steps, run last-in first-out whatever happens. */
class Cleanup {
  private readonly steps: Array<() => unknown> = [];
  push(step: () => unknown): void {
    this.steps.push(step);
  }
  async run(log: Log): Promise<void> {
    for (const step of this.steps.reverse()) {
      try {
        await step();
      } catch (err) {
        log.warn(`cleanup: ${(err as Error).message}`);
      }
    }
  }
}

/** A signal that arrived before COMMAND ran: launching stops, and nsgate exits as if killed by it. */
class Interrupted extends Error {
  constructor(readonly signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
  }
}

/**
 * Run COMMAND in the new namespaces of `spawned` (spawned with `options` first thing, see src/cli/nsgate.ts)
 * with the network and ports asked for; resolve with its exit status. Everything started, `spawned` included, is
 * stopped and removed before it resolves or throws.
 */
export async function launch(options: LaunchOptions, log: Log, spawned: SpawnedNamespaceProcess): Promise<number> {
  const cleanup = new Cleanup();
  cleanup.push(() => spawned.kill());
  let nsProcess: NamespaceHandle | undefined;
  let started = false;
  let interrupt: (err: Interrupted) => void = () => {};
  const interrupted = new Promise<never>((_, reject) => (interrupt = reject));
  interrupted.catch(() => {});
  const onSignal = (signal: NodeJS.Signals) => {
    if (started) nsProcess?.signal(signal);
    else interrupt(new Interrupted(signal));
  };
  for (const sig of FORWARDED_SIGNALS) process.on(sig, onSignal);
  cleanup.push(() => FORWARDED_SIGNALS.forEach((sig) => process.off(sig, onSignal)));
  const signalledEarly = spawned.takeSignals();
  if (signalledEarly) onSignal(signalledEarly);
  const step = <T>(p: Promise<T>): Promise<T> => Promise.race([p, interrupted]);

  try {
    const mounts = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
    const propagation = propagationWarning(options.propagation, mounts);
    if (propagation) log.warn(propagation);
    const state = openStateDir(options.stateDir);
    cleanup.push(() => state.remove());
    log.debug(`state dir ${state.path}`);

    const driver = portDriverDescriptor(options.portDriver);
    const unsupported = await driver.launch.unsupported?.();
    if (unsupported) throw new UserError(`--port-driver=${driver.name} is not available: ${unsupported}`);
    const channel = spawned.handOverFdChannel();
    if (channel) cleanup.push(() => channel.close());
    const { dialer: inDialer } = insideLaunches(options);
    const starting = NamespaceHandle.start(spawned, () => idMapWriter(options.subidSource, log.warn), channel);
    // What is needed only once the namespace process runs loads meanwhile (node starting there takes longer).
    const helpers = Promise.all([import('../network/driver.js'), import('./dialer.js')]);
    const services = Promise.all([import('../api/server.js'), import('../port/manager.js'), driver.parent?.()]);
    nsProcess = await step(starting);
    const running = nsProcess;
    cleanup.push(() => running.stop());
    log.debug(`child ${nsProcess.namespacePid} is in its namespaces, with its id maps`);
    // Before COMMAND starts, so that it starts in the new group; the namespace process mounts the group's cgroup2 below.
    if (options.evacuateCgroup2 !== undefined) {
      evacuateCgroup2(options.evacuateCgroup2, { mounts, selfCgroup: readFileSync('/proc/self/cgroup', 'utf8') }, log.warn);
    }
    const [{ networkDriver }, { Dialer }] = await step(helpers);

    const detached = options.detachNetns ? state.file('netns') : undefined;
    // Made and removed here, where it never holds a mount (the namespace process' are in its own mount namespace), so
    // that none is left behind even if the namespace process fails with a mount on it. /tmp cannot be copied up.
    const spareDir = mkdtempSync('/tmp/nsgate-mnt-');
    const removeSpareDir = () => existsSync(spareDir) && rmdirSync(spareDir);
    cleanup.push(removeSpareDir);
    log.debug(`the child's mounts wait in ${spareDir} while their place is covered`);
    const setup = nsProcess.setup({
      ownNetns: options.net !== 'host' && !detached,
      ...(detached ? { detachedNetns: detached } : {}),
      copyUp: options.copyUp,
      spareDir,
      // As RootlessKit: not with a detached network namespace (the namespace process leaves /sys alone then).
      cgroup2: options.evacuateCgroup2 !== undefined && !detached,
    });
    // A detached network namespace must exist before a helper can join it; otherwise both start at once.
    if (detached) await step(setup);
    const where = { childPid: nsProcess.namespacePid, ...(detached ? { detachedNetns: detached } : {}) };
    const netDriver = networkDriver(options.net, networkArgsFor(options));
    // Registered as soon as it runs, so that a failing child setup still stops it.
    const helper = netDriver?.start({ ...where, stateDir: state.path, options, debug: log.debug }).then((helper) => {
      cleanup.push(() => helper.stop());
      return helper;
    });
    const [network] = await step(Promise.all([helper, setup]));
    removeSpareDir();
    log.debug('namespaces set up, network ready');

    const [{ startApiServer }, { PortManager }] = await step(services);
    let insideProcess: InsideRequests = running;
    if (inDialer) {
      const dialer = await step(Dialer.start(namespacePaths(where), inDialer));
      cleanup.push(() => dialer.stop());
      insideProcess = dialer;
    }
    const portDriver = await step(
      createPortDriver({ options, network, inside: insideProcess, fdChannel: insideProcess.fdChannel, namespaces: namespacePaths(where), namespacePid: where.childPid, stateDir: state.path, log }) ??
        Promise.resolve(null),
    );
    const ports = portDriver ? new PortManager(portDriver, log) : null;
    if (ports) cleanup.push(() => ports.closeAll());
    const info = (): ApiInfo => ({
      apiVersion: API_VERSION,
      version: VERSION,
      stateDir: state.path,
      childPID: running.pid,
      ...(network ? { networkDriver: network.info } : options.net === 'none' ? { networkDriver: { driver: 'none' } } : {}),
      ...(portDriver ? { portDriver: portDriver.info() } : {}),
    });
    for (const spec of options.publish) {
      const added = await step(ports!.addRange(spec));
      log.debug(`published ${formatPortSpec(spec)} as port ${added.map((p) => `${p.id} (${p.spec.parentPort})`).join(', ')}`);
    }

    const reverse = options.portDriver === 'builtin' && insideProcess.relaysNatively ? new ReverseManager(insideProcess, log) : null;
    if (reverse) cleanup.push(() => reverse.closeAll());
    const noReverseMessage =
      options.portDriver === 'builtin'
        ? 'reverse ports need the native relay, and koffi does not load here'
        : `reverse ports need --port-driver=builtin (its relay serves them); nsgate was started with --port-driver=${options.portDriver}`;
    for (const spec of options.reversePublish) {
      if (!reverse) throw new UserError(noReverseMessage);
      const { id } = await step(reverse.add(spec));
      log.debug(`reverse port ${formatReverseSpec(spec)} is ${id}`);
    }

    // In RootlessKit's order, which scripts may wait on: child_pid (read-only) once the network and the
    // published ports are ready, then api.sock. A child_pid left by an nsgate that was SIGKILLed goes first.
    const childPidFile = state.file('child_pid');
    rmSync(childPidFile, { force: true });
    writeFileSync(childPidFile, `${running.pid}`, { mode: 0o444 });
    const api = await step(
      startApiServer({ socketPath: state.file('api.sock'), info, ports, noPortsMessage: noPortsMessage(options), reverse, noReverseMessage }),
    );
    cleanup.push(() => api.close());

    const etcFiles = network ? writeEtcFiles(state, network.info.dns ?? []) : [];
    // Detached, COMMAND stays on the host's network and keeps the host's files.
    const mountEtc = etcFiles.length > 0 && !detached;
    if (mountEtc && !options.copyUp.includes('/etc')) log.warn(RESOLV_CONF_WITHOUT_COPY_UP);
    await step(nsProcess.run({ command: options.command, env: commandEnv(state.path), ...(mountEtc ? { etcFiles } : {}) }));
    started = true;
    log.debug('COMMAND started');
    const helperDied = network?.died.then((reason) => `${network.info.driver} died: ${reason}; stopping`);
    const outcome = await Promise.race([nsProcess.exited, ...(helperDied ? [helperDied] : [])]);
    if (typeof outcome === 'string') {
      log.error(outcome);
      await running.stop();
      return 1;
    }
    // RootlessKit's words for a COMMAND or child that failed (its child and parent each print a line; one is enough).
    if (outcome.status !== 0) log.error(outcome.of === 'command' ? `command [${options.command.join(' ')}] exited: ${outcome.description}` : `child exited: ${outcome.description}`);
    return outcome.status;
  } catch (err) {
    if (err instanceof Interrupted) return shellStatus(null, err.signal);
    throw err;
  } finally {
    await cleanup.run(log);
  }
}

/** COMMAND's environment: ours, plus RootlessKit's variables so its tools find the API. */
function commandEnv(stateDir: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.ROOTLESSKIT_STATE_DIR = stateDir;
  env.ROOTLESSKIT_PARENT_EUID = String(process.geteuid!());
  env.ROOTLESSKIT_PARENT_EGID = String(process.getegid!());
  return env;
}
