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
    // Fields: sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
    for (const line of text.split('\n').slice(1)) {
      const [, local = '', , state, , , , , , inode = ''] = line.trim().split(/\s+/);
      if (state === READY_STATE[kind] && Number.parseInt(local.split(':')[1] ?? '', 16) === port && inodes.has(inode)) return true;
    }
  }
  return false;
}

async function socketInodes(pid: number): Promise<Set<string>> {
  const fds = await readdir(`/proc/${pid}/fd`).catch(() => []);
  const links = await Promise.all(fds.map((fd) => readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')));
  return new Set(links.map((link) => /^socket:\[(\d+)\]$/.exec(link)?.[1]).filter((inode): inode is string => inode !== undefined));
}
