/**
 * The floor: a minimal relay in C (bench/floor/relay.c) with nsgate's builtin strategy (copy small reads,
 * splice bulk; recvmmsg/sendmmsg with GSO for UDP), in builtin's place: listeners on the host, targets
 * dialled inside the namespace. What it reaches is what a user-space relay of that design can reach on the
 * machine, without the cost of JavaScript and koffi.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './options.js';

const SOURCE = join(ROOT, 'bench/floor/relay.c');
/** Waits for the namespace, then starts the relay into it. */
export const FLOOR_LAUNCHER = join(ROOT, 'bench/floor/launch.sh');
const BINARY = join(ROOT, 'dist/bench/floor-relay');
let built = false;

/** The relay's path, built with cc once per benchmark run (throws with cc's output if that fails). */
export function floorRelay(): string {
  if (!built) {
    const r = spawnSync('cc', ['-O2', '-Wall', '-pthread', '-o', BINARY, SOURCE], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cc could not build ${SOURCE}: ${r.stderr || r.error?.message}`);
    built = true;
  }
  return BINARY;
}
