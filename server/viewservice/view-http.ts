/**
 * The view service's HTTP side (SPEC §5), beside its WebSocket `/`: `/healthz`, `/readyz`,
 * `/view`, `/view/history`, `/stats`, `/metrics`, the dashboard (`/`, dashboard-assets.ts) and the
 * browser client (`/understudy.js`, browser-bundle.ts). Read-only: it looks at the machine
 * and the view history the shell keeps, and never feeds the machine.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../../common/logger';
import type { ReplicaId, View } from '../../common/view';
import { sendJson, type HttpHandler } from '../net/ws-server';
import { metricsHandler, pathOf } from '../metrics';
import type { ViewMachine } from './view-machine';
import { refuseMethod } from './static-assets';
import { loadDashboard, dashboardComplete, dashboardHandler } from './dashboard-assets';
import { loadBrowserBundle, browserBundleHandler } from './browser-bundle';
import type { StatsRings } from './stats-ring';

export { StatsRings } from './stats-ring';

/** View changes kept for the dashboard's timeline (`GET /view/history`). */
const HISTORY_LENGTH = 200;

interface HistoryEntry { viewnum: number; primary: ReplicaId | null; backup: ReplicaId | null; at: number }

/** The last HISTORY_LENGTH view changes with when they were made (`GET /view/history`). */
export class ViewHistory {
  private readonly entries: HistoryEntry[] = [];

  add(view: View, at: number): void {
    this.entries.push({ viewnum: view.viewnum, primary: view.primary, backup: view.backup, at });
    if (this.entries.length > HISTORY_LENGTH) this.entries.shift();
  }

  toJSON(): { history: readonly HistoryEntry[] } {
    return { history: this.entries };
  }
}

/** What the routes read of the view: the machine itself, or with --etcd the view etcd committed. */
export type ViewReader = Pick<ViewMachine, 'view' | 'acked' | 'recovering' | 'recoveryWait' | 'status'>;

/** With --etcd (SPEC §12): whether this instance leads, and who does (the leader hint). */
export interface HaStatus {
  readonly leading: boolean;
  readonly leader: { readonly id: string; readonly url: string } | null;
}

/** What the routes read. */
export interface ViewHttpContext {
  readonly machine: ViewReader;
  /** Only with --etcd: /readyz and /view then say who leads. */
  readonly ha?: () => HaStatus;
  /** Only with --etcd: `GET /instances`, every instance registered in etcd (etcd/instances.ts). */
  readonly instances?: () => Promise<unknown>;
  readonly history: ViewHistory;
  /** `GET /stats`: each replica's last minutes of stats (stats-ring.ts), as of now. */
  readonly stats: () => ReturnType<StatsRings['toJSON']>;
  readonly registry: Registry;
  readonly log: Logger;
  /** The service is shutting down (`/readyz` answers 503). */
  closing(): boolean;
  /** SPEC §11: the subscribers with a JWT, by `sub` (GET /users, the dashboard's list). */
  users?: () => { sub: string; links: number }[];
}

/** The handlers, in order, for ws-server's `http` list. The dashboard and the bundle are read from disk now, once. */
export function viewHttpHandlers(ctx: ViewHttpContext): HttpHandler[] {
  return [statusRoutes(ctx), instancesRoute(ctx), loadedDashboard(ctx.log), loadedBundle(ctx.log), metricsHandler(ctx.registry, ctx.log)];
}

/** `/healthz`, `/readyz`, `/view`, `/view/history`, `/stats`. */
function statusRoutes(ctx: ViewHttpContext): HttpHandler {
  return (req, res) => {
    const p = pathOf(req);
    if (p !== '/healthz' && p !== '/readyz' && p !== '/view' && p !== '/view/history' && p !== '/users' && p !== '/stats') return false;
    if (refuseMethod(req, res)) return true;
    if (p === '/healthz') sendJson(res, 200, { ok: true });
    else if (p === '/readyz') sendReadiness(ctx, res);
    else if (p === '/view') sendJson(res, 200, ctx.ha === undefined ? viewJson(ctx.machine) : { ...viewJson(ctx.machine), ...leaderJson(ctx.ha()) });
    else if (p === '/users') sendJson(res, 200, { users: ctx.users?.() ?? [] });
    else if (p === '/stats') sendJson(res, 200, ctx.stats());
    else sendJson(res, 200, ctx.history.toJSON());
    return true;
  };
}

/** `GET /instances` with --etcd (404 without, like any unknown path): read from etcd on each request. */
function instancesRoute(ctx: ViewHttpContext): HttpHandler {
  return (req, res) => {
    if (ctx.instances === undefined || pathOf(req) !== '/instances') return false;
    if (refuseMethod(req, res)) return true;
    ctx.instances().then((body) => sendJson(res, 200, body), (err: Error) => sendJson(res, 503, { error: err.message }));
    return true;
  };
}

/** `GET /` and its script and style (404 with a hint if not built). */
function loadedDashboard(log: Logger): (req: IncomingMessage, res: ServerResponse) => boolean {
  const dashboard = loadDashboard();
  if (!dashboardComplete(dashboard)) {
    log.warn({ dir: dashboard.dir }, 'dashboard not built: GET / answers 404 (run npm run build)');
  }
  return dashboardHandler(dashboard);
}

/** `GET /understudy.js`: the browser client (404 with a hint if not built). */
function loadedBundle(log: Logger): (req: IncomingMessage, res: ServerResponse) => boolean {
  const bundle = loadBrowserBundle();
  if (!bundle.assets.has('/understudy.js')) {
    log.warn({ dir: bundle.dir }, 'browser client not built: GET /understudy.js answers 404 and the dashboard has no key browser (run npm run build)');
  }
  return browserBundleHandler(bundle);
}

/**
 * `GET /readyz`: 200 once the view service has formed or recovered a view (the view it
 * answers with is the cluster's), 503 while it recovers, before any view, or when closing.
 */
function sendReadiness(ctx: ViewHttpContext, res: ServerResponse): void {
  const vm = ctx.machine;
  const reason = ctx.closing() ? 'shutting down'
    : vm.recovering ? `recovering: ${vm.recoveryWait() ?? ''}`
      : vm.view.viewnum === 0 ? 'no view yet: no replica has pinged'
        : null;
  const ha = ctx.ha === undefined ? {} : leaderJson(ctx.ha());
  sendJson(res, reason === null ? 200 : 503, { ready: reason === null, viewnum: vm.view.viewnum, acked: vm.acked, recovering: vm.recovering, ...ha, ...(reason === null ? {} : { reason }) });
}

/**
 * With --etcd: `"role": "leader"|"follower"` and `"leader": "ws://…"|null`, the URL replicas
 * and clients should use (docs/PROTOCOL.md, the leader hint). Absent without --etcd.
 */
function leaderJson(h: HaStatus): { role: 'leader' | 'follower'; leader: string | null } {
  return { role: h.leading ? 'leader' : 'follower', leader: h.leader?.url ?? null };
}

/** `GET /view` (SPEC §5): exactly viewnum, primary, backup, acked, servers[{id, alive, lastPingMs}]. */
export function viewJson(vm: ViewReader): { viewnum: number; primary: ReplicaId | null; backup: ReplicaId | null; acked: boolean; servers: { id: ReplicaId; alive: boolean; lastPingMs: number }[] } {
  const s = vm.status();
  return {
    viewnum: s.viewnum,
    primary: s.primary,
    backup: s.backup,
    acked: s.acked,
    servers: s.servers.map(({ id, alive, lastPingMs }) => ({ id, alive, lastPingMs })),
  };
}
