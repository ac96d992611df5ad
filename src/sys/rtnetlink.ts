/**
 * The few route-netlink requests the namespace process makes in its own network namespace: bring `lo` up, and the
 * source-IP routing (rules and local routes per family). They are what `ip link set lo up`, `ip rule add|del`
 * and `ip route add|del` send, without starting `ip` several times while nsgate starts (or per UDP client).
 * The message builders are pure (for tests); a RouteSocket sends them and reads the kernel's answers.
 */
import { SysError, check } from './libc.js';
import { relayCalls } from './relay-io.js';
import { AF_INET, AF_INET6, SOCK_CLOEXEC, socketCalls } from './socket.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const NETLINK_ROUTE = 0;

const NLMSG_ERROR = 2;
const RTM_NEWLINK = 16;
const RTM_NEWROUTE = 24;
const RTM_DELROUTE = 25;
const RTM_NEWRULE = 32;
const RTM_DELRULE = 33;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const NEW = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE;
const DEL = NLM_F_REQUEST | NLM_F_ACK;

/** Add or delete (a rule or a route). */
export type RouteOp = 'add' | 'del';

const HEADER_SIZE = 16;
const IFF_UP = 0x1;
/** A new network namespace's loopback is always interface 1. */
export const LOOPBACK_INDEX = 1;
const FR_ACT_TO_TBL = 1;
const RTN_LOCAL = 2;
const RTPROT_BOOT = 3;
const RT_SCOPE_HOST = 254;
/** Attribute types: FRA_* of rules, RTA_* of routes; FRA_TABLE and RTA_TABLE are both 15 (tables over 255 need it). */
const FRA_IIFNAME = 3;
const FRA_FWMARK = 10;
const FRA_FWMASK = 16;
const FRA_IP_PROTO = 22;
const FRA_SPORT_RANGE = 23;
const RTA_DST = 1;
const RTA_OIF = 4;
const RTA_PREFSRC = 7;
const IPPROTO_UDP = 17;
const TABLE_ATTR = 15;

const align4 = (n: number) => (n + 3) & ~3;

function attribute(type: number, data: Buffer): Buffer {
  const b = Buffer.alloc(align4(4 + data.length));
  b.writeUInt16LE(4 + data.length, 0);
  b.writeUInt16LE(type, 2);
  data.copy(b, 4);
  return b;
}

const u32 = (value: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(value);
  return b;
};

function message(type: number, flags: number, seq: number, body: Buffer, attributes: Buffer[] = []): Buffer {
  const payload = Buffer.concat([body, ...attributes]);
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt32LE(HEADER_SIZE + payload.length, 0);
  header.writeUInt16LE(type, 4);
  header.writeUInt16LE(flags, 6);
  header.writeUInt32LE(seq, 8);
  return Buffer.concat([header, payload]);
}

/** `ip link set <index> up`: struct ifinfomsg with IFF_UP in both flags and change. */
export function linkUpMessage(index: number, seq: number): Buffer {
  const info = Buffer.alloc(16);
  info.writeInt32LE(index, 4);
  info.writeUInt32LE(IFF_UP, 8);
  info.writeUInt32LE(IFF_UP, 12);
  return message(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, seq, info);
}

const familyByte = (family: 4 | 6) => (family === 4 ? AF_INET : AF_INET6);

/** struct fib_rule_hdr: family, action "lookup <table>". */
function ruleHeader(family: 4 | 6): Buffer {
  const hdr = Buffer.alloc(12);
  hdr.writeUInt8(familyByte(family), 0);
  hdr.writeUInt8(FR_ACT_TO_TBL, 7);
  return hdr;
}

/** `ip [-6] rule add fwmark <mark> lookup <table>` for `family`: struct fib_rule_hdr, FRA_FWMARK, FRA_FWMASK (all bits), FRA_TABLE. */
export function fwmarkRuleMessage(family: 4 | 6, mark: number, table: number, seq: number): Buffer {
  return message(RTM_NEWRULE, NEW, seq, ruleHeader(family), [attribute(FRA_FWMARK, u32(mark)), attribute(FRA_FWMASK, u32(0xffffffff)), attribute(TABLE_ATTR, u32(table))]);
}

