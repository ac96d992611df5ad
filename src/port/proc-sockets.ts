import { readFileSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';

/** /proc/net/tcp* state of a listening socket, /proc/net/udp* state of a bound, unconnected one. */
const READY_STATE = { tcp: '0A', udp: '07' } as const;

/**
 * Whether process `pid` holds a socket on local port `port` that is listening (TCP) or bound (UDP),
 * by the kernel's own tables: its fds' socket inodes matched against /proc/PID/net/{tcp,tcp6} or {udp,udp6}.
 */
export async function holdsPortSocket(pid: number, kind: 'tcp' | 'udp', port: number): Promise<boolean> {
  const inodes = await socketInodes(pid);
  if (inodes.size === 0) return false;
  for (const table of [kind, `${kind}6`]) {
    const text = await readFile(`/proc/${pid}/net/${table}`, 'utf8').catch(() => '');
    if (rows(text).some((r) => r.state === READY_STATE[kind] && r.port === port && inodes.has(r.inode))) return true;
  }
  return false;
}

/** The inodes of every TCP and UDP socket of this process' network namespace (to tell whether a given socket still exists). */
export function liveSocketInodes(): Set<string> {
  const tables = ['tcp', 'tcp6', 'udp', 'udp6'].map((table) => {
    try {
      return readFileSync(`/proc/self/net/${table}`, 'utf8');
    } catch {
      return '';
    }
  });
  return new Set(tables.flatMap((text) => rows(text).map((r) => r.inode)));
}

/** The rows of a /proc/net/{tcp,udp}* table. Fields: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ... */
function rows(text: string): { port: number; state: string; inode: string }[] {
  return text
    .split('\n')
    .slice(1)
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [, local = '', , state = '', , , , , , inode = ''] = line.trim().split(/\s+/);
      return { port: Number.parseInt(local.split(':')[1] ?? '', 16), state, inode };
    });
}

async function socketInodes(pid: number): Promise<Set<string>> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
  const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  return new Set(links.map((link) => /^socket:\[(\d+)\]$/.exec(link)?.[1]).filter((inode): inode is string => inode !== undefined));
}
