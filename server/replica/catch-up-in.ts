/**
 * The backup's side of catch-up by log suffix (part of the replica core; catch-up.ts has the
 * rule, catch-up-out.ts the primary's side, docs/DURABILITY.md §9).
 */
import type { XferBeginMsg } from '../../common/messages';
import type { PeerLinkId, RoleContext } from './replica-io';

/**
 * A probe is answered with my position: my lineage and last op (a replica without a data
 * dir has no history to offer: lineage null). A suffix start (`from`) keeps my state: the
 * primary's lineage becomes mine, logged before any op of the suffix. True: a suffix
 * begins; false: nothing more; a string: why it is refused.
 */
export function beginSuffix(ctx: RoleContext, link: PeerLinkId, m: XferBeginMsg): boolean | string {
  const cu = ctx.catchUp;
  const store = ctx.store;
  if (m.probe) {
    const pos = cu === null ? { lineage: null, index: 0 } : cu.position(store.index);
    ctx.out.push({ kind: 'toPrimary', link, msg: { type: 'xfer-pos', viewnum: m.view.viewnum, ...pos } });
    return false;
  }
  if (cu === null || m.lineage === undefined) return 'a log suffix needs a data dir and a lineage';
  if ((m.from as number) > store.index) return `a log suffix after op ${m.from as number}, but my state ends at op ${store.index}`;
  cu.adopt(m.lineage);
  ctx.out.push({ kind: 'persistLineage', lineage: cu.lineage });
  return true;
}
