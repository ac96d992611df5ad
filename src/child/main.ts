/**
 * The child: a node process started by `unshare` in new user, mount and (usually) network namespaces.
 * The relay starts before the rest loads, so that its first worker thread (the slowest part of the
 * child's start) boots in parallel; its starter serves TCP until then.
 */
import { prepareRelay } from '../port/drivers/builtin/relay-agent.js';

prepareRelay();
await import('./control.js');
