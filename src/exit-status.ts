import { constants } from 'node:os';

/**
 * nsgate's exit status for COMMAND's end, as RootlessKit gives it: COMMAND's exit code, or 255 when a signal
 * killed it (Go's `WaitStatus.ExitStatus()` is -1 for a signalled process, and `os.Exit(-1)` exits 255).
 */
export function commandStatus(code: number | null): number {
  return code ?? 255;
}

/** A process's exit as a shell reports it: the code, or 128 + the number of the signal that killed it. */
export function shellStatus(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  return 128 + (signal ? constants.signals[signal] : 0);
}

/** Go's `syscall.Signal.String()` on Linux, which RootlessKit's messages use. */
const GO_SIGNAL_NAMES: Partial<Record<NodeJS.Signals, string>> = {
  SIGHUP: 'hangup',
  SIGINT: 'interrupt',
  SIGQUIT: 'quit',
  SIGILL: 'illegal instruction',
  SIGTRAP: 'trace/breakpoint trap',
  SIGABRT: 'aborted',
  SIGBUS: 'bus error',
  SIGFPE: 'floating point exception',
  SIGKILL: 'killed',
  SIGUSR1: 'user defined signal 1',
  SIGSEGV: 'segmentation fault',
  SIGUSR2: 'user defined signal 2',
  SIGPIPE: 'broken pipe',
  SIGALRM: 'alarm clock',
  SIGTERM: 'terminated',
  SIGSTKFLT: 'stack fault',
  SIGCHLD: 'child exited',
  SIGCONT: 'continued',
  SIGSTOP: 'stopped (signal)',
  SIGTSTP: 'stopped',
  SIGTTIN: 'stopped (tty input)',
  SIGTTOU: 'stopped (tty output)',
  SIGURG: 'urgent I/O condition',
  SIGXCPU: 'CPU time limit exceeded',
  SIGXFSZ: 'file size limit exceeded',
  SIGVTALRM: 'virtual timer expired',
  SIGPROF: 'profiling timer expired',
  SIGWINCH: 'window changed',
  SIGIO: 'I/O possible',
  SIGPWR: 'power failure',
  SIGSYS: 'bad system call',
};

/** How Go's os/exec words a process's end, as RootlessKit prints it: `exit status 42`, `signal: killed`. */
export function goExitDescription(code: number | null, signal: NodeJS.Signals | null): string {
  if (code !== null) return `exit status ${code}`;
  if (!signal) return 'exit status 255';
  return `signal: ${GO_SIGNAL_NAMES[signal] ?? `signal ${constants.signals[signal]}`}`;
}
