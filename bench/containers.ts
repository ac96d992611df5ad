/**
 * Containers on nsgate, side by side (issue 15): Debian's Docker 20.10 rootless with nsgate as its rootlesskit,
 * once with `--port-driver=bypass` and once with `builtin`, both running at once, against the host's own client.
 * - outgoing: iperf3 in a container to an iperf3 server in a test netns behind a veth (198.51.100.130);
 * - inbound: the host's iperf3 to an iperf3 server in a container published with `-p 127.0.0.1:PORT:5201`.
 * Rounds alternate host, bypass, builtin; medians are printed. Not part of `npm run bench` (it needs root, Docker
 * and the test user nsgdocker, as test/e2e/docker-rootless.ts): `sudo node dist/bench/containers.js [SECONDS] [ROUNDS]`.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { killDockerUserProcesses, missingForDocker, RootlessDocker, writeImageTarball } from '../test/e2e/docker-rootless.js';
import { createClientNetns, freePort, IS_ROOT, startAsUser } from '../test/e2e/harness.js';

const SECONDS = Number(process.argv[2] ?? 5);
const ROUNDS = Number(process.argv[3] ?? 3);
const OUTSIDE = { netns: 'nsgate-bench-out', veth: 'nsgbench-host', hostIP: '198.51.100.129', clientIP: '198.51.100.130', prefix: 25 };
const IPERF3 = '/usr/bin/iperf3';
const DRIVERS = ['bypass', 'builtin'] as const;

/** Received Gbit/s of an iperf3 -J report (a client's output may have lines before its JSON). */
function gbps(json: string): number {
  const report = JSON.parse(json.slice(json.indexOf('{'))) as { error?: string; end: { sum_received?: { bits_per_second: number } } };
  if (!report.end.sum_received) throw new Error(`iperf3: ${report.error ?? 'no result'}`);
  return report.end.sum_received.bits_per_second / 1e9;
}

const client = (host: string, port = 5201) => [IPERF3, '-c', host, '-p', String(port), '-t', String(SECONDS), '-J'];

async function main(): Promise<void> {
  const missing = missingForDocker();
  if (!IS_ROOT || missing) throw new Error(`needs root and Docker rootless (${missing ?? 'run it as root'})`);
  killDockerUserProcesses();
  const outside = createClientNetns(OUTSIDE);
  const server = startAsUser(IPERF3, ['-s', '-B', OUTSIDE.clientIP], { user: 'root', netns: outside.netns });
  const daemons: { driver: (typeof DRIVERS)[number]; docker: RootlessDocker; port: number }[] = [];
  const results = new Map<string, number[]>();
  const record = (what: string, value: number) => results.set(what, [...(results.get(what) ?? []), value]);
  try {
    for (const driver of DRIVERS) {
      const docker = new RootlessDocker(undefined, { DOCKERD_ROOTLESS_ROOTLESSKIT_PORT_DRIVER: driver });
      daemons.push({ driver, docker, port: await freePort() });
      await docker.ready();
      await docker.docker('import', writeImageTarball(docker.dir, randomBytes(16), [IPERF3]), 'nsgate-bench');
      await docker.docker('run', '-d', '--tmpfs', '/tmp', '-p', `127.0.0.1:${daemons.at(-1)!.port}:5201`, 'nsgate-bench', IPERF3, '-s');
    }
    for (let round = 1; round <= ROUNDS; round++) {
      const [file, ...args] = client(OUTSIDE.clientIP);
      record('outgoing, host', gbps(execFileSync(file!, args, { encoding: 'utf8' })));
      for (const { driver, docker, port } of daemons) {
        record(`outgoing, container, ${driver}`, gbps(await docker.docker('run', '--rm', '--tmpfs', '/tmp', 'nsgate-bench', ...client(OUTSIDE.clientIP))));
        const [inFile, ...inArgs] = client('127.0.0.1', port);
        record(`inbound -p, container, ${driver}`, gbps(execFileSync(inFile!, inArgs, { encoding: 'utf8' })));
      }
      process.stderr.write(`round ${round}/${ROUNDS} done\n`);
    }
  } finally {
    for (const { docker } of daemons) await docker.shutDown();
    server.kill('SIGKILL');
    outside.remove();
  }
  for (const [what, values] of results) {
    const median = [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    console.log(`${what.padEnd(30)} median ${median.toFixed(2)} Gbit/s (rounds: ${values.map((v) => v.toFixed(2)).join(', ')})`);
  }
}

await main();
