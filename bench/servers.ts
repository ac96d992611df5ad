/** The servers measured through each case: iperf3 and nginx, configured in a private directory. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Ports } from './cases.js';

export interface Listen extends Ports {
  /** Address to bind; all addresses when undefined (inside a namespace). */
  host?: string;
}

/** nginx's open-connection limit: the idle connections plus room for wrk. */
const connectionRoom = (idleConnections: number) => idleConnections + 1_024;

const STATIC_FILE_BYTES = 1_024;

/**
 * nginx runs as one process (master_process off) as "root": root in a user namespace cannot switch
 * to nobody (often unmapped) nor call initgroups (setgroups is denied under pasta). Outside a
 * namespace nginx ignores `user` with a warning.
 */
function nginxConf(dir: string, listen: Listen, idleConnections: number): string {
  const address = listen.host ? `${listen.host}:${listen.http}` : String(listen.http);
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${dir}/${kind};`);
  return `master_process off;
user root root;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections ${connectionRoom(idleConnections)}; }
http {
  access_log off;
  keepalive_requests 1000000;
${temp.join('\n')}
  server {
    listen ${address};
    root ${dir}/www;
  }
}
`;
}

/** Writes the servers' files into `dir` (owned by the test user) and returns the command that runs them. */
export function serversCommand(dir: string, listen: Listen, opts: { iperf3: boolean; idleConnections: number }): string[] {
  mkdirSync(join(dir, 'www'));
  writeFileSync(join(dir, 'www/index.html'), 'x'.repeat(STATIC_FILE_BYTES));
  writeFileSync(join(dir, 'nginx.conf'), nginxConf(dir, listen, opts.idleConnections));
  const bind = listen.host ? ` -B ${listen.host}` : '';
  const iperf3 = opts.iperf3 ? `iperf3 -s -p ${listen.iperf}${bind} >"$1/iperf3.log" 2>&1 & ` : '';
  return ['sh', '-c', `${iperf3}exec nginx -e "$1/error.log" -p "$1" -c "$1/nginx.conf"`, 'sh', dir];
}
