import type { NetworkContext } from './driver.js';

/** The namespace process' namespaces, as paths nsenter opens. */
export interface NamespacePaths {
  netns: string;
  userns: string;
}

/** The namespace process' namespaces as paths the host side can open: a detached netns is reached through its root. */
export function namespacePaths(ctx: Pick<NetworkContext, 'childPid' | 'detachedNetns'>): NamespacePaths {
  const proc = `/proc/${ctx.childPid}`;
  return { netns: ctx.detachedNetns ? `${proc}/root${ctx.detachedNetns}` : `${proc}/ns/net`, userns: `${proc}/ns/user` };
}
