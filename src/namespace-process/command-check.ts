import { accessSync, closeSync, constants, openSync, readSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

/**
 * Why COMMAND cannot be exec'd, in the words RootlessKit prints (Go's `exec.LookPath` and `fork/exec`
 * errors), or undefined if it can. Checked before spawning because COMMAND starts under `setpriv`, whose
 * own failure would be an exit status (127) where RootlessKit fails with status 1 and these words; and
 * because execvp would run a file without `#!` as a shell script where Go's exec refuses it.
 */
export function commandProblem(file: string, path: string | undefined): string | undefined {
  if (file.includes('/')) return execProblem(file);
  for (const dir of (path ?? '').split(delimiter)) {
    const candidate = join(dir || '.', file);
    if (isExecutableFile(candidate)) return execProblem(candidate);
  }
  return `exec: "${file}": executable file not found in $PATH`;
}

function isExecutableFile(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return statSync(file).isFile();
  } catch {
    return false;
  }
}

/** What execve(2) would refuse: a missing file, one without exec permission, one that is neither ELF nor `#!`. */
function execProblem(file: string): string | undefined {
  const fail = (why: string) => `fork/exec ${file}: ${why}`;
  try {
    if (!statSync(file).isFile()) return fail('permission denied');
    accessSync(file, constants.X_OK);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' || code === 'ENOTDIR' ? 'no such file or directory' : 'permission denied');
  }
  const head = firstBytes(file);
  if (!head) return undefined; // Executable but unreadable: only exec can tell.
  const elf = head.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  const script = head.subarray(0, 2).toString('latin1') === '#!';
  return elf || script ? undefined : fail('exec format error');
}

function firstBytes(file: string): Buffer | undefined {
  try {
    const fd = openSync(file, 'r');
    try {
      const head = Buffer.alloc(4);
      return head.subarray(0, readSync(fd, head, 0, 4, 0));
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
}
