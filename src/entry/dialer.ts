/**
 * The dialer: with --detach-netns the namespace process stays in the host's network namespace, so the parent
 * `nsenter`s this small process into the detached one, where the port driver's inside half answers the parent
 * half's requests. It ends when the parent closes its IPC channel.
 */
import { PORT_DRIVER_ENV } from '../ipc/messages.js';
import { createLog } from '../log.js';
import { handleRequest, type DriverRequest } from '../port/drivers/descriptor.js';
import { startInsideHalf } from '../port/drivers/registry.js';

const log = createLog(false);
const fatal = (message: string) => (log.error(message), process.exit(1));
// No top-level await: the bundle is CommonJS (tools/bundle.ts).
void startInsideHalf(process.env[PORT_DRIVER_ENV], { log, fatal }).then((inside) => {
  process.on('message', (msg: DriverRequest) => handleRequest(inside, msg));
  process.send!({ t: 'hello' }, () => {}); // the parent may be gone already: nothing to tell
});
