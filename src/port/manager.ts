/** The port manager: ids, conflicts, and add/remove that either fully happen or not at all. */

import { UserError, errorMessage } from '../errors.js';
import { formatPortSpec, validatePortSpec } from './spec.js';
import type { Log } from '../log.js';
import type { PortDriver, PortForward, PortService, PortSpec, PortStatus } from './types.js';

interface Entry {
  spec: PortSpec;
  forward: PortForward;
  key: string;
}

export class PortManager implements PortService {
  readonly #driver: PortDriver;
  #nextId = 1;
  /** Open ports by id; ids are inserted in increasing order, so iteration is by id. */
  readonly #entries = new Map<number, Entry>();
  /**
   * Conflict key -> who holds it, for the conflict message. A key is taken synchronously
   * when an add starts and released only once its port is closed (or failed to open), so
   * concurrent adds cannot both pass the check and a removed port's socket is gone first.
   */
  readonly #claims = new Map<string, string>();

  /** `log` hears of the ports that fail to close when all are closed. */
  constructor(driver: PortDriver, private readonly log: Pick<Log, 'error'>) {
    this.#driver = driver;
  }

  list(): PortStatus[] {
    return [...this.#entries].map(([id, { spec, forward }]) => ({ id, spec: { ...spec }, ...(forward.state ? { state: forward.state() } : {}) }));
  }

  async add(input: PortSpec): Promise<PortStatus> {
    const spec = validatePortSpec(input);
    const key = conflictKey(spec);
    const holder = this.#claims.get(key);
    if (holder !== undefined) {
      throw new UserError(`port ${formatPortSpec(spec)} conflicts with ${holder} (same proto, parent IP and parent port)`);
    }
    this.#claims.set(key, `${formatPortSpec(spec)}, which is being added`);
    let forward: PortForward;
    try {
      forward = await this.#driver.open({ ...spec });
    } catch (err) {
      this.#claims.delete(key);
      throw err;
    }
    const id = this.#nextId++;
    this.#entries.set(id, { spec, forward, key });
    this.#claims.set(key, portLabel(id, spec));
    return { id, spec: { ...spec } };
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
