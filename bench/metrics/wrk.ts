/** wrk against nginx through the published port: new connections per second, keep-alive rate and p99. */
import { run, tail } from '../procs.js';
import type { MetricGroup, Target } from './group.js';

const CONNECTIONS = 32;
const THREADS = 2;
const GRACE_MS = 10_000;
const MS_PER_UNIT: Record<string, number> = { us: 0.001, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

interface WrkSummary {
  rps: number;
  p99Ms: number;
  detail: Record<string, number>;
}

function number(output: string, pattern: RegExp): number | undefined {
  const m = output.match(pattern);
  return m ? Number(m[1]) : undefined;
}

/** Reads wrk's text report (wrk has no machine-readable output without a Lua script). */
function parse(output: string): WrkSummary {
  const rps = number(output, /^Requests\/sec:\s+([0-9.]+)/m);
  const p99 = output.match(/^\s+99%\s+([0-9.]+)(us|ms|s|m|h)\s*$/m);
  const requests = number(output, /^\s+([0-9]+) requests in/m);
  if (rps === undefined || p99 === null || !requests) throw new Error(`wrk: no requests completed: ${tail(output)}`);
  const detail: Record<string, number> = { requests };
  const errors = output.match(/Socket errors: connect ([0-9]+), read ([0-9]+), write ([0-9]+), timeout ([0-9]+)/);
  for (const [i, kind] of ['connect', 'read', 'write', 'timeout'].entries()) {
    const count = Number(errors?.[i + 1] ?? 0);
    if (count > 0) detail[`${kind}_errors`] = count;
  }
  const non2xx = number(output, /Non-2xx or 3xx responses: ([0-9]+)/);
  if (non2xx) detail.non_2xx = non2xx;
  return { rps, p99Ms: Number(p99[1]) * MS_PER_UNIT[p99[2]!]!, detail };
}

async function wrk(target: Target, headers: string[]): Promise<WrkSummary> {
  const { seconds } = target.settings;
  const url = `http://127.0.0.1:${target.ports.http}/`;
  const argv = ['wrk', '-t', String(THREADS), '-c', String(CONNECTIONS), '-d', `${seconds}s`, '--latency', ...headers, url];
  const r = await run(argv, seconds * 1000 + GRACE_MS);
  if (r.code !== 0) throw new Error(`wrk exited ${r.code}: ${tail(r.stderr + r.stdout)}`);
  return parse(r.stdout);
}

const estimateSeconds = (s: { seconds: number }) => s.seconds + 0.3;

export const connections: MetricGroup = {
  label: 'wrk Connection: close',
  metrics: ['conn_per_s'],
  client: 'wrk',
  estimateSeconds,
  async measure(target) {
    const { rps, detail } = await wrk(target, ['-H', 'Connection: close']);
    return [{ metric: 'conn_per_s', value: rps, detail }];
  },
};

export const keepAlive: MetricGroup = {
  label: 'wrk keep-alive',
  metrics: ['keepalive_rps', 'p99_ms'],
  client: 'wrk',
  estimateSeconds,
  async measure(target) {
    const { rps, p99Ms, detail } = await wrk(target, []);
    return [
      { metric: 'keepalive_rps', value: rps, detail },
      { metric: 'p99_ms', value: p99Ms },
    ];
  },
};
