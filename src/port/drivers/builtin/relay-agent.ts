/**
 * The builtin driver's native half inside the namespace: takes a published port's host socket from the fd
 * channel and gives it to the relay engine, which accepts there and connects inside. Source-IP
 * propagation needs policy routing in the namespace, set up with the first port that uses it.
 */
import { writeFileSync } from 'node:fs';
import { isIPv4 } from 'node:net';
import { errorMessage } from '../../../errors.js';
import type { Counters } from '../../../dataplane/counters.js';
import { RelayEngine } from '../../../dataplane/engine.js';
import { SOURCE_IP_MARK } from '../../../dataplane/tcp-relay.js';
import { ENTRY } from '../../../entry/paths.js';
import { receiveFdFor, sendFdFor, takeFdChannel } from '../../../ipc/fd-channel.js';
import type { InsideMessage, ParentMessage } from '../../../ipc/messages.js';
import type { Log } from '../../../log.js';
import { openPublishedSocket } from './host-socket.js';
import { fwmarkRuleMessage, localDefaultRouteMessage, LOOPBACK_INDEX, rtnetlink, udpSourcePortRuleMessage, type RouteOp } from '../../../sys/rtnetlink.js';
import { socketCalls } from '../../../sys/socket.js';
import type { InsideContext } from '../descriptor.js';

/**
 * The routing table that delivers replies to transparently bound sockets. Any number would do; this one
 * is unlikely to be taken by what runs in the namespace.
 */
const SOURCE_IP_TABLE = 27003;
/**
 * Replies from the server (sent from loopback to the client's real address) are delivered locally, to
 * the relay's transparent socket, instead of being routed out of the namespace: the server's socket has the
 * relay's mark (the sysctl), and per family `ip rule add fwmark 100 lookup 27003` and
 * `ip route add local default dev lo table 27003`. A rule on the source (from 127.0.0.0/8) would also take
 * what a DNAT sends from loopback to a container, and break it.
 */
const TCP_FWMARK_ACCEPT = '/proc/sys/net/ipv4/tcp_fwmark_accept';
const SOURCE_IP_ROUTING = ([4, 6] as const).flatMap((family) => [
  { what: `ip -${family} rule add fwmark ${SOURCE_IP_MARK}`, build: (seq: number) => fwmarkRuleMessage(family, SOURCE_IP_MARK, SOURCE_IP_TABLE, seq) },
  { what: `ip -${family} route add local default`, build: (seq: number) => localDefaultRouteMessage(family, LOOPBACK_INDEX, SOURCE_IP_TABLE, seq) },
]);

/**
 * UDP: a server's replies carry no mark of the relay's (a UDP socket has no accepted socket to inherit one),
 * so each UDP forward with source IP has a rule of its own, `ip rule add iif lo ipproto udp sport <target
 * port> lookup <table>`, with a table of its own: UDP_REPLY_TABLES + the forward's id. The relay adds a local
 * route there per client address while that client's flows live (dataplane/source-ip.ts); what the port
 * sends to any other address finds no route there and goes on to the main table.
 */
const UDP_REPLY_TABLES = 0x4e530000;

let channel: number | undefined;
let log: Log | undefined;
let engine: RelayEngine | undefined;
/** Why the relay did not start, if it did not. */
let engineFailure: string | undefined;
let sourceIpRouting: boolean | undefined;
/** Each forward's host socket, and the reply rule of a UDP forward with source IP. */
const forwards = new Map<number, { fd: number; removeReplyRule?: () => void }>();
let udpSourceIpFailure: string | undefined;

/**
 * When the parent opened an fd channel: keep it from COMMAND and make the relay engine (its worker threads
 * start with the first forward).
 */
export function prepareRelay(ctx: InsideContext): void {
  log = ctx.log;
  channel = takeFdChannel();
  if (channel === undefined) return;
  try {
    engine = RelayEngine.start({ worker: ENTRY.relayWorker, fatal: ctx.fatal, warn: ctx.log.warn });
  } catch (err) {
    // Reported by every forward.
    engineFailure = errorMessage(err);
  }
}

export async function answerForwardRequest(msg: Extract<ParentMessage, { t: 'forward' | 'unforward' }>): Promise<InsideMessage> {
  try {
    if (msg.t === 'forward') await forward(msg);
    else await unforward(msg.id);
    return { t: 'forwarded', id: msg.id };
  } catch (err) {
    return { t: 'forwarded', id: msg.id, error: errorMessage(err) };
  }
}

