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

/**
 * The client's sockaddr in the target's family (an IPv4 client of a dual-stack host socket arrives
 * v4-mapped), or null where it cannot be the source of a socket inside: another family, or loopback
 * (which stays loopback: the server inside has its own 127.0.0.1).
 */
export function clientSourceAddress(client: Buffer, targetFamily: number): Buffer | null {
  let addr = client;
  if (addr.readUInt16LE(0) !== AF_INET && targetFamily === AF_INET && addr.subarray(8, 20).equals(V4_MAPPED_PREFIX)) {
    addr = Buffer.alloc(16);
    addr.writeUInt16LE(AF_INET, 0);
    client.copy(addr, 2, 2, 4);
    client.copy(addr, 4, 20, 24);
  }
  if (addr.readUInt16LE(0) !== targetFamily || isLoopbackSockaddr(addr)) return null;
  return addr;
}
