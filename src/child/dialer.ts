/**
 * With --detach-netns the child stays in the host's network namespace, so the parent `nsenter`s this
 * small process into the detached one: it answers the builtin driver's socket requests from there.
 * It ends when the parent closes its IPC channel.
 */
import { answerPortRequest } from '../port/drivers/builtin/child.js';
import { prepareRelay } from '../port/drivers/builtin/relay-agent.js';
import type { ParentMessage } from './protocol.js';

process.on('message', (msg: ParentMessage) => answerPortRequest(msg));
prepareRelay();
process.send!({ t: 'hello' });
