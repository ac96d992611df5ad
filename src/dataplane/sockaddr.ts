/** Facts about raw sockaddr bytes, without decoding them to text on the hot path. */
import { AF_INET } from '../sys/socket.js';

const V4_MAPPED_PREFIX = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]);
const V6_LOOPBACK = Buffer.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/** 127.0.0.0/8, ::1, or ::ffff:127.0.0.0/104. */
export function isLoopbackSockaddr(addr: Buffer): boolean {
  if (addr.readUInt16LE(0) === AF_INET) return addr[4] === 127;
  const ip = addr.subarray(8, 24);
  if (ip.equals(V6_LOOPBACK)) return true;
  return ip.subarray(0, 12).equals(V4_MAPPED_PREFIX) && ip[12] === 127;
}
