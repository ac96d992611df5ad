/**
 * `argv` run under `setpriv --pdeathsig KILL`: the kernel kills it when the process that started it dies,
 * even by SIGKILL, so a helper never outlives nsgate. Start it from the main thread: the signal follows
 * the thread that forked it. `setprivOptions` go to setpriv too.
 */
export function killedWithParent(argv: string[], setprivOptions: string[] = []): string[] {
  return ['setpriv', '--pdeathsig', 'KILL', ...setprivOptions, '--', ...argv];
}
