/** The host's mount table as /proc/self/mountinfo gives it, and the propagation warning RootlessKit derives from it. */

export interface MountEntry {
  mountPoint: string;
  /** The optional fields: `shared:1`, `master:363`, ... (none for a private mount). */
  optional: string[];
  fsType: string;
}

/** Parses proc(5)'s mountinfo: `ID PARENT MAJ:MIN ROOT MOUNT_POINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS`. */
export function parseMountinfo(text: string): MountEntry[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const fields = line.split(' ');
      const separator = fields.indexOf('-', 6);
      return { mountPoint: unescapeOctal(fields[4] ?? ''), optional: fields.slice(6, separator), fsType: fields[separator + 1] ?? '' };
    });
}

/** The kernel writes space, tab, newline and backslash in paths as \040, \011, \012 and \134. */
function unescapeOctal(path: string): string {
  return path.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * RootlessKit's warning for a non-private --propagation when the host's / is not a shared mount (inside a
 * container, say): the namespace process' mounts then cannot follow the host's. Undefined when there is nothing to say.
 */
export function propagationWarning(propagation: string, mounts: readonly MountEntry[]): string | undefined {
  if (propagation.includes('private')) return undefined;
  const root = mounts.find((mount) => mount.mountPoint === '/');
  if (!root) return `--propagation=${propagation}: cannot check how the host's root filesystem propagates mounts (no / in /proc/self/mountinfo)`;
  const fields = root.optional.join(' ');
  if (fields.includes('shared')) return undefined;
  return `the host's root filesystem is not a shared mount (its propagation in /proc/self/mountinfo is "${fields}", as inside a container): --propagation=${propagation} is not supported there`;
}
