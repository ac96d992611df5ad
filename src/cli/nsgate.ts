#!/usr/bin/env node
/** `nsgate [flags] COMMAND [ARGS...]`: RootlessKit's launcher, flag for flag. */
import { UserError, errorMessage } from '../errors.js';
import { launch } from '../parent/launch.js';
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
  const log = createLog(cmd.options.debug);
  for (const warning of cmd.warnings) log.warn(warning);
  // Every forwarded connection holds fds (two in the relay), and COMMAND inherits the raised limit as under RootlessKit.
  raiseOpenFileLimit();
  return launch(cmd.options, log);
}

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (err: unknown) => {
    process.stderr.write(`nsgate: error: ${errorMessage(err)}\n`);
    if (!(err instanceof UserError) && process.argv.includes('--debug')) console.error(err);
    process.exit(1);
  },
);
