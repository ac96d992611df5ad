import { constants } from 'node:os';

/**
 * Never forwarded: SIGKILL and SIGSTOP cannot be caught; RootlessKit's sigproxy skips SIGCHLD, SIGPIPE and
 * SIGURG; and a JavaScript listener for the fault signals would leave node spinning on a real fault, so
 * SIGSEGV, SIGBUS, SIGFPE and SIGILL are left to their default action too.
 */
const NOT_FORWARDED = new Set(['SIGKILL', 'SIGSTOP', 'SIGCHLD', 'SIGPIPE', 'SIGURG', 'SIGSEGV', 'SIGBUS', 'SIGFPE', 'SIGILL']);

/**
 * The signals the parent passes on to the namespace process and the namespace process to COMMAND, as RootlessKit's
 * sigproxy does for every signal it can catch: one name per number (SIGIOT and SIGPOLL are aliases).
 * Real-time signals are not among them: node cannot listen for them.
 */
export const FORWARDED_SIGNALS: NodeJS.Signals[] = (() => {
  const seen = new Set<number>();
  const names: NodeJS.Signals[] = [];
  for (const [name, num] of Object.entries(constants.signals) as Array<[NodeJS.Signals, number]>) {
    if (NOT_FORWARDED.has(name) || seen.has(num)) continue;
    seen.add(num);
    names.push(name);
  }
  return names;
})();
