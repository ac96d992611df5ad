/** The port manager: ids, conflicts, and add/remove that either fully happen or not at all. */

import { UserError, errorMessage } from '../errors.js';
import { expandPortRange, formatPortSpec, validatePortRangeSpec, validatePortSpec } from './spec.js';
import type { Log } from '../log.js';
import { portStats } from './stats.js';
import type { PortDriver, PortForward, PortRangeSpec, PortService, PortSpec, PortStats, PortStatus } from './types.js';

interface Entry {
  spec: PortSpec;
  forward: PortForward;
  key: string;
}

/** Ports of a range opened at once: enough to overlap the round trips, few enough not to flood the fd channel. */
const OPEN_CONCURRENCY = 32;

export class PortManager implements PortService {
  readonly #driver: PortDriver;
  #nextId = 1;
  /** Open ports by id; ids are inserted in increasing order, so iteration is by id. */
  readonly #entries = new Map<number, Entry>();
  /**
   * Conflict key -> who holds it, for the conflict message. A key is taken synchronously
   * when an add starts and released only once its port is closed (or failed to open), so
   * concurrent adds cannot both pass the check and a removed port's socket is gone first.
   * A parent port 0 takes its key once the kernel has picked the port.
   */
  readonly #claims = new Map<string, string>();

  /** `log` hears of the ports that fail to close when all are closed. */
  constructor(driver: PortDriver, private readonly log: Pick<Log, 'error'>) {
    this.#driver = driver;
  }

  list(): PortStatus[] {
    return [...this.#entries].map(([id, { spec, forward }]) => ({ id, spec: { ...spec }, ...(forward.state ? { state: forward.state() } : {}) }));
  }

  /** Each port's traffic by id, from drivers that count (undefined from the others). */
  async stats(): Promise<Map<number, PortStats> | undefined> {
    if (!this.#driver.counters) return undefined;
    const counters = await this.#driver.counters();
    const stats = new Map<number, PortStats>();
    for (const [id, { spec, forward }] of this.#entries) {
      stats.set(id, portStats(spec.proto, forward.countersKey === undefined ? undefined : counters.get(forward.countersKey)));
    }
    return stats;
  }

  async add(input: PortSpec): Promise<PortStatus> {
    const spec = validatePortSpec(input);
    return (await this.#addAll(spec, [spec]))[0]!;
  }

  /** Adds one port or a range of them, all or none; the entries come back in port order. */
  async addRange(input: PortRangeSpec): Promise<PortStatus[]> {
    const range = validatePortRangeSpec(input);
    return this.#addAll(range, expandPortRange(range));
  }

  async #addAll(range: PortRangeSpec, specs: PortSpec[]): Promise<PortStatus[]> {
    if (range.parentPort === 0 && !this.#driver.picksParentPort) {
      throw new UserError(`parent port 0 (a free port the kernel picks) is not supported by the ${this.#driver.info().driver} port driver: give a port number (--port-driver=builtin can pick one)`);
    }
    const keys = specs.map((spec) => (spec.parentPort === 0 ? undefined : conflictKey(spec)));
    keys.forEach((key, i) => {
      const holder = key === undefined ? undefined : this.#claims.get(key);
      if (holder !== undefined) {
        const which = specs.length > 1 ? `port ${formatPortSpec(specs[i]!)} of the range ${formatPortSpec(range)} (none of it added)` : `port ${formatPortSpec(specs[i]!)}`;
        throw new UserError(`${which} conflicts with ${holder} (same proto, parent IP and parent port)`);
      }
    });
    const adding = `${formatPortSpec(range)}, which is being added`;
    for (const key of keys) if (key !== undefined) this.#claims.set(key, adding);
    const release = () => keys.forEach((key) => key !== undefined && this.#claims.delete(key));
    let forwards: PortForward[];
    try {
      forwards = await this.#openAll(range, specs);
    } catch (err) {
      release();
      throw err;
    }
    const opened = specs.map((spec, i) => ({ ...spec, parentPort: forwards[i]!.parentPort ?? spec.parentPort }));
    // The kernel's pick is free on the host, but a string-keyed claim (0.0.0.0 against an empty IP) may hold it.
    const picked = opened.map((spec, i) => (keys[i] === undefined ? conflictKey(spec) : undefined));
    const taken = picked.findIndex((key) => key !== undefined && this.#claims.has(key));
    if (taken >= 0) {
      release();
      await Promise.all(forwards.map((f) => f.close().catch(() => {})));
      throw new UserError(`the port the kernel picked, ${formatPortSpec(opened[taken]!)}, conflicts with ${this.#claims.get(picked[taken]!)}: try again`);
    }
    return opened.map((spec, i) => {
      const id = this.#nextId++;
      const key = keys[i] ?? picked[i]!;
      this.#entries.set(id, { spec, forward: forwards[i]!, key });
      this.#claims.set(key, portLabel(id, spec));
      return { id, spec: { ...spec } };
    });
  }

  /** Opens every port of `specs`, OPEN_CONCURRENCY at a time; if one fails, closes the others and throws its error. */
  async #openAll(range: PortRangeSpec, specs: PortSpec[]): Promise<PortForward[]> {
    const forwards: PortForward[] = [];
    let failure: { error: unknown; spec: PortSpec } | undefined;
    let next = 0;
    const opener = async (): Promise<void> => {
      while (failure === undefined && next < specs.length) {
        const i = next++;
        try {
          forwards[i] = await this.#driver.open({ ...specs[i]! });
        } catch (error) {
          failure ??= { error, spec: specs[i]! };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(OPEN_CONCURRENCY, specs.length) }, opener));
    if (failure === undefined) return forwards;
    await Promise.all(forwards.map((forward) => forward?.close().catch(() => {})));
    const { error, spec } = failure;
    if (specs.length === 1 || !(error instanceof UserError)) throw error;
    throw new UserError(`the range ${formatPortSpec(range)} was not added (no port of it is open): port ${formatPortSpec(spec)}: ${error.message}`);
  }

  async remove(id: number): Promise<void> {
    const entry = this.#take(id);
    this.#claims.set(entry.key, `${portLabel(id, entry.spec)}, which is being removed`);
    try {
      await entry.forward.close();
    } finally {
      this.#claims.delete(entry.key);
    }
  }

  /** Closes every port (logging failures, so one bad port does not keep the others open), then stops the driver. */
  async closeAll(): Promise<void> {
    await Promise.all(
      [...this.#entries.keys()].map((id) =>
        this.remove(id).catch((err: unknown) => this.log.error(`closing port ${id}: ${errorMessage(err)}`)),
      ),
    );
    await this.#driver.stop();
  }

  /** Unregisters `id` at once, so that of two concurrent removes only one gets the entry. */
  #take(id: number): Entry {
    const entry = this.#entries.get(id);
    if (!entry) {
      const ids = [...this.#entries.keys()];
      throw new UserError(`no port with id ${id} (${ids.length ? `existing ids: ${ids.join(', ')}` : 'there are no ports'})`);
    }
    this.#entries.delete(id);
    return entry;
  }
}

/** RootlessKit compares the parent IP as a string: absent, 0.0.0.0 and :: are three different keys. */
function conflictKey(spec: PortSpec): string {
  return JSON.stringify([spec.proto, spec.parentIP ?? '', spec.parentPort]);
}

function portLabel(id: number, spec: PortSpec): string {
  return `id ${id} (${formatPortSpec(spec)})`;
}
