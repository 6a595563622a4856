/**
 * `understudy status` (SPEC §4): the view from the view service's GET /view, and each
 * replica's pid, uptime and own role from its GET /info, so that "kill -9 the primary" is
 * one line: `kill -9 $(npx understudy status --pid primary)`.
 */

interface ViewStatus {
  viewnum: number;
  primary: string | null;
  backup: string | null;
  acked: boolean;
  servers: { id: string; alive: boolean; lastPingMs: number | null }[];
}

/** What a replica's GET /info answers. */
export interface ReplicaInfo {
  id: string;
  pid: number;
  uptimeMs: number;
  role: string;
  viewnum: number;
}

type Role = 'primary' | 'backup' | 'idle';

/** A replica that does not answer /info within this long is shown without pid. */
const INFO_TIMEOUT_MS = 1000;

/** ws://host:port[/path] → http://host:port (wss → https). */
export function httpBaseOf(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '';
  u.search = '';
  return u.toString().replace(/\/$/, '');
}

/** 3 s, 4m05s, 2h03m, 3d04h. */
export function formatUptime(ms: number): string {
  const s = Math.floor(ms / 1000);
  const two = (n: number): string => String(n).padStart(2, '0');
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${two(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${two(Math.floor(s / 60) % 60)}m`;
  return `${Math.floor(s / 86400)}d${two(Math.floor(s / 3600) % 24)}h`;
}

async function getJson<T>(url: string, timeoutMs: number): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

async function infoOf(id: string): Promise<ReplicaInfo | null> {
  try {
    return await getJson<ReplicaInfo>(`${httpBaseOf(id)}/info`, INFO_TIMEOUT_MS);
  } catch {
    return null;
  }
}

/** One line per replica: role in the view, id, liveness, pid, uptime, last ping. */
export function statusLines(body: ViewStatus, infos: ReadonlyMap<string, ReplicaInfo | null>): string[] {
  const lines = [`view ${body.viewnum} (${body.acked ? 'acknowledged by its primary' : 'waiting for the primary\'s acknowledgement'})`];
  const role = (id: string): Role => (id === body.primary ? 'primary' : id === body.backup ? 'backup' : 'idle');
  const order = { primary: 0, backup: 1, idle: 2 };
  const servers = [...body.servers].sort((a, b) => order[role(a.id)] - order[role(b.id)] || a.id.localeCompare(b.id));
  for (const s of servers) {
    const ping = s.lastPingMs === null || s.lastPingMs === undefined ? 'never pinged' : `last ping ${s.lastPingMs} ms ago`;
    const info = infos.get(s.id) ?? null;
    const proc = info === null ? `${'pid -'.padEnd(10)} ${'up -'.padEnd(9)}` : `${`pid ${info.pid}`.padEnd(10)} ${`up ${formatUptime(info.uptimeMs)}`.padEnd(9)}`;
    // The replica's own view can trail the view service's for a moment (or be stuck): show it when it differs.
    const own = info !== null && (info.role !== role(s.id) || info.viewnum !== body.viewnum) ? `  (itself: ${info.role} in view ${info.viewnum})` : '';
    lines.push(`  ${role(s.id).padEnd(8)} ${s.id.padEnd(28)} ${s.alive ? 'alive' : 'DEAD '}  ${proc} ${ping}${own}`);
  }
  if (servers.length === 0) lines.push('  no replicas have pinged');
  return lines;
}

function fail(message: string): number {
  process.stderr.write(`understudy: ${message}\n`);
  return 1;
}

/** Print the status, or with `pidOf` only the pid of the replica in that role. */
export async function status(view: string, timeoutMs: number, pidOf?: 'primary' | 'backup'): Promise<number> {
  const url = `${httpBaseOf(view)}/view`;
  let body: ViewStatus;
  try {
    body = await getJson<ViewStatus>(url, timeoutMs);
  } catch (err) {
    return fail(`cannot reach the view service at ${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const ids = new Set(body.servers.map((s) => s.id));
  for (const id of [body.primary, body.backup]) if (id && !ids.has(id)) body.servers.push({ id, alive: false, lastPingMs: null });
  if (pidOf !== undefined) {
    const id = body[pidOf];
    if (id === null) return fail(`view ${body.viewnum} has no ${pidOf}`);
    const info = await infoOf(id);
    if (info === null) return fail(`the ${pidOf} ${id} did not answer at ${httpBaseOf(id)}/info`);
    process.stdout.write(`${info.pid}\n`);
    return 0;
  }
  const infos = new Map(await Promise.all(body.servers.map(async (s) => [s.id, await infoOf(s.id)] as const)));
  process.stdout.write(statusLines(body, infos).join('\n') + '\n');
  return 0;
}
