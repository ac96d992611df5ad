/** Injected into every bundle by tools/bundle.ts, which is CommonJS and has no import.meta: the bundle's own URL. */
export const importMetaUrl = require('node:url').pathToFileURL(__filename).href;
