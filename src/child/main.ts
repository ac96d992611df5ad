/**
 * The child: a node process started by `unshare` in new user, mount and (usually) network namespaces.
 * It prepares the namespaces, runs COMMAND, answers the builtin port driver's connect requests,
 * and reports COMMAND's exit. It dies with the parent (the IPC channel closing).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { errorMessage } from '../errors.js';
import { exitStatus } from '../exit-status.js';
import { answerPortRequest } from '../port/drivers/builtin/child.js';
import type { ChildMessage, ChildRun, ChildSetup, ParentMessage } from './protocol.js';
import { killLeftovers } from './leftovers.js';
import { prepareNamespaces, writeResolvConf } from './setup.js';

const FORWARDED_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2'];

let command: ChildProcess | undefined;
let setup: ChildSetup | undefined;

/** The parent may be gone (then we are tearing down): nobody to tell. */
function send(msg: ChildMessage): void {
  if (process.connected) process.send!(msg);
}

function disconnect(): void {
  if (process.connected) process.disconnect();
}

function fail(err: unknown): void {
  send({ t: 'failed', message: errorMessage(err) });
  process.exitCode = 1;
  disconnect();
}

async function run(req: ChildRun): Promise<void> {
  if (req.dns) await writeResolvConf(req.dns, setup!.copyUp, setup!.resolvConf);
  const [file, ...args] = req.command;
  command = spawn(file!, args, { stdio: 'inherit', env: req.env });
  command.once('error', (err) => fail(new Error(`cannot run ${file}: ${err.message}`)));
  command.once('spawn', () => send({ t: 'started', pid: command!.pid! }));
  command.once('exit', (code, signal) => {
    const status = exitStatus(code, signal);
    killLeftovers();
    send({ t: 'exited', code: status });
    process.exitCode = status;
    disconnect();
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
    default:
      answerPortRequest(msg, process.send!.bind(process));
  }
});

// Signals reach COMMAND through the parent, which forwards what it receives; the child itself must not die of them.
for (const sig of FORWARDED_SIGNALS) process.on(sig, () => {});

// The parent is gone: take COMMAND and its tree down with us, as RootlessKit's child does (Pdeathsig).
process.on('disconnect', killLeftovers);

send({ t: 'hello' });
