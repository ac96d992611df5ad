/**
 * Every process the benchmark starts runs as the test user (harness.ts), carries a tag in its
 * environment, and is ended by pid together with all its descendants, even on error or Ctrl-C.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { allPids, processesWithEnv, type Proc, sleep, startAsUser } from '../test/e2e/harness.js';

export const TAG_VARIABLE = 'NSGATE_BENCH_TAG';
/** Tests pass their own tag to find leftovers afterwards. */
export const TAG = process.env[TAG_VARIABLE] ?? randomUUID();

const live = new Set<number>();

/** Start argv as the test user; `endTree` or `endAll` ends it. */
export function start(argv: readonly string[]): Proc {
  const [cmd, ...args] = argv;
  const proc = startAsUser(cmd!, args, { env: { [TAG_VARIABLE]: TAG } });
  live.add(proc.pid);
  return proc;
}

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run argv as the test user to its end, or end it after `ms` (rejects then). */
export async function run(argv: readonly string[], ms: number): Promise<Finished> {
  const proc = start(argv);
  try {
    const { code } = await proc.exited(ms);
    return { code, stdout: proc.stdout, stderr: proc.stderr };
  } catch {
    throw new Error(`${argv[0]} still running after ${ms} ms ${tail(proc.stderr)}`.trim());
  } finally {
    await endTree(proc.pid);
  }
}

/** The last lines of a program's output, for an error message. */
export function tail(text: string, lines = 3): string {
  return text.trim().split('\n').slice(-lines).join(' | ');
}

/** The parent of a running (not zombie) process, or undefined once it is gone. */
function parentOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
    const [state, ppid] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return state === 'Z' || state === 'X' ? undefined : Number(ppid);
  } catch {
    return undefined;
  }
}

const running = (pid: number) => parentOf(pid) !== undefined;

/** `root` and all its descendants that are alive now. */
function tree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const pid of allPids()) {
    const parent = parentOf(pid);
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), pid]);
  }
  const found: number[] = [];
  for (const queue = [root]; queue.length > 0; ) {
    const pid = queue.shift()!;
    if (running(pid)) found.push(pid);
    queue.push(...(children.get(pid) ?? []));
  }
  return found;
}

function signal(pids: number[], sig: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, sig);
    } catch {
      // Already gone.
    }
  }
}

/** SIGTERM `root` and its descendants (collected first, so orphans are not lost), SIGKILL what is left after 3 s. */
export async function endTree(root: number): Promise<void> {
  live.delete(root);
  const members = tree(root);
  signal(members, 'SIGTERM');
  for (let waited = 0; waited < 3_000 && members.some(running); waited += 50) await sleep(50);
  signal(members.filter(running), 'SIGKILL');
}

/** End everything still running (on error or a signal). */
export async function endAll(): Promise<void> {
  await Promise.all([...live].map(endTree));
}

/** SIGKILL every process still carrying this run's tag, and return their pids (there should be none). */
export function endLeftovers(): number[] {
  const left = taggedProcesses();
  signal(left, 'SIGKILL');
  return left;
}

/** Processes that carry `tag`: none should outlive the benchmark. */
export function taggedProcesses(tag = TAG): number[] {
  return processesWithEnv(`${TAG_VARIABLE}=${tag}`);
}
