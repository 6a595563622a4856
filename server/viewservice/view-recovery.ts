/**
 * How a view service without a saved state learns the view back from the replicas' reports
 * (docs/VIEW-SERVICE-RESTART.md). Pure: the machine owns the Recovery and asks for a plan.
 */
import type { ReplicaId, View, ViewHolders } from '../../common/view';
import type { ReplicaReport } from '../../common/recovery';
import type { RecoveryReason } from './view-types';

export interface Reported { readonly incarnation: string; readonly viewnum: number; readonly report: ReplicaReport }

export interface Recovery {
  readonly reason: RecoveryReason;
  /** No decision before this time. */
  readonly until: number;
  /** The latest report of each id, this recovery only. */
  readonly reports: Map<ReplicaId, Reported>;
}

/** What recovery would do now. */
export type RecoveryPlan =
  | { readonly kind: 'wait'; readonly why: string }
  | { readonly kind: 'fresh' }
  | { readonly kind: 'adopt'; readonly view: View; readonly holders: ViewHolders; readonly acked: boolean };

/**
 * The decision (docs/VIEW-SERVICE-RESTART.md): adopt the highest reported view once each of
 * its holders has reported (so no later view can have been acted on) or has restarted (its
 * state is gone, whatever view it knew); a fresh cluster if nobody knows any view.
 */
export function planRecovery(r: Recovery, incarnationOf: (id: ReplicaId) => string | undefined): RecoveryPlan {
  let highest = 0;
  let best: { view: View; holders: ViewHolders } | null = null;
  for (const x of r.reports.values()) {
    const v = x.report.view;
    highest = Math.max(highest, v.viewnum);
    if (x.report.holders !== null && v.viewnum > 0 && (best === null || v.viewnum > best.view.viewnum)) best = { view: v, holders: x.report.holders };
  }
  if (highest === 0) return r.reason === 'no-state' ? { kind: 'fresh' } : { kind: 'wait', why: 'no replica has reported a view yet' };
  if (best === null || best.view.viewnum < highest) {
    return { kind: 'wait', why: `a replica knows view ${highest}, but no replica has reported it with its holders yet` };
  }
  const { view, holders } = best;
  for (const slot of ['primary', 'backup'] as const) {
    const id = view[slot];
    if (id === null) continue;
    const reported = r.reports.get(id)?.incarnation === holders[slot];
    const incarnation = incarnationOf(id);
    const restarted = incarnation !== undefined && incarnation !== holders[slot];
    if (!reported && !restarted) return { kind: 'wait', why: `waiting for the ${slot} of view ${view.viewnum}, ${id}, to report (or to restart)` };
  }
  // Acknowledged if its primary acknowledged it, or its backup installed its transfer
  // (which the primary sends only for a view it knows, and acknowledges right after).
  const p = view.primary === null ? undefined : r.reports.get(view.primary);
  const b = view.backup === null ? undefined : r.reports.get(view.backup);
  const acked = (p !== undefined && p.incarnation === holders.primary && p.viewnum === view.viewnum && p.report.role === 'primary')
    || (b !== undefined && b.incarnation === holders.backup && b.report.role === 'backup' && b.report.initialised && b.report.view.viewnum === view.viewnum);
  return { kind: 'adopt', view, holders, acked };
}

/** Why recovery has not ended yet (for /readyz and logs). */
export function recoveryWait(r: Recovery, now: number, incarnationOf: (id: ReplicaId) => string | undefined): string {
  const left = r.until - now;
  if (left > 0) return `collecting the replicas' reports (${left} ms of the recovery window left)`;
  const plan = planRecovery(r, incarnationOf);
  return plan.kind === 'wait' ? plan.why : 'deciding';
}
