import { mkdirSync } from 'node:fs';
import { resolve, sep } from 'node:path';

/**
 * `mkdir -p DIR` with `mode` for each level it creates, one level at a time: Node's recursive mkdirSync never
 * returns where the kernel answers ENOENT to a mkdir whose parent exists (under /proc), so a path there would
 * hang instead of failing.
 */
export function makeDirs(dir: string, mode: number): void {
  const parts = resolve(dir).split(sep).filter(Boolean);
  for (let i = 1; i <= parts.length; i++) {
    try {
      mkdirSync(sep + parts.slice(0, i).join(sep), { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
