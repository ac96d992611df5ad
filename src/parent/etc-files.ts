import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { StateDir } from './state-dir.js';

/**
 * The files RootlessKit writes in the state dir when the namespace has a network, and the namespace process binds over
 * /etc's (with --detach-netns they are written and not used): `resolv.conf` naming the network's DNS, and
 * `hosts`, the host's plus this hostname on loopback (on the host it may name an address the namespace
 * does not have). Readable by every uid inside whatever the umask; removed with the state dir's files.
 */
export function writeEtcFiles(state: StateDir, dns: string[]): string[] {
  const name = hostname();
  const files: Array<[string, string]> = [
    ['resolv.conf', dns.map((ip) => `nameserver ${ip}\n`).join('')],
    ['hosts', `${hostsOfHost()}\n127.0.0.1 ${name}\n::1 ${name}\n`],
  ];
  return files.map(([file, text]) => {
    const path = state.file(file);
    writeFileSync(path, text);
    chmodSync(path, 0o644);
    return path;
  });
}

function hostsOfHost(): string {
  try {
    return readFileSync('/etc/hosts', 'utf8');
  } catch {
    return ''; // none on the host: the hostname's lines alone
  }
}
