#!/usr/bin/env node
/** `nsgate-shims DIR [--force] [--remove]`: RootlessKit's executable names in DIR, running this nsgate. */
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runShims } from '../shims/shims.js';

process.exitCode = runShims(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  node: process.execPath,
  cliDir: dirname(fileURLToPath(import.meta.url)),
});
