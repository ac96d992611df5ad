/** One measurement step of a case run: what it reports, what it needs, how long it takes. */
import type { Ports } from '../cases.js';
import type { Settings } from '../options.js';
import type { Program } from '../programs.js';
import type { MetricName } from './catalog.js';

/** A running case, as the clients see it. */
export interface Target {
  ports: Ports;
  /** The forwarding process on the host (nsgate's or RootlessKit's parent, pasta); null for direct. */
  parentPid: number | null;
  settings: Settings;
}

export interface Measured {
  metric: MetricName;
  value: number;
  /** Raw figures behind the value, kept with the run. */
  detail?: Record<string, number>;
}

export interface MetricGroup {
  /** Shown in the progress line. */
  label: string;
  metrics: readonly MetricName[];
  /** The client program it runs, if any. */
  client?: Program;
  /** Only meaningful with a forwarding process (not for direct). */
  forwarderOnly?: boolean;
  estimateSeconds(settings: Settings): number;
  measure(target: Target): Promise<Measured[]>;
}
