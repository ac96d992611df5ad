/**
 * The child: a node process started by `unshare` in new user, mount and (usually) network namespaces.
 * The relay's first worker thread starts before the rest loads: it boots in parallel, and it is the
 * slowest part of the child's start.
 */
import { prepareRelay } from '../port/drivers/builtin/relay-agent.js';

prepareRelay();
await import('./control.js');
