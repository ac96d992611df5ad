/**
 * The builtin driver's native half inside the namespace: takes a published port's host socket from the fd
 * channel and gives it to the relay engine, which accepts there and connects inside. Source-IP
 * propagation needs policy routing in the namespace, set up once, on the first port that asks for it.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { RelayEngine } from '../../../dataplane/engine.js';
import { FD_CHANNEL_ENV, type ChildMessage, type ParentMessage } from '../../../child/protocol.js';
import { receiveFds } from '../../../sys/fd-passing.js';
import { FD_CLOEXEC, F_SETFD, socketCalls } from '../../../sys/socket.js';

/**
 * The routing table that delivers replies to transparently bound sockets. Any number would do; this one
 * is unlikely to be taken by what runs in the namespace.
 */
export const SOURCE_IP_TABLE = 27003;
/**
 * Replies from the server (sent from loopback to the client's real address) are delivered locally, to
 * the relay's transparent socket, instead of being routed out of the namespace.
 */
const SOURCE_IP_ROUTING = [
  ['-4', 'rule', 'add', 'from', '127.0.0.0/8', 'lookup', String(SOURCE_IP_TABLE)],
  ['-4', 'route', 'add', 'local', 'default', 'dev', 'lo', 'table', String(SOURCE_IP_TABLE)],
  ['-6', 'rule', 'add', 'from', '::1', 'lookup', String(SOURCE_IP_TABLE)],
  ['-6', 'route', 'add', 'local', 'default', 'dev', 'lo', 'table', String(SOURCE_IP_TABLE)],
];

const channel = Number(process.env[FD_CHANNEL_ENV]);
let engine: Promise<RelayEngine> | undefined;
let sourceIpRouting: Promise<boolean> | undefined;
const sockets = new Map<number, number>();

/**
 * When the parent opened an fd channel: keep it from COMMAND and start the relay's workers now, so the
 * first published port does not wait for them.
 */
export function prepareRelay(): void {
  const c = socketCalls();
  if (!Number.isInteger(channel) || !c) return;
  c.fcntl(channel, F_SETFD, FD_CLOEXEC);
  engine = RelayEngine.start();
  // A failure here is reported to the first `forward`, which awaits the same promise.
  engine.catch(() => {});
}

export async function answerForwardRequest(msg: Extract<ParentMessage, { t: 'forward' | 'unforward' }>): Promise<ChildMessage> {
  try {
    if (msg.t === 'forward') await forward(msg);
    else await unforward(msg.id);
    return { t: 'forwarded', id: msg.id };
  } catch (err) {
    return { t: 'forwarded', id: msg.id, error: err instanceof Error ? err.message : String(err) };
  }
}

async function forward(msg: Extract<ParentMessage, { t: 'forward' }>): Promise<void> {
  if (!engine) throw new Error('no fd channel from the parent: the native relay is not running');
  const got = receiveFds(channel);
  const fd = got?.fds[0];
  if (!got || fd === undefined || got.payload.toString() !== String(msg.id)) {
    for (const extra of got?.fds ?? []) socketCalls()!.close(extra);
    throw new Error(`the host socket of forward ${msg.id} did not arrive on the fd channel`);
  }
  try {
    const relay = await engine;
    if (msg.proto === 'tcp') await relay.addTcp(msg.id, fd, msg.target, msg.sourceIp && (await routeRepliesLocally()));
    else await relay.addUdp(msg.id, fd, msg.target);
    sockets.set(msg.id, fd);
  } catch (err) {
    socketCalls()!.close(fd);
    throw err;
  }
}

async function unforward(id: number): Promise<void> {
  const fd = sockets.get(id);
  if (fd === undefined) throw new Error(`no forward ${id}`);
  await (await engine!).drop(id);
  sockets.delete(id);
  socketCalls()!.close(fd);
}

/** Set up the source-IP routing once; false (with one warning) where the namespace refuses it. */
function routeRepliesLocally(): Promise<boolean> {
  sourceIpRouting ??= (async () => {
    const run = promisify(execFile);
    try {
      for (const args of SOURCE_IP_ROUTING) await run('ip', args);
      return true;
    } catch (err) {
      const why = (err as { stderr?: string }).stderr?.trim() || (err instanceof Error ? err.message : String(err));
      console.error(`nsgate: warning: source IP propagation is off: cannot set up routing in the namespace (${why}); servers see 127.0.0.1`);
      return false;
    }
  })();
  return sourceIpRouting;
}
