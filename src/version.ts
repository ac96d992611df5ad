import { readFileSync } from 'node:fs';

/** nsgate's version, from package.json (two levels above dist/src). */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version;

/**
 * The RootlessKit release whose flags, API and behaviour nsgate follows. `--print-semver` prints its components:
 * scripts written for RootlessKit ask it to decide which RootlessKit features they may use.
 */
export const ROOTLESSKIT_VERSION = '2.3.4';

/**
 * `nsgate --version`: RootlessKit's line (`rootlesskit version 2.3.4`) with nsgate's own version after it, so that
 * scripts reading the third word (`cut -d' ' -f3`, `awk '{print $3}'`) get the RootlessKit version nsgate stands in for.
 */
export const VERSION_LINE = `rootlesskit version ${ROOTLESSKIT_VERSION} (nsgate ${VERSION})`;
