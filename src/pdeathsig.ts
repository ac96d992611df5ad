/**
 * `argv` run under `setpriv --pdeathsig KILL`: the kernel kills it when the process that started it dies,
 * even by SIGKILL, so a helper never outlives nsgate. Start it from the main thread: the signal follows
 * the thread that forked it.
 */
export function killedWithParent(argv: string[]): string[] {
  return ['setpriv', '--pdeathsig', 'KILL', '--', ...argv];
}
