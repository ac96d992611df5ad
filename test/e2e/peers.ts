/**
 * The RootlessKit builds the tests and the benchmark compare nsgate with, found in one place: the reference,
 * v2.3.4 as scripts/build-peers.sh builds it (Debian's package, 1.1.0, where it was not built), and the newest
 * v3 when one was built. Each is labelled with the version its own `--version` prints, so a test can say which
 * one ran.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export interface Peer {
  /** As `rootlesskit --version` prints it: "2.3.4". */
  version: string;
  rootlesskit: string;
  rootlessctl: string;
}

/** Where scripts/build-peers.sh installs the builds, one directory per version ("v2.3.4"). */
export const PEERS_DIR = process.env.NSGATE_PEERS_DIR ?? '/opt/nsgate-peers';
export const REFERENCE_VERSION = '2.3.4';
/** Debian's package: the reference when no build is there. */
const PACKAGED = '/usr/bin';

/** Runnable by others: the tests run the peers as an unprivileged user. */
function runnableByAll(path: string): boolean {
  try {
    const { mode } = statSync(path);
    return (mode & 0o005) === 0o005;
  } catch {
    return false;
  }
}

/** rootlesskit and rootlessctl in `dir`, with the version rootlesskit reports; undefined if either is missing. */
function peerIn(dir: string): Peer | undefined {
  const rootlesskit = join(dir, 'rootlesskit');
  const rootlessctl = join(dir, 'rootlessctl');
  if (!runnableByAll(rootlesskit) || !runnableByAll(rootlessctl)) return undefined;
  const out = spawnSync(rootlesskit, ['--version'], { encoding: 'utf8', timeout: 5_000 }).stdout ?? '';
  const version = out.match(/^rootlesskit version (\S+)$/m)?.[1];
  return version === undefined ? undefined : { version, rootlesskit, rootlessctl };
}

/** "3.10.0" -> [3, 10, 0], for ordering. */
const numbers = (version: string): number[] => version.split('.').map(Number);

function newer(a: string, b: string): number {
  const [x, y] = [numbers(a), numbers(b)];
  for (let i = 0; i < Math.max(x.length, y.length); i++) if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) - (y[i] ?? 0);
  return 0;
}

function builtVersions(major: number): string[] {
  let entries: string[];
  try {
    entries = readdirSync(PEERS_DIR);
  } catch {
    return [];
  }
  return entries
    .filter((name) => new RegExp(`^v${major}\\.\\d+\\.\\d+$`).test(name))
    .map((name) => name.slice(1))
    .sort((a, b) => newer(b, a));
}

let found: { reference: Peer | undefined; newest: Peer | undefined } | undefined;

function find(): NonNullable<typeof found> {
  found ??= {
    reference: peerIn(join(PEERS_DIR, `v${REFERENCE_VERSION}`)) ?? peerIn(PACKAGED),
    newest: builtVersions(3).map((version) => peerIn(join(PEERS_DIR, `v${version}`))).find((peer) => peer !== undefined),
  };
  return found;
}

/** The RootlessKit nsgate must behave as: v2.3.4 when built, else Debian's; undefined when neither is there. */
export function referencePeer(): Peer | undefined {
  return find().reference;
}

/** The newest v3 build, if scripts/build-peers.sh made one. */
export function newestPeer(): Peer | undefined {
  return find().newest;
}

/** Debian's package (1.1.0 on Debian 12), if installed: its rootlessctl is the one distributions ship. */
export function packagedPeer(): Peer | undefined {
  return peerIn(PACKAGED);
}

/** "RootlessKit 2.3.4 (/opt/nsgate-peers/v2.3.4/rootlesskit)", for a test's diagnostic line. */
export function describePeer(peer: Peer): string {
  return `RootlessKit ${peer.version} (${peer.rootlesskit})`;
}

/** Why a test that needs a peer is skipped. */
export const NO_PEER = `no RootlessKit: neither ${PEERS_DIR}/v${REFERENCE_VERSION} (scripts/build-peers.sh, needs Go) nor ${PACKAGED}/rootlesskit (Debian package rootlesskit)`;
