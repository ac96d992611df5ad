/**
 * The child's side of the IPC channel (loaded by main.ts): it prepares the namespaces, runs COMMAND,
 * answers the port drivers' requests, and reports COMMAND's exit. It dies with the parent (the IPC
 * channel closing).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { errorMessage } from '../errors.js';
import { exitStatus } from '../exit-status.js';
import { answerPortRequest } from '../port/drivers/builtin/child.js';
import { answerListenRequest, spawnFiltered, takeChannel } from '../port/drivers/bypass/child.js';
import { FORWARDED_SIGNALS, type ChildMessage, type ChildRun, type ChildSetup, type ParentMessage } from './protocol.js';
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
  const [file, ...args] = req.command;
  command = bypassChannel === undefined ? spawn(file!, args, { stdio: 'inherit', env: req.env }) : spawnFiltered(bypassChannel, req.command, req.env);
  command.once('error', (err) => fail(new Error(`cannot run ${file}: ${err.message}`)));
  command.once('spawn', () => send({ t: 'started', pid: command!.pid! }));
  command.once('exit', (code, signal) => {
    const status = exitStatus(code, signal);
    killLeftovers();
    finish({ t: 'exited', code: status }, status);
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
    case 'signal':
      command?.kill(msg.signal);
      return;
    case 'listen':
      answerListenRequest(msg);
      return;
    default:
      answerPortRequest(msg);
  }
});

// Signals reach COMMAND through the parent, which forwards what it receives; the child itself must not die of them.
for (const sig of FORWARDED_SIGNALS) process.on(sig, () => {});

// The parent is gone: take COMMAND and its tree down with us, as RootlessKit's child does (Pdeathsig).
process.on('disconnect', killLeftovers);

send({ t: 'hello' });
