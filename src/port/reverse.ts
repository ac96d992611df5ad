/**
 * Reverse ports: each a listener made inside the namespace (by the process there, handed over on the fd
 * channel) served by a relay engine in the parent, which dials the host: the builtin driver's engine the other
 * way round. The engine starts with the first reverse port, so nsgate without any pays nothing for it.
 */
import type { RelayEngine } from '../dataplane/engine.js';
import { UserError, errorMessage } from '../errors.js';
import { ENTRY } from '../entry/paths.js';
import type { Log } from '../log.js';
import type { InsideRequests } from '../parent/inside-requests.js';
import { socketCalls } from '../sys/socket.js';
import { formatReverseSpec, validateReverseSpec, type ReverseSpec } from './reverse-spec.js';
import { reverseStats, type ReverseStats } from './stats.js';

/** An entry of `GET /v1/reverse-ports`. */
export interface ReverseStatus {
  id: number;
  spec: ReverseSpec;
  stats?: ReverseStats;
}

/** What reverse ports need from the process in the namespace. */
export type NamespaceListener = Pick<InsideRequests, 'listenInside'>;

interface Entry {
  spec: ReverseSpec;
  key: string;
  /** Its forward's id in the engine: taken when the add starts, so that concurrent adds never share one. */
  relayId: number;
  /** The listener inside, whose copy the engine holds too. */
  fd: number;
}

export class ReverseManager {
  #engine: Promise<RelayEngine> | undefined;
  #nextId = 1;
  #nextRelayId = 1;
  readonly #entries = new Map<number, Entry>();
  /** Conflict key (proto, child IP, child port) -> who holds it, taken while an add runs. */
  readonly #claims = new Map<string, string>();

  constructor(private readonly inside: NamespaceListener, private readonly log: Pick<Log, 'error' | 'warn'>) {}

  list(): ReverseStatus[] {
    return [...this.#entries].map(([id, { spec }]) => ({ id, spec: { ...spec } }));
  }

  /** Each reverse port's traffic by id. */
  async stats(): Promise<Map<number, ReverseStats>> {
    const counters = this.#engine ? await (await this.#engine).stats() : new Map();
    return new Map([...this.#entries].map(([id, { spec, relayId }]) => [id, reverseStats(spec.proto, counters.get(relayId))]));
  }

  async add(input: ReverseSpec): Promise<ReverseStatus> {
    const spec = validateReverseSpec(input);
    const key = JSON.stringify([spec.proto, spec.childIP, spec.childPort]);
    const holder = this.#claims.get(key);
    if (holder !== undefined) throw new UserError(`reverse port ${formatReverseSpec(spec)} conflicts with ${holder} (same proto, child IP and child port)`);
    this.#claims.set(key, `${formatReverseSpec(spec)}, which is being added`);
    const relayId = this.#nextRelayId++;
    let fd: number | undefined;
    let engine: RelayEngine | undefined;
    try {
      fd = await this.inside.listenInside(spec.proto, spec.childIP, spec.childPort);
      engine = await (this.#engine ??= this.#startEngine());
      const target = { ip: spec.parentIP, port: spec.parentPort };
      if (spec.proto === 'tcp') await engine.addTcp(relayId, fd, target, false);
      else await engine.addUdp(relayId, fd, target, null);
    } catch (err) {
      await engine?.drop(relayId).catch(() => {});
      if (fd !== undefined) socketCalls()!.close(fd);
      this.#claims.delete(key);
      throw err;
    }
    const id = this.#nextId++;
    this.#entries.set(id, { spec, key, relayId, fd });
    this.#claims.set(key, `id ${id} (${formatReverseSpec(spec)})`);
    return { id, spec: { ...spec } };
  }

  async remove(id: number): Promise<void> {
    const entry = this.#entries.get(id);
    if (!entry) {
      const ids = [...this.#entries.keys()];
      throw new UserError(`no reverse port with id ${id} (${ids.length ? `existing ids: ${ids.join(', ')}` : 'there are no reverse ports'})`);
    }
    this.#entries.delete(id);
    try {
      await (await this.#engine!).drop(entry.relayId);
    } finally {
      socketCalls()!.close(entry.fd);
      this.#claims.delete(entry.key);
    }
  }

  async closeAll(): Promise<void> {
    await Promise.all(
      [...this.#entries.keys()].map((id) =>
        this.remove(id).catch((err: unknown) => this.log.error(`closing reverse port ${id}: ${errorMessage(err)}`)),
      ),
    );
  }

  /** A worker that dies takes its reverse ports' connections with it; the published ports and COMMAND go on. */
  async #startEngine(): Promise<RelayEngine> {
    const { RelayEngine } = await import('../dataplane/engine.js');
    const fatal = (message: string) => this.log.error(`reverse ports: ${message}`);
    return RelayEngine.start({ worker: ENTRY.relayWorker, fatal, warn: this.log.warn });
  }
}
