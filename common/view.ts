/**
 * The view: which replica is primary and which is backup (SPEC §2).
 * Replica ids are the replicas' advertised URLs.
 */
export type ReplicaId = string;

/** A view, exactly as the wire and `GET /view` show it (SPEC §2, §6). */
export interface View {
  readonly viewnum: number;
  readonly primary: ReplicaId | null;
  readonly backup: ReplicaId | null;
}

/**
 * Which incarnation (process lifetime) of each named replica the view service put in
 * the view. Sent beside the view to replicas, so that a restarted process that reuses
 * an old URL never mistakes itself for the holder of a slot it lost with its state.
 */
export interface ViewHolders {
  readonly primary: string | null;
  readonly backup: string | null;
}

/** View 0: nobody (SPEC §2). */
export const VIEW0: View = Object.freeze({ viewnum: 0, primary: null, backup: null });
export const NO_HOLDERS: ViewHolders = Object.freeze({ primary: null, backup: null });

/** Same primary, backup and number. */
export function sameView(a: View, b: View): boolean {
  return a.viewnum === b.viewnum && a.primary === b.primary && a.backup === b.backup;
}

/** A frozen copy with only the three public fields. */
export function makeView(viewnum: number, primary: ReplicaId | null, backup: ReplicaId | null): View {
  return Object.freeze({ viewnum, primary, backup });
}

/** The role `me` has in `view`. */
export function roleIn(view: View, me: ReplicaId): 'primary' | 'backup' | 'idle' {
  if (view.primary === me) return 'primary';
  if (view.backup === me) return 'backup';
  return 'idle';
}
