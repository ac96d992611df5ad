/**
 * The one door to native code: libc through koffi. Every other module in src/sys declares its
 * functions on the library returned here; nothing outside src/sys imports koffi.
 *
 * koffi is loaded lazily and may be missing (an unsupported platform, a failed install): callers ask
 * `native()` and get null, so the pure-JS paths keep working.
 */
import { createRequire } from 'node:module';
import { constants } from 'node:os';
import type * as Koffi from 'koffi';
import { errorMessage } from '../errors.js';

export type KoffiModule = typeof Koffi;
export type Library = ReturnType<KoffiModule['load']>;

interface Loaded {
  readonly koffi: KoffiModule;
  readonly lib: Library;
}

let loaded: Loaded | null | undefined;
let loadError: string | undefined;

function load(): Loaded | null {
  if (loaded !== undefined) return loaded;
  try {
    // createRequire: koffi is CommonJS with a native addon; a static import would make it mandatory.
    const koffi = createRequire(import.meta.url)('koffi') as KoffiModule;
    loaded = { koffi, lib: koffi.load('libc.so.6') };
  } catch (err) {
    // The first line: Node appends the whole require stack to "Cannot find module".
    loadError = errorMessage(err).split('\n')[0];
    loaded = null;
  }
  return loaded;
}

/** koffi and libc, or null when native calls are unavailable here (see `nativeUnavailableReason`). */
export function native(): Loaded | null {
  return load();
}

/**
 * Functions declared through `declare` on first use, once per thread (koffi is per thread), or null
 * without native calls. Every module of src/sys gets its calls this way.
 */
export function perThread<T>(declare: (n: Loaded) => T): () => T | null {
  let calls: T | null | undefined;
  return () => {
    if (calls === undefined) {
      const n = native();
      calls = n ? declare(n) : null;
    }
    return calls;
  };
}

/** Why `native()` returned null, for the one warning the fallback prints. */
export function nativeUnavailableReason(): string | undefined {
  load();
  return loadError;
}

const errnoNames = new Map<number, string>();
// First name wins: EAGAIN, not its alias EWOULDBLOCK; EDEADLK, not EDEADLOCK.
for (const [name, value] of Object.entries(constants.errno)) if (!errnoNames.has(value)) errnoNames.set(value, name);

/** A failed system call: `code` is the errno name (EAGAIN, ECONNREFUSED, ...), as Node's own errors. */
export class SysError extends Error {
  readonly code: string;
  constructor(readonly syscall: string, readonly errno: number) {
    const code = errnoNames.get(errno) ?? `errno ${errno}`;
    super(`${syscall}: ${code}`);
    this.code = code;
  }
}

/** Returns `ret` unless it is -1, in which case throws a SysError carrying errno. */
export function check(koffi: KoffiModule, syscall: string, ret: number): number {
  if (ret === -1) throw new SysError(syscall, koffi.errno());
  return ret;
}
