/** nsgate's own lines on stderr, kept apart from COMMAND's output by their prefix. */
export interface Log {
  debug(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export function createLog(debug: boolean): Log {
  return {
    // Milliseconds since nsgate started: --debug doubles as a startup profile.
    debug: debug ? (msg) => process.stderr.write(`nsgate: debug: +${Math.round(performance.now())}ms ${msg}\n`) : () => {},
    warn: (msg) => process.stderr.write(`nsgate: warning: ${msg}\n`),
    error: (msg) => process.stderr.write(`nsgate: error: ${msg}\n`),
  };
}
