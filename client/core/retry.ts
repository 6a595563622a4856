/**
 * The NOT_PRIMARY rule (SPEC §1/§7), one for operations and for watches: a replica that is
 * not (or no longer) the primary refuses with NOT_PRIMARY, usually carrying its view.
 *
 *   NOT_PRIMARY{view?} ──▶ adopt the view if newer ──▶ another primary? ── yes ─▶ nothing here:
 *                                                          │               the new link resends
 *                                                          no              (same clientId, seq)
 *                                                          ▼
 *                               retry on this primary after backoff number `attempt`, while
 *                               the view service catches up and pushes the new view
 *
 * Pure: the view is adopted through the request table (it owns the client's view), the
 * delay comes from common/backoff.ts with the randomness injected. The shell
 * (client/session.ts) keeps the timer in client/core/deadlines.ts and then calls
 * `Requests.resend(seq)` or `Watches.resend(id)`.
 */
import type { View } from '../../common/view';
import { BackoffPolicy, backoffDelay } from '../../common/backoff';

/** Who owns the client's view: the request table (client/core/requests.ts). */
export interface ViewOwner {
  readonly view: View;
  /** Adopt `view` when it is newer; a new primary re-targets the link (and resends all). */
  learnView(view: View): boolean;
}

/**
 * An operation or a watch was refused NOT_PRIMARY with view `carried` (if any). Adopts it
 * when newer. Returns true when the refused thing must be retried on the same primary after
 * `retryDelay(attempt)`; false when the view named another primary, whose link (re)sends
 * every pending operation and registers every watch when it opens.
 */
export function retryAfterNotPrimary(owner: ViewOwner, carried: View | undefined): boolean {
  const before = owner.view.primary;
  if (carried) owner.learnView(carried);
  return owner.view.primary === before;
}

/** The wait before NOT_PRIMARY retry number `attempt` (0-based) of an operation or a watch. */
export function retryDelay(attempt: number, policy: BackoffPolicy, random?: () => number): number {
  return backoffDelay(attempt, policy, random);
}
