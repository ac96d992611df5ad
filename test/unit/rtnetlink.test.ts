import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answerErrno, fwmarkRuleMessage, linkUpMessage, localDefaultRouteMessage, localHostRouteMessage, udpSourcePortRuleMessage } from '../../src/sys/rtnetlink.js';

/** nlmsghdr fields: length, type, flags, sequence number. */
function header(msg: Buffer): [number, number, number, number] {
  return [msg.readUInt32LE(0), msg.readUInt16LE(4), msg.readUInt16LE(6), msg.readUInt32LE(8)];
}

/** The rtattrs after a body of `bodySize` bytes, as [type, data]. */
function attributes(msg: Buffer, bodySize: number): Array<[number, string]> {
  const found: Array<[number, string]> = [];
  for (let at = 16 + bodySize; at < msg.length; ) {
    const len = msg.readUInt16LE(at);
    found.push([msg.readUInt16LE(at + 2), msg.subarray(at + 4, at + len).toString('hex')]);
    at += (len + 3) & ~3;
  }
  return found;
}

const REQUEST_ACK_EXCL_CREATE = 0x1 | 0x4 | 0x200 | 0x400;
/** Each family as the builders take it, and its AF_ number in the message. */
const FAMILIES = [
  [4, 2],
  [6, 10],
] as const;

describe('route-netlink requests', () => {
  it('bring an interface up: RTM_NEWLINK, ifinfomsg with IFF_UP set and changed', () => {
    const msg = linkUpMessage(1, 7);
    assert.deepEqual(header(msg), [32, 16, 0x1 | 0x4, 7]);
    assert.equal(msg.readInt32LE(16 + 4), 1, 'interface index');
    assert.equal(msg.readUInt32LE(16 + 8), 1, 'flags');
    assert.equal(msg.readUInt32LE(16 + 12), 1, 'change mask');
  });

  it('ip rule add fwmark 100 lookup 27003: fib_rule_hdr, FRA_FWMARK, FRA_FWMASK of all bits, FRA_TABLE', () => {
    for (const [family, af] of FAMILIES) {
      const msg = fwmarkRuleMessage(family, 100, 27003, 1);
      assert.deepEqual(header(msg), [52, 32, REQUEST_ACK_EXCL_CREATE, 1]);
      assert.deepEqual([...msg.subarray(16, 28)], [af, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], 'family, no dst or src prefix, table in the attribute, FR_ACT_TO_TBL');
      assert.deepEqual(attributes(msg, 12), [
        [10, '64000000'],
        [16, 'ffffffff'],
        [15, '7b690000'],
      ]);
    }
  });

  it('ip route add local default dev lo table 27003: rtmsg for a local, host-scope route', () => {
    for (const [family, af] of FAMILIES) {
      const msg = localDefaultRouteMessage(family, 1, 27003, 2);
      assert.deepEqual(header(msg), [44, 24, REQUEST_ACK_EXCL_CREATE, 2]);
      assert.deepEqual([...msg.subarray(16, 24)], [af, 0, 0, 0, 0, 3, 254, 2], 'family, dst_len, src_len, tos, table, RTPROT_BOOT, RT_SCOPE_HOST, RTN_LOCAL');
      assert.deepEqual(attributes(msg, 12), [
        [15, '7b690000'],
        [4, '01000000'],
      ]);
    }
  });

  it('ip rule add|del iif lo ipproto udp sport 53 lookup 0x4e530001: FRA_IIFNAME, FRA_IP_PROTO, FRA_SPORT_RANGE (53-53, host order), FRA_TABLE', () => {
    for (const [family, af] of FAMILIES) {
      for (const [op, type, flags] of [['add', 32, REQUEST_ACK_EXCL_CREATE], ['del', 33, 0x1 | 0x4]] as const) {
        const msg = udpSourcePortRuleMessage(op, family, 53, 0x4e530001, 3);
        assert.deepEqual(header(msg), [60, type, flags, 3]);
        assert.deepEqual([...msg.subarray(16, 28)], [af, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
        assert.deepEqual(attributes(msg, 12), [
          [3, '6c6f00'],
          [22, '11'],
          [23, '35003500'],
          [15, '0100534e'],
        ]);
      }
    }
  });

  it('ip route add|del local 198.51.100.2/32 (2001:db8::2/128) dev lo src 127.0.0.1 (::1) table T', () => {
    const v4 = localHostRouteMessage('add', Buffer.from([198, 51, 100, 2]), Buffer.from([127, 0, 0, 1]), 1, 0x4e530001, 4);
    assert.deepEqual(header(v4), [60, 24, REQUEST_ACK_EXCL_CREATE, 4]);
    assert.deepEqual([...v4.subarray(16, 24)], [2, 32, 0, 0, 0, 3, 254, 2]);
    assert.deepEqual(attributes(v4, 12), [
      [15, '0100534e'],
      [1, 'c6336402'],
      [7, '7f000001'],
      [4, '01000000'],
    ]);
    const v6ip = Buffer.from('20010db8000000000000000000000002', 'hex');
    const v6 = localHostRouteMessage('del', v6ip, Buffer.from('00000000000000000000000000000001', 'hex'), 1, 7, 5);
    assert.deepEqual(header(v6), [84, 25, 0x1 | 0x4, 5]);
    assert.deepEqual([...v6.subarray(16, 24)], [10, 128, 0, 0, 0, 3, 254, 2]);
    assert.deepEqual(attributes(v6, 12)[1], [1, v6ip.toString('hex')]);
  });

  it("reads the kernel's answer: 0 for an ACK, the errno of a refusal, nothing for another message", () => {
    const answer = (type: number, seq: number, error: number) => {
      const b = Buffer.alloc(36);
      b.writeUInt32LE(36, 0);
      b.writeUInt16LE(type, 4);
      b.writeUInt32LE(seq, 8);
      b.writeInt32LE(error, 16);
      return b;
    };
    assert.equal(answerErrno(answer(2, 4, 0), 4), 0);
    assert.equal(answerErrno(answer(2, 4, -17), 4), 17, 'EEXIST');
    assert.equal(answerErrno(answer(2, 5, -1), 4), undefined, 'another request');
    assert.equal(answerErrno(answer(3, 4, 0), 4), undefined, 'NLMSG_DONE');
  });
});
