/**
 * The primary's watch pushes (part of the replica core; moved out of primary-role.ts): a
 * committed registration goes live, a committed write goes to the watches it matches.
 */
import { WatchRegistry, Watch, WatchPush, eventMsg, commitPushes } from './watch-registry';
import type { WriteEvent } from './write-history';
import type { ReplicaEffect } from './replica-io';

/** The registration is committed: send its replay and `synced`, and make it live. */
export function startWatch(watches: WatchRegistry, out: ReplicaEffect[], { w, batch }: { w: Watch; batch: WatchPush[] }): void {
  if (!watches.activate(w)) return; // replaced or unwatched meanwhile
  for (const msg of batch) out.push({ kind: 'push', conn: w.conn, msg });
}

/**
 * A committed write: its event to every active watch it matches. An atomic commit's
 * events go out together; each but a watch's last one of the commit carries `more`, so
 * the client delivers all of them or (a link lost in between) none (SPEC §10).
 */
export function publish(watches: WatchRegistry, out: ReplicaEffect[], e: WriteEvent | readonly WriteEvent[]): void {
  if (Array.isArray(e)) {
    for (const p of commitPushes(watches, e)) out.push({ kind: 'push', conn: p.conn, msg: p.msg });
    return;
  }
  const one = e as WriteEvent;
  for (const w of watches.matching(one.key)) out.push({ kind: 'push', conn: w.conn, msg: eventMsg(w, one) });
}
