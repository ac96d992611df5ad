import type { LaunchOptions, NetDriverName } from '../options.js';
import { pastaDriver } from './pasta.js';
import { slirp4netnsDriver } from './slirp4netns.js';

/** `networkDriver` of `GET /v1/info`. */
export interface NetworkDriverInfo {
  driver: string;
  dns?: string[];
  childIP?: string;
  dynamicChildIP?: boolean;
}

/** What a network driver needs to know about the namespace process it serves. */
export interface NetworkContext {
  /** A process already in the namespace process' new user namespace (and network namespace, unless detached). */
  childPid: number;
  /** --detach-netns: the network namespace's bind mount, as seen in the namespace process' mount namespace. */
  detachedNetns?: string;
  stateDir: string;
  options: LaunchOptions;
  debug: (msg: string) => void;
}

/** A helper (slirp4netns, pasta) that has configured the namespace process' interface and is serving it. */
export interface RunningNetwork {
  /** `networkDriver` of `GET /v1/info`. */
  info: NetworkDriverInfo;
  /** Settles (never rejects) if the helper exits on its own; the reason says how (exit code/signal, output tail). */
  died: Promise<string>;
  /** Stops the helper, waits for it, removes its files (API socket...). Safe to call twice. */
  stop(): Promise<void>;
}

export interface NetworkDriver {
  /** Resolves once the interface inside is up and configured; rejects with the helper's reason otherwise. */
  start(ctx: NetworkContext): Promise<RunningNetwork>;
}

/**
 * The driver for `--net=NAME`, or null for `host` and `none` (no helper: the namespace process brings `lo` up itself).
 * `extraArgs` go to the helper before its target (the `implicit` port driver gives pasta `--tcp-ports auto ...`).
 */
export function networkDriver(name: NetDriverName, extraArgs: string[] = []): NetworkDriver | null {
  switch (name) {
    case 'slirp4netns':
      return slirp4netnsDriver(extraArgs);
    case 'pasta':
      return pastaDriver(extraArgs);
    case 'host':
    case 'none':
      return null;
  }
}
