import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { UDP_FLOW_IDLE_MS } from '../../../dataplane/commands.js';
import type { PortForward, PortSpec } from '../../types.js';
import { childAddress, listenAddress, listenError } from '../../listen.js';

export type OpenUdp = (family: 4 | 6) => Promise<Socket>;

/** Datagrams kept per flow while its inner socket is being opened. */
const PENDING_LIMIT = 64;

interface Flow {
  inner?: Socket;
  pending: Buffer[];
  lastActive: number;
}

/**
 * Forward one published UDP port. Each client address gets its own flow: a socket inside the namespace,
 * so the server there sees distinct peers and its replies go back to the right client.
 */
export async function openUdpForward(spec: PortSpec, openInner: OpenUdp, idleMs = UDP_FLOW_IDLE_MS): Promise<PortForward> {
  const { host, ipv6Only } = listenAddress(spec);
  const listener = createSocket({ type: isIPv6(host) ? 'udp6' : 'udp4', ipv6Only });
  const flows = new Map<string, Flow>();
  const target = childAddress(spec);
  let closed = false;

  const endFlow = (key: string) => {
    flows.get(key)?.inner?.close();
    flows.delete(key);
  };

  const startFlow = (key: string, client: RemoteInfo): Flow => {
    const flow: Flow = { pending: [], lastActive: Date.now() };
    flows.set(key, flow);
    openInner(isIPv6(target) ? 6 : 4).then(
      (inner) => {
        if (closed || flows.get(key) !== flow) {
          inner.close();
          return;
        }
        flow.inner = inner;
        inner.on('error', () => endFlow(key));
        inner.on('message', (reply) => {
          flow.lastActive = Date.now();
          listener.send(reply, client.port, client.address);
        });
        for (const msg of flow.pending.splice(0)) inner.send(msg, spec.childPort, target);
      },
      () => flows.delete(key),
    );
    return flow;
  };

  listener.on('message', (msg, client) => {
    const key = `${client.address}|${client.port}`;
    const flow = flows.get(key) ?? startFlow(key, client);
    flow.lastActive = Date.now();
    if (flow.inner) flow.inner.send(msg, spec.childPort, target);
    else if (flow.pending.length < PENDING_LIMIT) flow.pending.push(msg);
  });

  await new Promise<void>((resolve, reject) => {
    listener.once('error', (err) => {
      listener.close();
      reject(listenError(spec, err));
    });
    listener.bind({ address: host, port: spec.parentPort, exclusive: true }, () => {
      listener.removeAllListeners('error');
      // A send error toward one client (ICMP unreachable) must not end the listener.
      listener.on('error', () => {});
      resolve();
    });
  });

  const sweep = setInterval(() => {
    const oldest = Date.now() - idleMs;
    for (const [key, flow] of flows) if (flow.lastActive < oldest) endFlow(key);
  }, Math.min(idleMs, 10_000));
  sweep.unref();

  return {
    parentPort: listener.address().port,
    close: async () => {
      closed = true;
      clearInterval(sweep);
      for (const key of [...flows.keys()]) endFlow(key);
      await new Promise<void>((resolve) => listener.close(() => resolve()));
    },
  };
}
