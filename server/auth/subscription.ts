/**
 * Who may subscribe to the view service's views (SPEC §6, §11), for view-server.ts: the
 * cluster's client token as before; with --jwt-*, a valid JWT (or the cluster token, e.g. a
 * dashboard), or nothing at all when the rules grant "anyone" something. A JWT is checked
 * asynchronously (jose), so the answer is a callback.
 */
import { tokenMatches } from '../net/ws-server';
import { AuthError } from './tokens';
import type { Auth } from './load';
import type { ClosingLink } from './connected-users';

export interface SubscriptionGate {
  readonly auth?: Auth;
  readonly clientToken: string | null;
  readonly clusterToken: string | null;
}

export function judgeSubscription(g: SubscriptionGate, given: string | null | undefined, allow: () => void, refuse: (why: string) => void, link?: ClosingLink): void {
  const byCluster = g.clusterToken !== null && tokenMatches(g.clusterToken, given);
  if (!g.auth) {
    if (g.clientToken === null || tokenMatches(g.clientToken, given) || byCluster) allow();
    else refuse('subscribe');
    return;
  }
  if (byCluster || ((given === null || given === undefined) && !g.auth.tokenRequired)) return allow();
  if (given === null || given === undefined) return refuse('subscribe without a token');
  g.auth.verifier.verify(given).then((r) => {
    if (r instanceof AuthError) return refuse(`subscribe: ${r.message}`);
    if (link && typeof r.sub === 'string') g.auth?.users.add(link, r.sub);
    allow();
  }, () => refuse('subscribe: the token could not be checked'));
}
