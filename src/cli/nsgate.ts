#!/usr/bin/env node
/** `nsgate [flags] COMMAND [ARGS...]`: RootlessKit's launcher, flag for flag. */
import { UserError, errorMessage } from '../errors.js';
import { SpawnedNamespaceProcess } from '../parent/namespace-handle.js';
import { createLog } from '../log.js';
import { raiseOpenFileLimit } from '../sys/relay-io.js';
import { VERSION_LINE } from '../version.js';
import { parseLaunchArgs } from './launch-flags.js';

async function main(argv: string[]): Promise<number> {
  const cmd = parseLaunchArgs(argv, process.env);
  if (cmd.kind === 'help') {
    process.stdout.write(cmd.text);
    return 0;
  }
  if (cmd.kind === 'version') {
    process.stdout.write(`${VERSION_LINE}\n`);
    return 0;
  }
  if (cmd.kind === 'semver') {
    process.stdout.write(`${cmd.component}\n`);
    return 0;
  }
  // First of all, the namespace process: node boots there while this one loads the rest of its code and koffi.
  // The flags were checked above; launch() kills and reaps it if the launch stops before COMMAND.
  const spawned = new SpawnedNamespaceProcess(cmd.options);
  const log = createLog(cmd.options.debug);
  log.debug(`child ${spawned.proc.pid} spawned`);
  for (const warning of cmd.warnings) log.warn(warning);
  // Not bundled in front of this: launch's modules load only now (esbuild makes the import a lazy init).
  const { launch } = await import('../parent/launch.js');
  // Every forwarded connection holds fds (two in the relay); the namespace process raises its own, for COMMAND.
  raiseOpenFileLimit();
  return launch(cmd.options, log, spawned);
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (err: unknown) => {
    process.stderr.write(`nsgate: error: ${errorMessage(err)}\n`);
    if (!(err instanceof UserError) && process.argv.includes('--debug')) console.error(err);
    process.exit(1);
  },
);
