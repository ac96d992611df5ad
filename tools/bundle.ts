/**
 * `npm run build`'s second step: every program nsgate runs (the commands of src/cli/ and every process and
 * thread of src/entry/) becomes one CommonJS file in dist/bundle/, bundled by esbuild from the TypeScript
 * sources. node then loads one file instead of dozens of ES modules, and skips its ES module loader: each
 * process starts 20-30 ms of CPU sooner. package.json's bin, the shims and the e2e tests run these files;
 * tsc's dist/src stays for the unit tests, which import modules one by one.
 *
 * The programs find each other through src/entry/paths.ts, relative to `import.meta.url`: in a bundle that is
 * the bundle's own file, so that every program finds the others' bundles beside it. koffi stays outside (a
 * native addon, loaded with createRequire). The source maps (with the sources) sit beside each bundle:
 * `NODE_OPTIONS=--enable-source-maps` turns stack traces into TypeScript lines (off by default: it costs each
 * process about 7 ms at start; unminified, a bundle's traces name the same functions anyway).
 */
import { build } from 'esbuild';
import { readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUNDLE_DIR = join(ROOT, 'dist/bundle');

/** The commands (package.json's bin) and the files of src/entry/ but its path table. */
const ENTRIES = [
  ...['nsgate', 'nsgatectl', 'nsgate-shims'].map((name) => `src/cli/${name}.ts`),
  ...readdirSync(join(ROOT, 'src/entry'))
    .filter((file) => file.endsWith('.ts') && file !== 'paths.ts')
    .map((file) => `src/entry/${file}`),
];

await build({
  // Side by side, by name: dist/bundle/nsgate.js, dist/bundle/namespace-process.js...
  entryPoints: ENTRIES.map((entry) => ({ in: join(ROOT, entry), out: basename(entry, '.ts') })),
  outdir: BUNDLE_DIR,
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  external: ['koffi'],
  // CommonJS has no import.meta: each bundle's own URL instead.
  inject: [join(ROOT, 'tools/import-meta-url.ts')],
  define: { 'import.meta.url': 'importMetaUrl' },
  sourcemap: true,
  sourcesContent: true,
  minify: false,
  legalComments: 'none',
  logLevel: 'warning',
});
// package.json says "module" for dist/src; these files are CommonJS.
writeFileSync(join(BUNDLE_DIR, 'package.json'), `${JSON.stringify({ type: 'commonjs' })}\n`);
