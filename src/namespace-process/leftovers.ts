import { readdirSync, readlinkSync } from 'node:fs';

/**
 * SIGKILL every other process in our mount namespace: what COMMAND left running in the background.
 * The mount namespace tells them apart: only COMMAND's tree shares it (slirp4netns and pasta sandbox
 * themselves in mount namespaces of their own). The namespace is going away, as a pid namespace's
 * processes do when its init dies; without this they would outlive nsgate.
 */
export function killLeftovers(): void {
  const own = nsOf('self');
  const spare = new Set([process.pid, process.ppid]);
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || spare.has(pid) || nsOf(entry) !== own) continue;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function nsOf(pid: string): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}
