/**
 * The view machine's public types: its options, GET /view's status (SPEC §5), and the
 * events the shell logs (the core does not log, STYLE §11).
 */
import type { Clock } from '../../common/clock';
import type { ReplicaId, View } from '../../common/view';
import type { ViewStorage } from '../../common/recovery';

export interface ViewMachineOptions {
  /** @default 100 (DEFAULTS.pingIntervalMs) */
  readonly pingIntervalMs: number;
  /** A server is dead after this many intervals without a ping. @default 5 */
  readonly deadPings: number;
  readonly clock: Clock;
  /**
   * A dead server outside the current view is forgotten after this long without a ping,
   * so records don't pile up as replicas come and go. If it pings again it registers anew
   * (a live idle server, SPEC §2.8). @default 120 × deadPings × pingIntervalMs (60 s)
   */
  readonly forgetAfterMs?: number;
  /**
   * Where the view is saved before it is announced, and loaded from at construction. Without
   * it nothing survives a restart and the machine recovers the view from the replicas.
   */
  readonly storage?: ViewStorage;
  /** How long a machine without a saved state listens to reports before it decides. @default deadPings × pingIntervalMs */
  readonly recoveryWindowMs?: number;
}

/** One row of GET /view (SPEC §5), plus the incarnation for operators. */
export interface ServerStatus {
  readonly id: ReplicaId;
  readonly alive: boolean;
  /** Milliseconds since the last ping, by the machine's clock. */
  readonly lastPingMs: number;
  readonly incarnation: string;
}

export interface ViewStatus {
  readonly viewnum: number;
  readonly primary: ReplicaId | null;
  readonly backup: ReplicaId | null;
  readonly acked: boolean;
  readonly servers: ServerStatus[];
}

/** What happened to servers, for the shell to log (the core does not log, STYLE §11). */
export type ViewMachineEvent =
  | { readonly kind: 'joined'; readonly id: ReplicaId; readonly incarnation: string }
  | { readonly kind: 'revived'; readonly id: ReplicaId; readonly incarnation: string }
  | { readonly kind: 'dead'; readonly id: ReplicaId; readonly incarnation: string; readonly reason: DeathReason }
  | { readonly kind: 'forgotten'; readonly id: ReplicaId; readonly incarnation: string }
  /** Constructed over a saved state. */
  | { readonly kind: 'resumed'; readonly view: View; readonly acked: boolean }
  /** Started learning the view from reports: no saved state, or a replica knows a newer view. */
  | { readonly kind: 'recovering'; readonly reason: RecoveryReason; readonly viewnum: number }
  /** Recovery ended: `view` adopted from the reports (VIEW0 for a fresh cluster). */
  | { readonly kind: 'recovered'; readonly view: View; readonly acked: boolean; readonly reports: number };

/** Why the machine recovers: it has no saved state, or a replica reported a view above its own. */
export type RecoveryReason = 'no-state' | 'behind';

export type DeathReason = 'silent' | 'link-closed' | 'left' | 'new-incarnation' | 'restarted' | 'suspected';