/**
 * `ip [-6] rule add|del iif lo ipproto udp sport <port> lookup <table>`: what this namespace itself sends
 * from UDP port `port` (FRA_IIFNAME "lo" matches locally made packets) looks in `table` first.
 */
export function udpSourcePortRuleMessage(op: RouteOp, family: 4 | 6, port: number, table: number, seq: number): Buffer {
  const range = Buffer.alloc(4);
  range.writeUInt16LE(port, 0);
  range.writeUInt16LE(port, 2);
  return message(op === 'add' ? RTM_NEWRULE : RTM_DELRULE, op === 'add' ? NEW : DEL, seq, ruleHeader(family), [
    attribute(FRA_IIFNAME, Buffer.from('lo\0')),
    attribute(FRA_IP_PROTO, Buffer.from([IPPROTO_UDP])),
    attribute(FRA_SPORT_RANGE, range),
    attribute(TABLE_ATTR, u32(table)),
  ]);
}

/** struct rtmsg of a local route (scope host) to a prefix of `dstLen` bits. */
function localRouteHeader(family: 4 | 6, dstLen: number): Buffer {
  const rt = Buffer.alloc(12);
  rt.writeUInt8(familyByte(family), 0);
  rt.writeUInt8(dstLen, 1);
  rt.writeUInt8(RTPROT_BOOT, 5);
  rt.writeUInt8(RT_SCOPE_HOST, 6);
  rt.writeUInt8(RTN_LOCAL, 7);
  return rt;
}

/** `ip route add local default dev <index> table <table>` for `family`: struct rtmsg, RTA_TABLE, RTA_OIF. */
export function localDefaultRouteMessage(family: 4 | 6, index: number, table: number, seq: number): Buffer {
  return message(RTM_NEWROUTE, NEW, seq, localRouteHeader(family, 0), [attribute(TABLE_ATTR, u32(table)), attribute(RTA_OIF, u32(index))]);
}

/**
 * `ip route add|del local <ip>/32 (or /128) dev <index> src <prefsrc> table <table>`, the addresses as raw
 * bytes (4 or 16 of them, which sets the family): packets to `ip` are delivered here, and a socket that sends
 * there without an address of its own gets `prefsrc`.
 */
export function localHostRouteMessage(op: RouteOp, ip: Buffer, prefsrc: Buffer, index: number, table: number, seq: number): Buffer {
  const family = ip.length === 4 ? 4 : 6;
  const attrs = [attribute(TABLE_ATTR, u32(table)), attribute(RTA_DST, ip), attribute(RTA_PREFSRC, prefsrc), attribute(RTA_OIF, u32(index))];
  return message(op === 'add' ? RTM_NEWROUTE : RTM_DELROUTE, op === 'add' ? NEW : DEL, seq, localRouteHeader(family, ip.length * 8), attrs);
}

/** The errno of an NLMSG_ERROR answer to request `seq` (0 is an ACK), or undefined if `answer` is not one. */
export function answerErrno(answer: Buffer, seq: number): number | undefined {
  if (answer.length < HEADER_SIZE + 4 || answer.readUInt16LE(4) !== NLMSG_ERROR || answer.readUInt32LE(8) !== seq) return undefined;
  const error = answer.readInt32LE(HEADER_SIZE);
  return error === 0 ? 0 : -error;
}

export interface RouteRequest {
  /** Names it in errors ("ip -4 rule add ..."). */
  what: string;
  build(seq: number): Buffer;
}

/** A route-netlink socket of the calling thread's network namespace, kept open for requests one at a time. */
export class RouteSocket {
  private seq = 0;
  private readonly answer = Buffer.alloc(8192);

  private constructor(private readonly fd: number) {}

