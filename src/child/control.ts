/**
 * The child's side of the IPC channel (loaded by main.ts): it prepares the namespaces, runs COMMAND,
 * answers the port drivers' requests, and reports COMMAND's exit. It dies with the parent (the IPC
 * channel closing).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { errorMessage } from '../errors.js';
import { commandStatus, goExitDescription } from '../exit-status.js';
import { FORWARDED_SIGNALS } from '../forwarded-signals.js';
import { killedWithParent } from '../pdeathsig.js';
import { answerPortRequest } from '../port/drivers/builtin/child.js';
import { answerListenRequest, spawnFiltered, takeChannel } from '../port/drivers/bypass/child.js';
import { type ChildMessage, type ChildRun, type ChildSetup, type ParentMessage } from './protocol.js';
import { commandProblem } from './command-check.js';
import { killLeftovers } from './leftovers.js';
import { mountEtcFiles, prepareNamespaces } from './setup.js';


let command: ChildProcess | undefined;
let setup: ChildSetup | undefined;
/** --port-driver=bypass: COMMAND runs under the bind filter, whose listener goes to the parent on this fd. */
const bypassChannel = takeChannel();

/** The parent may be gone (then we are tearing down): nobody to tell. */
function send(msg: ChildMessage): void {
  if (process.connected) process.send!(msg);
}

/** Tell the parent (if it is still there) and exit at once: a dial still pending inside must not hold nsgate up. */
function finish(msg: ChildMessage, status: number): void {
  if (process.connected) process.send!(msg, () => process.exit(status));
  else process.exit(status);
}

function fail(err: unknown): void {
  finish({ t: 'failed', message: errorMessage(err) }, 1);
}

async function run(req: ChildRun): Promise<void> {
  if (req.etcFiles) await mountEtcFiles(req.etcFiles, setup!.copyUp.includes('/etc'));
  const problem = commandProblem(req.command[0]!, req.env.PATH);
  if (problem) return fail(new Error(`command [${req.command.join(' ')}] exited: ${problem}`));
  // COMMAND dies with the child, as under RootlessKit (Pdeathsig): `kill -KILL $(cat child_pid)` leaves nothing.
  const [file, ...args] = killedWithParent(req.command);
  command = bypassChannel === undefined ? spawn(file!, args, { stdio: 'inherit', env: req.env }) : spawnFiltered(bypassChannel, [file!, ...args], req.env);
  command.once('error', (err) => fail(new Error(`cannot run ${req.command[0]}: ${err.message}`)));
  command.once('spawn', () => send({ t: 'started', pid: command!.pid! }));
  command.once('exit', (code, signal) => {
    const status = commandStatus(code);
    killLeftovers();
    finish({ t: 'exited', code: status, description: goExitDescription(code, signal) }, status);
  });
}

process.on('message', (msg: ParentMessage) => {
  switch (msg.t) {
    case 'setup':
      setup = msg.setup;
      prepareNamespaces(msg.setup).then(() => send({ t: 'ready' }), fail);
      return;
    case 'run':
      run(msg.run).catch(fail);
      return;
    case 'listen':
      answerListenRequest(msg);
      return;
    default:
      answerPortRequest(msg);
  }
});

// Every signal the child gets goes on to COMMAND, as RootlessKit's child does: the parent forwards what it
// receives, and scripts signal the pid in STATE_DIR/child_pid. Before COMMAND runs they are ignored.
for (const sig of FORWARDED_SIGNALS) process.on(sig, () => command?.kill(sig));

// The parent is gone: take COMMAND and its tree down with us, as RootlessKit's child does (Pdeathsig).
process.on('disconnect', killLeftovers);

send({ t: 'hello' });
