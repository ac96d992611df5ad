/**
 * docs/reference.md, made from the tables the code itself parses and dispatches with: nsgate's flag table (its
 * --help), nsgatectl's commands (its help), nsgate-shims' help and the API server's routes. `npm run reference`
 * writes it; test/unit/reference.test.ts fails when the file and the code differ.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { apiReference } from '../src/api/server.js';
import { parseLaunchArgs } from '../src/cli/launch-flags.js';
import { COMMAND_NAMES, main as nsgatectl } from '../src/cli/nsgatectl.js';
import { runShims } from '../src/shims/shims.js';

export const REFERENCE_PATH = fileURLToPath(new URL('../../docs/reference.md', import.meta.url));

/** What `run` writes to the stdout and stderr it is given. */
async function printed(run: (io: { stdout: { write(t: string): unknown }; stderr: { write(t: string): unknown } }) => unknown): Promise<string> {
  let out = '';
  const sink = { write: (t: string) => (out += t) };
  await run({ stdout: sink, stderr: sink });
  return out;
}

const block = (text: string) => `\`\`\`text\n${text.trimEnd()}\n\`\`\`\n`;

export async function referenceText(): Promise<string> {
  const help = parseLaunchArgs(['--help']);
  if (help.kind !== 'help') throw new Error('nsgate --help gave no help');
  const ctl = (argv: string[]) => printed((io) => nsgatectl(argv, { ...io, env: {} }));
  const sections = [
    `# nsgate reference

Made by \`npm run reference\` from the tables the code parses and dispatches with; do not edit by hand (a unit
test fails when this file and the code differ). The README says how each part behaves and where it differs from
RootlessKit v2.3.4.
`,
    `## nsgate

The launcher: RootlessKit's flags, and everything after the first non-flag is COMMAND.

${block(help.text)}`,
    `## nsgatectl

The API client, with rootlessctl's commands and output.

${block(await ctl(['--help']))}
${(await Promise.all(COMMAND_NAMES.map(async (name) => `### nsgatectl ${name}\n\n${block(await ctl([name, '--help']))}`))).join('\n')}`,
    `## nsgate-shims

${block(await printed((io) => runShims(['--help'], { ...io, node: 'NODE', cliDir: 'DIR' })))}`,
    `## REST API on STATE_DIR/api.sock

Errors are JSON \`{"message": ...}\`: 400 for bad input, unknown ids, conflicts and taken ports (and every ports
route without a port driver), 404 for unknown routes, 405 for other methods, 413 for bodies over 64 KiB.

| method | path | what it does |
|---|---|---|
${apiReference().map(({ method, path, doc }) => `| ${method} | \`${path}\` | ${doc} |`).join('\n')}
`,
  ];
  return sections.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) writeFileSync(REFERENCE_PATH, await referenceText());
