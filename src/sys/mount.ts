/** mount(2), for the child's one bind mount on the way to COMMAND (its resolv.conf), without starting mount(8). */
import { check, perThread } from './libc.js';

const MS_BIND = 4096;

const mountCall = perThread(({ koffi, lib }) => ({
  koffi,
  mount: lib.func('int mount(const char *, const char *, const char *, unsigned long, const void *)'),
}));

/** `mount --bind source target`; false without native calls. Throws a SysError if the kernel refuses. */
export function bindMount(source: string, target: string): boolean {
  const c = mountCall();
  if (!c) return false;
  check(c.koffi, `mount --bind ${source} ${target}`, c.mount(source, target, null, MS_BIND, null));
  return true;
}
