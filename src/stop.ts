/** How long a helper (slirp4netns, pasta, socat) has to exit after being asked, before it is killed. */
export const STOP_GRACE_MS = 2_000;

/** Ask a process to stop, kill it if it has not exited within `graceMs`, and resolve once it has exited. */
export async function stopWithGrace(ask: () => void, kill: () => void, exited: Promise<unknown>, graceMs = STOP_GRACE_MS): Promise<void> {
  ask();
  const killer = setTimeout(kill, graceMs);
  await exited;
  clearTimeout(killer);
}
