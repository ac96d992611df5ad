/** Helpers for the published-port suites: curl, and a taken host port. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import type { ApiClient } from '../../src/api/client.js';
import type { PortSpec } from '../../src/port/types.js';
import { probe } from './clients.js';
import { freePort } from './harness.js';

export function curl(port: number): string {
  const r = spawnSync('curl', ['-sS', '--max-time', '5', `http://127.0.0.1:${port}/`], { encoding: 'utf8' });
  return r.stdout || r.stderr;
}

/** Hold a host port as another program would, for the taken-port cases. */
export async function holdPort(port: number): Promise<Server> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

/** Adding `spec` on a port someone holds fails with `message`, leaves the port list as it was and nothing listening. */
export async function assertTakenPortRefused(api: ApiClient, spec: (port: number) => PortSpec, message: RegExp): Promise<number> {
  const port = await freePort();
  const taken = await holdPort(port);
  const list = await api.listPorts();
  await assert.rejects(api.addPort(spec(port)), message);
  assert.deepEqual(await api.listPorts(), list);
  await new Promise((resolve) => taken.close(resolve));
  assert.equal(await probe('127.0.0.1', port), 'refused', 'nothing left listening');
  return port;
}
