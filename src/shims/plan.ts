/**
 * `nsgate-shims`, the pure part: its command line, the shim scripts, and what to do with each name in DIR
 * given what is there now. Docker's dockerd-rootless.sh looks for `docker-rootlesskit`, then `rootlesskit`, on
 * PATH, nerdctl's containerd-rootless.sh for `rootlesskit`; both tell users to run `rootlessctl`.
 */
import { join } from 'node:path';

import { UserError } from '../errors.js';

export const USAGE = 'nsgate-shims DIR [--force] [--remove]';

/** The shims, each with the nsgate executable (a file beside nsgate-shims.js) it runs. */
export const SHIMS: readonly { name: string; runs: 'nsgate.js' | 'nsgatectl.js' }[] = [
  { name: 'rootlesskit', runs: 'nsgate.js' },
  { name: 'docker-rootlesskit', runs: 'nsgate.js' },
  { name: 'rootlessctl', runs: 'nsgatectl.js' },
];

/** The second line of every shim: how nsgate-shims knows its own (anything else is left alone). */
export const SHIM_MARKER = '# nsgate shim: written by nsgate-shims, removed by nsgate-shims --remove';
const SHEBANG = '#!/bin/sh';

export type ShimsCommand =
  | { kind: 'help' }
  | { kind: 'write'; dir: string; force: boolean }
  | { kind: 'remove'; dir: string };

/** Parses nsgate-shims' argv (without node and the script); throws UserError on anything else. */
export function parseShimsArgs(argv: readonly string[]): ShimsCommand {
  const dirs: string[] = [];
  let force = false;
  let remove = false;
  let flagsDone = false;
  for (const arg of argv) {
    if (flagsDone || !arg.startsWith('-') || arg === '-') dirs.push(arg);
    else if (arg === '--') flagsDone = true;
    else if (arg === '--help' || arg === '-h') return { kind: 'help' };
    else if (arg === '--force') force = true;
    else if (arg === '--remove') remove = true;
    else throw new UserError(`unknown flag ${JSON.stringify(arg)}: allowed flags are --force, --remove and --help (usage: ${USAGE})`);
  }
  if (dirs.length !== 1) {
    const got = dirs.length === 0 ? 'none' : dirs.map((d) => JSON.stringify(d)).join(', ');
    throw new UserError(`expected one DIR, got ${got} (usage: ${USAGE})`);
  }
  const dir = dirs[0]!;
  if (dir === '') throw new UserError(`DIR is empty (usage: ${USAGE})`);
  if (remove && force) throw new UserError('--remove and --force do not go together: --remove only ever deletes nsgate\'s own shims');
  return remove ? { kind: 'remove', dir } : { kind: 'write', dir, force };
}

/** `s` as one sh word, whatever it holds. */
export function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** A shim: absolute paths, so it works whatever PATH the caller has (a systemd user unit's has no nvm node). */
export function shimScript(node: string, entry: string): string {
  return `${SHEBANG}\n${SHIM_MARKER}\nexec ${shQuote(node)} ${shQuote(entry)} "$@"\n`;
}

/** Whether a file that starts with `head` is a shim that nsgate-shims wrote. */
export function isShim(head: string): boolean {
  const [first, second] = head.split('\n');
  return first === SHEBANG && second === SHIM_MARKER;
}

/** What is at a shim's path now. */
export type Existing =
  | { kind: 'missing' }
  | { kind: 'shim' }
  /** A file or symlink that is not a shim (a real RootlessKit); `what` describes it for messages. */
  | { kind: 'foreign'; what: string }
  /** Something a shim cannot replace: a directory, a socket, a device. */
  | { kind: 'unreplaceable'; what: string };

export type Step =
  | { action: 'write'; path: string; runs: string; replaces?: string }
  | { action: 'remove'; path: string }
  | { action: 'leave'; path: string; why: string };

/**
 * What nsgate-shims does with each shim in `cmd.dir`, given what is there (`existing(path)`). One path it may not
 * touch stops the whole command before anything is written.
 */
export function planShims(cmd: Exclude<ShimsCommand, { kind: 'help' }>, existing: (path: string) => Existing): Step[] {
  const steps: Step[] = [];
  const refused: string[] = [];
  for (const { name, runs } of SHIMS) {
    const path = join(cmd.dir, name);
    const now = existing(path);
    if (cmd.kind === 'remove') {
      if (now.kind === 'shim') steps.push({ action: 'remove', path });
      else if (now.kind !== 'missing') steps.push({ action: 'leave', path, why: `not an nsgate shim (${now.what})` });
    } else if (now.kind === 'missing' || now.kind === 'shim') {
      steps.push({ action: 'write', path, runs });
    } else if (now.kind === 'foreign' && cmd.force) {
      steps.push({ action: 'write', path, runs, replaces: now.what });
    } else if (now.kind === 'foreign') {
      refused.push(`${path} is not an nsgate shim (${now.what}): --force replaces it`);
    } else {
      refused.push(`${path} is ${now.what}: only a file can be replaced by a shim`);
    }
  }
  if (refused.length > 0) throw new UserError(`nothing written: ${refused.join('; ')}`);
  return steps;
}
