import type { NetworkContext } from './driver.js';

/** The child's namespaces as paths the host side can open: a detached netns is reached through the child's root. */
export function namespacePaths(ctx: Pick<NetworkContext, 'childPid' | 'detachedNetns'>): { netns: string; userns: string } {
  const proc = `/proc/${ctx.childPid}`;
  return { netns: ctx.detachedNetns ? `${proc}/root${ctx.detachedNetns}` : `${proc}/ns/net`, userns: `${proc}/ns/user` };
}
