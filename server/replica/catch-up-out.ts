/**
 * The primary's side of catch-up by log suffix (part of the replica core; catch-up.ts has
 * the rule, docs/DURABILITY.md §9): the probe, and the suffix sent in place of a transfer.
 *
 *   primary ── xfer-begin {probe} ──▶ backup ── xfer-pos {lineage, index j} ──▶ primary
 *   suffix:  xfer-begin {from: j, index: I, lineage}, fwd (ops j+1 … I), xfer-end ──▶ backup
 *   full:    xfer-begin {index: I, lineage}, xfer-data …, xfer-end (as without a data dir)
 */
import type { XferBeginMsg, XferPosMsg } from '../../common/messages';
import type { Streaming } from './transfer-state';
import type { RoleContext } from './replica-io';
import type { ViewHolders } from '../../common/view';

/** Durable, not probed on this link yet: send the probe instead (true). A full xfer-begin carries my lineage. */
export function probeFirst(ctx: RoleContext, x: Streaming, msg: XferBeginMsg): boolean {
  const cu = ctx.catchUp;
  if (cu === null) return false;
  if (!x.probed) {
    x.probed = true;
    ctx.out.push({ kind: 'toBackup', msg: { ...msg, probe: true } });
    return true;
  }
  msg.lineage = cu.lineage;
  return false;
}

/**
 * The backup at `pos` gets the ops after it, up to my last, if the rule allows (true);
 * false: it needs the full transfer. Every op I ordered must already be in recent.
 */
export function sendSuffix(ctx: RoleContext, pos: XferPosMsg, budget: number): boolean {
  const cu = ctx.catchUp;
  const store = ctx.store;
  const from = cu === null ? null : cu.plan(pos, store.index);
  if (cu === null || from === null) {
    ctx.log('info', `full state transfer to ${ctx.view.backup}: no log suffix serves its position`, { backup: pos, index: store.index, recentFrom: cu?.recentFrom, lineage: cu?.current });
    return false;
  }
  const { view, holders } = ctx;
  ctx.out.push({ kind: 'toBackup', msg: { type: 'xfer-begin', view, holders: holders as ViewHolders, index: store.index, revision: store.revision, from, lineage: cu.lineage } });
  const frames = cu.frames(from, store.index, view.viewnum, budget);
  for (const msg of frames) ctx.out.push({ kind: 'toBackup', msg });
  ctx.out.push({ kind: 'toBackup', msg: { type: 'xfer-end', viewnum: view.viewnum } });
  ctx.log('info', `catch-up by log suffix to ${view.backup} for view ${view.viewnum}`, { from, to: store.index, ops: store.index - from, frames: frames.length });
  return true;
}
