/**
 * The namespace process' side of the IPC channel (started by src/entry/namespace-process.ts): it prepares the
 * namespaces, runs COMMAND, hands the port driver's requests to its inside half, and reports COMMAND's exit.
 * It dies with the parent (the IPC channel closing).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { errorMessage } from '../errors.js';
import { commandStatus, goExitDescription } from '../exit-status.js';
import { FORWARDED_SIGNALS } from '../forwarded-signals.js';
import type { CommandRun, InsideMessage, NamespaceSetup, ParentMessage } from '../ipc/messages.js';
import { killedWithParent } from '../pdeathsig.js';
import { handleRequest, type InsideHalf } from '../port/drivers/descriptor.js';
import { commandProblem } from './command-check.js';
import { killLeftovers } from './leftovers.js';
import { mountEtcFiles, prepareNamespaces } from './setup.js';

/**
 * The parent may be gone (then we are tearing down): nobody to tell. It can also go while a message is on its
 * way (the namespace process boots while the parent still checks its flags, which may fail): the callback takes
 * that EPIPE, which would otherwise be an 'error' event on `process` and crash with a stack trace.
 */
function send(msg: InsideMessage): void {
  if (process.connected) process.send!(msg, () => {});
}

/**
 * Answer the parent until COMMAND ends. `inside` is the port driver's inside half, if it runs here; `exit`
 * ends the process with a status, once the parent has been told why.
 */
export function serveParent(inside: InsideHalf | undefined, exit: (status: number) => void): void {
  let command: ChildProcess | undefined;
  let setup: NamespaceSetup | undefined;

  /** Tell the parent (if it is still there) and exit at once: a dial still pending inside must not hold nsgate up. */
  const finish = (msg: InsideMessage, status: number): void => {
    if (process.connected) process.send!(msg, () => exit(status));
    else exit(status);
  };
  const fail = (err: unknown): void => finish({ t: 'failed', message: errorMessage(err) }, 1);

  const run = async (req: CommandRun): Promise<void> => {
    if (req.etcFiles) await mountEtcFiles(req.etcFiles, setup!.copyUp.includes('/etc'));
    const problem = commandProblem(req.command[0]!, req.env.PATH);
    if (problem) return fail(new Error(`command [${req.command.join(' ')}] exited: ${problem}`));
    // COMMAND dies with this process, as under RootlessKit (Pdeathsig): `kill -KILL $(cat child_pid)` leaves nothing.
    // It starts without the inheritable and ambient capabilities `unshare --keep-caps` gave this process
    // (src/parent/namespace-handle.ts), as it would without them: a capability that a runtime in it drops from
    // the bounding set must not come back through the inheritable set at its next exec.
    const [file, ...args] = killedWithParent(req.command, ['--inh-caps=-all', '--ambient-caps=-all']);
    command = inside?.spawnCommand ? inside.spawnCommand(file!, args, req.env) : spawn(file!, args, { stdio: 'inherit', env: req.env });
    command.once('error', (err) => fail(new Error(`cannot run ${req.command[0]}: ${err.message}`)));
    command.once('spawn', () => send({ t: 'started', pid: command!.pid! }));
    command.once('exit', (code, signal) => {
      const status = commandStatus(code);
      killLeftovers();
      finish({ t: 'exited', code: status, description: goExitDescription(code, signal) }, status);
    });
  };

  process.on('message', (msg: ParentMessage) => {
    switch (msg.t) {
      case 'setup':
        setup = msg.setup;
        prepareNamespaces(msg.setup).then(() => send({ t: 'ready' }), fail);
        return;
      case 'run':
        run(msg.run).catch(fail);
        return;
      default:
        handleRequest(inside, msg);
    }
  });

  // Every signal this process gets goes on to COMMAND, as RootlessKit's child does: the parent forwards what it
  // receives, and scripts signal the pid in STATE_DIR/child_pid. Before COMMAND runs they are ignored.
  for (const sig of FORWARDED_SIGNALS) process.on(sig, () => command?.kill(sig));

  // The parent is gone: take COMMAND and its tree down with us, as RootlessKit's child does (Pdeathsig).
  process.on('disconnect', killLeftovers);

  send({ t: 'hello' });
}
