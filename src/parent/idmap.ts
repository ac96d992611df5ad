import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { promisify } from 'node:util';
import { UserError } from '../errors.js';

const run = promisify(execFile);

/** A block of subordinate ids: `count` ids from `start`. */
export interface SubIdRange {
  start: number;
  count: number;
}

/**
 * Lines of /etc/subuid or /etc/subgid for a user, matched by name or by numeric id, as shadow-utils does.
 * Pure, for tests.
 */
export function parseSubIdFile(text: string, name: string, id: number): SubIdRange[] {
  const ranges: SubIdRange[] = [];
  for (const line of text.split('\n')) {
    const [owner, start, count] = line.trim().split(':');
    if (owner !== name && owner !== String(id)) continue;
    const range = { start: Number(start), count: Number(count) };
    if (Number.isSafeInteger(range.start) && Number.isSafeInteger(range.count) && range.count > 0) ranges.push(range);
  }
  return ranges;
}

/** `getsubids` prints `0: user 100000 65536` per range. Pure, for tests. */
export function parseGetsubidsOutput(text: string): SubIdRange[] {
  return [...text.matchAll(/^\s*\d+:\s+\S+\s+(\d+)\s+(\d+)\s*$/gm)].map((m) => ({ start: Number(m[1]), count: Number(m[2]) }));
}

/** newuidmap's arguments after the pid: the caller as 0, then each sub-id block from 1 up. Pure, for tests. */
export function mapArgs(ownId: number, ranges: SubIdRange[]): string[] {
  const args = ['0', String(ownId), '1'];
  let inside = 1;
  for (const r of ranges) {
    args.push(String(inside), String(r.start), String(r.count));
    inside += r.count;
  }
  return args;
}

type Kind = 'uid' | 'gid';
export type SubIdSource = 'auto' | 'dynamic' | 'static';

async function subIds(kind: Kind, source: SubIdSource, name: string, id: number): Promise<SubIdRange[]> {
  if (source !== 'static') {
    try {
      const { stdout } = await run('getsubids', kind === 'gid' ? ['-g', name] : [name]);
      return parseGetsubidsOutput(stdout);
    } catch (err) {
      if (source === 'dynamic') throw new UserError(`--subid-source=dynamic: getsubids failed: ${(err as Error).message.trim()}`);
    }
  }
  const text = await readFile(`/etc/sub${kind}`, 'utf8').catch(() => '');
  return parseSubIdFile(text, name, id);
}

async function writeMap(kind: Kind, pid: number, ownId: number, ranges: SubIdRange[]): Promise<void> {
  const tool = `new${kind}map`;
  try {
    await run(tool, [String(pid), ...mapArgs(ownId, ranges)]);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new UserError(`${tool} not found: install the Debian package "uidmap"`);
    throw new UserError(`${tool} failed: ${(e.stderr || e.message).trim()}`);
  }
}

/** Without sub-ids only our own id can be mapped, which an unprivileged process may write itself. */
async function writeSingleMaps(pid: number): Promise<void> {
  await writeFile(`/proc/${pid}/uid_map`, `0 ${process.getuid!()} 1\n`);
  await writeFile(`/proc/${pid}/setgroups`, 'deny\n');
  await writeFile(`/proc/${pid}/gid_map`, `0 ${process.getgid!()} 1\n`);
}

/**
 * Map the caller to 0 in the namespace process' user namespace, plus its sub-id ranges. The ranges are looked up at
 * once (getsubids takes a while), and the returned function writes the maps once the namespace process' pid exists.
 */
export function idMapWriter(source: SubIdSource, warn: (msg: string) => void): (pid: number) => Promise<void> {
  const name = userInfo().username;
  const uid = process.getuid!();
  const gid = process.getgid!();
  const ranges = Promise.all([subIds('uid', source, name, uid), subIds('gid', source, name, gid)]);
  // Awaited by the writer; until then a failure must not count as unhandled.
  ranges.catch(() => {});
  return async (pid) => writeIdMaps(pid, await ranges, { name, uid, gid }, warn);
}

async function writeIdMaps(
  pid: number,
  [uids, gids]: [SubIdRange[], SubIdRange[]],
  { name, uid, gid }: { name: string; uid: number; gid: number },
  warn: (msg: string) => void,
): Promise<void> {
  if (uids.length === 0 || gids.length === 0) {
    warn(`no subordinate ids for user ${name} in /etc/subuid and /etc/subgid: mapping only your own id to 0 (files owned by other ids will show as nobody)`);
    return writeSingleMaps(pid);
  }
  await Promise.all([writeMap('uid', pid, uid, uids), writeMap('gid', pid, gid, gids)]);
}
