/**
 * The namespace process: a node process started by `unshare` in new user, mount and (usually) network
 * namespaces, where it prepares the namespaces and runs COMMAND (src/namespace-process/). Its port driver's
 * inside half starts before the rest loads, so that builtin's first relay worker thread (the slowest part of
 * this process' start) boots in parallel; the relay's starter serves TCP until then.
 */
import { PORT_DRIVER_ENV } from '../ipc/messages.js';
import { createLog } from '../log.js';
import { startInsideHalf } from '../port/drivers/registry.js';

const log = createLog(false);
const fatal = (message: string) => (log.error(message), process.exit(1));
const inside = await startInsideHalf(process.env[PORT_DRIVER_ENV], { log, fatal });
const { serveParent } = await import('../namespace-process/control.js');
serveParent(inside, (status) => process.exit(status));