/** The relay's counters by forward id (none before it runs). */
export async function relayStats(): Promise<Array<[number, Counters]>> {
  return engine ? [...(await engine.stats())] : [];
}

/** A reverse port's listener, made here and sent to the parent on the fd channel (see the message). */
export function listenInside(msg: Extract<ParentMessage, { t: 'listen-inside' }>): InsideMessage {
  const c = socketCalls();
  if (!c || channel === undefined) return { t: 'forwarded', id: msg.id, error: 'reverse ports need the native relay: no fd channel into the namespace' };
  try {
    const fd = openPublishedSocket(c, { proto: msg.proto, parentIP: msg.ip, parentPort: msg.port, childPort: msg.port }, msg.proto, true);
    try {
      sendFdFor(channel, msg.id, fd);
    } finally {
      c.close(fd);
    }
    return { t: 'forwarded', id: msg.id };
  } catch (err) {
    return { t: 'forwarded', id: msg.id, error: errorMessage(err) };
  }
}

async function forward(msg: Extract<ParentMessage, { t: 'forward' }>): Promise<void> {
  if (!engine) throw new Error(engineFailure ? `the native relay did not start: ${engineFailure}` : 'no fd channel from the parent: the native relay is not running');
  const fd = receiveFdFor(channel!, msg.id);
  const removeReplyRule = msg.proto === 'udp' && msg.sourceIp && routeRepliesLocally() ? addUdpReplyRule(msg.id, msg.target) : undefined;
  try {
    if (msg.proto === 'tcp') await engine.addTcp(msg.id, fd, msg.target, msg.sourceIp && routeRepliesLocally());
    else await engine.addUdp(msg.id, fd, msg.target, removeReplyRule ? UDP_REPLY_TABLES + msg.id : null);
  } catch (err) {
    removeReplyRule?.();
    socketCalls()!.close(fd);
    throw err;
  }
  forwards.set(msg.id, { fd, removeReplyRule });
}

/**
 * Add the reply rule of UDP forward `id` and return what removes it; undefined (with one warning for all UDP
 * forwards) where the kernel refuses it: then its servers see 127.0.0.1.
 */
function addUdpReplyRule(id: number, target: { ip: string; port: number }): (() => void) | undefined {
  const family = isIPv4(target.ip) ? 4 : 6;
  const change = (op: RouteOp) =>
    rtnetlink([{ what: `ip -${family} rule ${op} iif lo ipproto udp sport ${target.port}`, build: (seq) => udpSourcePortRuleMessage(op, family, target.port, UDP_REPLY_TABLES + id, seq) }]);
  try {
    change('add');
  } catch (err) {
    if (udpSourceIpFailure === undefined) {
      udpSourceIpFailure = errorMessage(err);
      log!.warn(`UDP source IP propagation is off: cannot set up routing in the namespace (${udpSourceIpFailure}); UDP servers see 127.0.0.1`);
    }
    return undefined;
  }
  return () => {
    try {
      change('del');
    } catch {
      // Nothing to do: a stale rule finds no route in its table, and traffic goes on to the main one.
    }
  };
}

async function unforward(id: number): Promise<void> {
  const forward = forwards.get(id);
  if (forward === undefined) throw new Error(`no forward ${id}`);
  forwards.delete(id);
  await engine!.drop(id);
  forward.removeReplyRule?.();
  socketCalls()!.close(forward.fd);
}

/** Set up the source-IP routing once; false (with one warning) where the namespace refuses it. */
function routeRepliesLocally(): boolean {
  if (sourceIpRouting === undefined) {
    try {
      // Per network namespace: /proc/sys/net is the one of the process that opens it.
      writeFileSync(TCP_FWMARK_ACCEPT, '1');
      // The relay runs only with native calls, so rtnetlink has them too.
      sourceIpRouting = rtnetlink(SOURCE_IP_ROUTING);
    } catch (err) {
      log!.warn(`source IP propagation is off: cannot set up routing in the namespace (${errorMessage(err)}); servers see 127.0.0.1`);
      sourceIpRouting = false;
    }
  }
  return sourceIpRouting;
}
