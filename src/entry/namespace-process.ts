/**
 * The namespace process: a node process started by `unshare` in new user, mount and (usually) network
 * namespaces, where it prepares the namespaces and runs COMMAND (src/namespace-process/). Its port driver's
 * inside half starts first (builtin's takes its fd channel from COMMAND's reach).
 */
import { PORT_DRIVER_ENV } from '../ipc/messages.js';
import { createLog } from '../log.js';
import { startInsideHalf } from '../port/drivers/registry.js';
import { raiseOpenFileLimit } from '../sys/relay-io.js';

// As RootlessKit's child does, for COMMAND, which inherits it (nsgate spawns this process before it raises its own).
raiseOpenFileLimit();
const log = createLog(false);
const fatal = (message: string) => (log.error(message), process.exit(1));
// No top-level await: the bundle is CommonJS (tools/bundle.ts).
void startInsideHalf(process.env[PORT_DRIVER_ENV], { log, fatal }).then(async (inside) => {
  const { serveParent } = await import('../namespace-process/control.js');
  serveParent(inside, (status) => process.exit(status));
});
