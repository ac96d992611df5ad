/** A relay worker thread (builtin's native relay, src/dataplane/engine.ts starts it): its own epoll loop serving the forwards the engine gives it. */
import { parentPort, workerData } from 'node:worker_threads';
import { errorMessage } from '../errors.js';
import type { RelayWorkerData, WorkerCommand, WorkerReport } from '../dataplane/commands.js';
import { Loop } from '../dataplane/loop.js';
import { PipePool } from '../dataplane/pipe-pool.js';
import { TcpForward } from '../dataplane/tcp-relay.js';
import { UdpForward } from '../dataplane/udp-relay.js';

const report = (msg: WorkerReport) => parentPort!.postMessage(msg);
const forwards = new Map<number, TcpForward | UdpForward>();

const { commands, stopFd } = workerData as RelayWorkerData;
const loop = new Loop();
const wakeFd = loop.serve(commands, stopFd, (msg) => {
  const cmd = msg as WorkerCommand;
  try {
    if (cmd.t === 'stats') return report({ t: 'done', cmd: cmd.t, id: cmd.id, stats: [...forwards].map(([id, f]) => [id, f.reading()]) });
    if (cmd.t === 'tcp') forwards.set(cmd.id, new TcpForward(loop, pipes, cmd.fd, cmd.target, cmd.sourceIp));
    else if (cmd.t === 'udp') forwards.set(cmd.id, new UdpForward(loop, cmd.fd, cmd.target, cmd.replyTable));
    else if (cmd.t === 'adopt') (forwards.get(cmd.id) as TcpForward).adopt(cmd.connections);
    else {
      forwards.get(cmd.id)?.drop();
      forwards.delete(cmd.id);
    }
    report({ t: 'done', cmd: cmd.t, id: cmd.id });
  } catch (err) {
    report({ t: 'done', cmd: cmd.t, id: cmd.id, error: errorMessage(err) });
  }
});
const pipes = new PipePool(loop);

report({ t: 'wake', fd: wakeFd });
loop.run();
