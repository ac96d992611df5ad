import { constants } from 'node:os';

/** A process's exit as a shell reports it: the code, or 128 + the number of the signal that killed it. */
export function exitStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? constants.signals[signal] : 0);
}
