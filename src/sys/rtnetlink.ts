/**
 * The few route-netlink requests the namespace process makes in its own network namespace: bring `lo` up, and the
 * source-IP routing (a rule and a local route per family). They are what `ip link set lo up`, `ip rule add`
 * and `ip route add` send, without starting `ip` several times while nsgate starts.
 * The message builders are pure (for tests); `rtnetlink()` sends them and reads the kernel's answers.
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
const RTM_NEWRULE = 32;
const NLM_F_REQUEST = 0x1;
const NLM_F_ACK = 0x4;
const NLM_F_EXCL = 0x200;
const NLM_F_CREATE = 0x400;
const NEW = NLM_F_REQUEST | NLM_F_ACK | NLM_F_EXCL | NLM_F_CREATE;

const HEADER_SIZE = 16;
const IFF_UP = 0x1;
/** A new network namespace's loopback is always interface 1. */
export const LOOPBACK_INDEX = 1;
const FR_ACT_TO_TBL = 1;
const RTN_LOCAL = 2;
const RTPROT_BOOT = 3;
const RT_SCOPE_HOST = 254;
/** Attribute types: FRA_FWMARK, FRA_FWMASK and RTA_OIF; FRA_TABLE and RTA_TABLE are both 15 (tables over 255 need it). */
const FRA_FWMARK = 10;
const FRA_FWMASK = 16;
const RTA_OIF = 4;
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

/** `ip [-6] rule add fwmark <mark> lookup <table>` for `family`: struct fib_rule_hdr, FRA_FWMARK, FRA_FWMASK (all bits), FRA_TABLE. */
export function fwmarkRuleMessage(family: 4 | 6, mark: number, table: number, seq: number): Buffer {
  const hdr = Buffer.alloc(12);
  hdr.writeUInt8(family === 4 ? AF_INET : AF_INET6, 0);
  hdr.writeUInt8(FR_ACT_TO_TBL, 7);
  return message(RTM_NEWRULE, NEW, seq, hdr, [attribute(FRA_FWMARK, u32(mark)), attribute(FRA_FWMASK, u32(0xffffffff)), attribute(TABLE_ATTR, u32(table))]);
}

/** `ip route add local default dev <index> table <table>` for `family`: struct rtmsg, RTA_TABLE, RTA_OIF. */
export function localDefaultRouteMessage(family: 4 | 6, index: number, table: number, seq: number): Buffer {
  const rt = Buffer.alloc(12);
  rt.writeUInt8(family === 4 ? AF_INET : AF_INET6, 0);
  rt.writeUInt8(RTPROT_BOOT, 5);
  rt.writeUInt8(RT_SCOPE_HOST, 6);
  rt.writeUInt8(RTN_LOCAL, 7);
  return message(RTM_NEWROUTE, NEW, seq, rt, [attribute(TABLE_ATTR, u32(table)), attribute(RTA_OIF, u32(index))]);
}

/** The errno of an NLMSG_ERROR answer to request `seq` (0 is an ACK), or undefined if `answer` is not one. */
export function answerErrno(answer: Buffer, seq: number): number | undefined {
  if (answer.length < HEADER_SIZE + 4 || answer.readUInt16LE(4) !== NLMSG_ERROR || answer.readUInt32LE(8) !== seq) return undefined;
  const error = answer.readInt32LE(HEADER_SIZE);
  return error === 0 ? 0 : -error;
}

/**
 * Send each request (`what` names it in errors) and wait for its ACK, in order, in the calling thread's
 * network namespace. Throws a SysError for the first one the kernel refuses; false without native calls.
 */
export function rtnetlink(requests: Array<{ what: string; build(seq: number): Buffer }>): boolean {
  const c = socketCalls();
  const io = relayCalls();
  if (!c || !io) return false;
  const fd = check(c.koffi, 'socket(AF_NETLINK)', c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE));
  const answer = Buffer.alloc(8192);
  try {
    requests.forEach(({ what, build }, i) => {
      const msg = build(i + 1);
      // On a netlink socket, write and read are send and recv: one message each.
      check(c.koffi, what, io.write(fd, msg, msg.length));
      for (;;) {
        const n = check(c.koffi, what, io.read(fd, answer, answer.length));
        const errno = answerErrno(answer.subarray(0, n), i + 1);
        if (errno === undefined) continue;
        if (errno !== 0) throw new SysError(what, errno);
        break;
      }
    });
  } finally {
    c.close(fd);
  }
  return true;
}

const RTM_GETROUTE = 26;
const RTA_DST = 1;
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
