/**
 * Where each process and thread nsgate starts begins: the files of this folder. The CLIs are in src/cli/
 * (package.json's bin). Each is named here once, for the code that starts it.
 */
import { fileURLToPath } from 'node:url';

const here = (file: string) => fileURLToPath(new URL(file, import.meta.url));

export const ENTRY = {
  /** The node process unshare starts in the new namespaces: prepares them and runs COMMAND. */
  namespaceProcess: here('./namespace-process.js'),
  /** With --detach-netns: a process nsenter'd into the detached network namespace, for a driver's inside half. */
  dialer: here('./dialer.js'),
  /** A thread of the native relay (builtin), in the namespace process or the dialer. */
  relayWorker: here('./relay-worker.js'),
  /** bypass: the thread in the parent that answers COMMAND's bind() calls. */
  bypassSupervisor: here('./bypass-supervisor.js'),
  /** bypass: how the namespace process runs COMMAND under the bind filter. */
  execFiltered: here('./exec-filtered.js'),
} as const;
