/** What the figures were measured on: they only compare within one machine and one run. */
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import { VERSION } from '../src/version.js';
import { referencePeer } from '../test/e2e/peers.js';
import { PROGRAMS, type Program, versionOf } from './programs.js';
import { round } from './results.js';

function distribution(): string | undefined {
  try {
    return readFileSync('/etc/os-release', 'utf8').match(/^PRETTY_NAME="?([^"\n]*)"?$/m)?.[1];
  } catch {
    return undefined;
  }
}

export function describeMachine(): Record<string, unknown> {
  const cores = cpus();
  const versions: Record<string, string | undefined> = { nsgate: VERSION };
  for (const name of Object.keys(PROGRAMS) as Program[]) versions[name] = versionOf(name);
  // The RootlessKit that ran is the reference peer, which need not be the one on PATH.
  const peer = referencePeer();
  if (peer) versions.rootlesskit = `rootlesskit version ${peer.version} (${peer.rootlesskit})`;
  return {
    cpus: cores.length,
    model: cores[0]?.model.trim(),
    memory_gib: round(totalmem() / 2 ** 30),
    kernel: release(),
    os: distribution(),
    node: process.version,
    versions,
  };
}
