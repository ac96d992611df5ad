/** The progress line on stderr: where the benchmark is and about how long is left. */

function duration(seconds: number): string {
  const s = Math.round(seconds);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

export class Progress {
  private readonly began = performance.now();
  /** Estimated seconds of the steps done so far. */
  private done = 0;
  private readonly tty = Boolean(process.stderr.isTTY);

  constructor(private readonly totalEstimate: number) {}

  /** Replace the progress line (a new line each time when stderr is not a terminal). */
  show(text: string): void {
    const elapsed = (performance.now() - this.began) / 1000;
    // Once a fifth is done, scale what is left by how the estimates have held up.
    const pace = this.done >= this.totalEstimate / 5 ? elapsed / this.done : 1;
    const left = Math.max(0, this.totalEstimate - this.done) * pace;
    const line = `${text} · ~${duration(left)} left`;
    process.stderr.write(this.tty ? `\r\x1b[K${line}` : `${line}\n`);
  }

  /** A message that stays, above the progress line. */
  say(text: string): void {
    process.stderr.write(this.tty ? `\r\x1b[K${text}\n` : `${text}\n`);
  }

  advance(estimatedSeconds: number): void {
    this.done += estimatedSeconds;
  }

  finish(): void {
    this.say(`done in ${duration((performance.now() - this.began) / 1000)}`);
  }
}