  /** Null without native calls. */
  static open(): RouteSocket | null {
    const c = socketCalls();
    if (!c || !relayCalls()) return null;
    return new RouteSocket(check(c.koffi, 'socket(AF_NETLINK)', c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE)));
  }

  /** Send one request and wait for its ACK; the kernel's refusal is thrown as a SysError. */
  request({ what, build }: RouteRequest): void {
    const { koffi } = socketCalls()!;
    const io = relayCalls()!;
    const seq = ++this.seq;
    const msg = build(seq);
    // On a netlink socket, write and read are send and recv: one message each.
    check(koffi, what, io.write(this.fd, msg, msg.length));
    for (;;) {
      const n = check(koffi, what, io.read(this.fd, this.answer, this.answer.length));
      const errno = answerErrno(this.answer.subarray(0, n), seq);
      if (errno === undefined) continue;
      if (errno !== 0) throw new SysError(what, errno);
      return;
    }
  }

  close(): void {
    socketCalls()!.close(this.fd);
  }
}

/**
 * Send each request and wait for its ACK, in order, in the calling thread's network namespace. Throws a
 * SysError for the first one the kernel refuses; false without native calls.
 */
export function rtnetlink(requests: RouteRequest[]): boolean {
  const route = RouteSocket.open();
  if (!route) return false;
  try {
    for (const r of requests) route.request(r);
  } finally {
    route.close();
  }
  return true;
}

const RTM_GETROUTE = 26;
/** rtm_type of a route through a gateway or link (not local, broadcast, unreachable, blackhole, ...). */
export const RTN_UNICAST = 1;
const RTMSG_SIZE = 12;

/** `ip route get ADDRESS` (4 or 16 bytes): struct rtmsg with a full-length RTA_DST. */
export function routeGetMessage(dst: Buffer, seq: number): Buffer {
  const rt = Buffer.alloc(RTMSG_SIZE);
  rt.writeUInt8(dst.length === 4 ? AF_INET : AF_INET6, 0);
  rt.writeUInt8(dst.length * 8, 1);
  return message(RTM_GETROUTE, NLM_F_REQUEST, seq, rt, [attribute(RTA_DST, dst)]);
}

/** The route in an RTM_NEWROUTE answer to `seq`: its type and output interface (0 if none); undefined if it is not one. */
export function routeAnswer(answer: Buffer, seq: number): { type: number; oif: number } | undefined {
  if (answer.length < HEADER_SIZE + RTMSG_SIZE || answer.readUInt16LE(4) !== RTM_NEWROUTE || answer.readUInt32LE(8) !== seq) return undefined;
  const end = Math.min(answer.length, answer.readUInt32LE(0));
  let oif = 0;
  for (let at = HEADER_SIZE + RTMSG_SIZE; at + 4 <= end; ) {
    const len = answer.readUInt16LE(at);
    if (len < 4) break;
    if (answer.readUInt16LE(at + 2) === RTA_OIF && len >= 8) oif = answer.readUInt32LE(at + 4);
    at += align4(len);
  }
  return { type: answer.readUInt8(HEADER_SIZE + 7), oif };
}

/**
 * The route to `dst` (4 or 16 bytes) in the calling thread's network namespace, as `ip route get` finds it, or
 * null when there is none (ENETUNREACH and the like). A socket per lookup: nothing stays open between calls.
 */
export function routeTo(dst: Buffer): { type: number; oif: number } | null {
  const c = socketCalls()!;
  const io = relayCalls()!;
  const fd = check(c.koffi, 'socket(AF_NETLINK)', c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  try {
    const msg = routeGetMessage(dst, 1);
    check(c.koffi, 'RTM_GETROUTE', io.write(fd, msg, msg.length));
    const buffer = Buffer.alloc(4096);
    for (;;) {
      const answer = buffer.subarray(0, check(c.koffi, 'RTM_GETROUTE', io.read(fd, buffer, buffer.length)));
      const route = routeAnswer(answer, 1);
      if (route) return route;
      if (answerErrno(answer, 1) !== undefined) return null;
    }
  } finally {
    c.close(fd);
  }
}
