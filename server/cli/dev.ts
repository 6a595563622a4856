/**
 * `understudy dev`: a view service and N replicas on this machine, as child processes of
 * this one, logs merged and pretty-printed, dashboard URL printed. Ctrl-C (or SIGTERM)
 * stops them all; the children also exit by themselves if this process disappears (their
 * IPC channel closes), so nothing is left behind even after `kill -9` of `dev`.
 *
 * All or nothing (issue #16): every port is checked before any child starts, and a child
 * that dies before the cluster serves stops the others and `dev` exits 1, so a second `dev`
 * never leaves half a cluster (a replica of it joining the first cluster's view service).
 * The dashboard line is printed once the cluster serves: a primary in an acknowledged view,
 * every replica alive.
 *
 * The view service keeps its view in `<data-dir>/view-<port>` (default `.understudy`), so it
 * can be restarted by hand on the same port and resume (docs/VIEW-SERVICE-RESTART.md). Each
 * replica keeps its data in `<data-dir>/replica-<port>` (SPEC §9): Ctrl-C and `dev` again
 * gives the same data back, the replicas returning with their incarnations into the saved
 * view. `rm -rf .understudy` starts over.
 */
import * as path from 'node:path';
import * as fs from 'node:fs';
import { ConfigError, DEFAULTS, Env } from '../../common/config';
import { portInUse } from './startup';
import { DevChildren, ChildSpec } from './dev-children';

export { prettyLine } from './dev-children';

/** How long the cluster may take to serve before `dev` gives up. */
const SERVE_TIMEOUT_MS = 30_000;
/** How often `dev` asks the view service whether the cluster serves. */
const POLL_MS = 100;

interface DevPlan {
  port: number;
  replicas: number;
  viewUrl: string;
  dataDir: string;
  children: ChildSpec[];
}

function positiveInt(v: string | undefined, flag: string, dflt: number, max = 65535): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1 || n > max) throw new ConfigError(`--${flag} must be an integer in 1..${max} (got ${JSON.stringify(v)})`);
  return n;
}

/** The ports, data dir and command lines of the cluster, from the flags (ConfigError if wrong). */
function planOf(flags: Record<string, string>, env: Env): DevPlan {
  const replicas = positiveInt(flags.replicas, 'replicas', DEFAULTS.devReplicas, 50);
  const port = positiveInt(flags.port ?? env.PORT, 'port', DEFAULTS.viewPort, 65535 - 200);
  const viewUrl = `ws://127.0.0.1:${port}`;
  const common: string[] = [];
  if (flags['ping-interval']) common.push('--ping-interval', flags['ping-interval']);
  const base = flags['data-dir'] ?? env.UNDERSTUDY_DATA_DIR ?? '.understudy';
  const dataDir = path.join(base, `view-${port}`);
  const viewArgs = ['view', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, ...common];
  if (flags['dead-pings']) viewArgs.push('--dead-pings', flags['dead-pings']);
  const children: ChildSpec[] = [{ name: 'view', what: 'the view service', port, args: viewArgs }];
  for (let i = 0; i < replicas; i++) {
    const p = port + 101 + i;
    children.push({
      name: `replica:${p}`, what: `replica ${i + 1}`, port: p,
      args: ['replica', '--view', viewUrl, '--port', String(p), '--host', '127.0.0.1', '--url', `ws://127.0.0.1:${p}`,
        '--data-dir', path.join(base, `replica-${p}`), ...common],
    });
  }
  return { port, replicas, viewUrl, dataDir, children };
}

function fail(line: string): number {
  process.stderr.write(`understudy: ${line}\n`);
  return 1;
}

/** The first taken port of the plan, as the line that says so and the way out; null if all are free. */
async function takenPortLine(plan: DevPlan): Promise<string | null> {
  for (const c of plan.children) {
    if (await portInUse(c.port)) {
      return `port ${c.port} (${c.what}) is already in use; is another \`understudy dev\` running? Stop it, or choose other ports with \`understudy dev --port PORT\``;
    }
  }
  return null;
}

interface ViewBody { primary: string | null; acked: boolean; servers: { id: string; alive: boolean }[] }

/** Whether the cluster serves: a primary in an acknowledged view, and every replica alive. */
async function serving(plan: DevPlan): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${plan.port}/view`, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return false;
    const v = (await res.json()) as ViewBody;
    const alive = new Set(v.servers.filter((s) => s.alive).map((s) => s.id));
    return v.primary !== null && v.acked && plan.children.slice(1).every((c) => alive.has(`ws://127.0.0.1:${c.port}`));
  } catch {
    return false; // not listening yet
  }
}

/** Poll until the cluster serves ('serving'), a child dies, `dev` is told to stop, or the time is up. */
async function untilServing(plan: DevPlan, children: DevChildren): Promise<'serving' | 'failed' | 'stopped' | 'timeout'> {
  const deadline = Date.now() + SERVE_TIMEOUT_MS;
  for (;;) {
    if (children.failure !== null) return 'failed';
    if (children.stopping) return 'stopped';
    if (await serving(plan)) return children.failure !== null ? 'failed' : 'serving';
    if (Date.now() >= deadline) return 'timeout';
    await children.idle(POLL_MS);
  }
}

function banner(plan: DevPlan): string {
  const { port, replicas, viewUrl } = plan;
  return `\nUnderstudy dev cluster: view service ${viewUrl}, ${replicas} replica(s) on ports ${port + 101}..${port + 100 + replicas}\n` +
    `Dashboard: http://127.0.0.1:${port}/\n` +
    `Data:      ${path.dirname(plan.dataDir)} (view and replicas; kept across restarts, rm -rf it to start empty)\n` +
    `Try:       npx understudy put hello world && npx understudy get hello${port !== DEFAULTS.viewPort ? ` --view ${viewUrl}` : ''}\n` +
    `Ctrl-C stops everything.\n\n`;
}

export async function runDev(flags: Record<string, string>, env: Env): Promise<number> {
  const plan = planOf(flags, env);
  const taken = await takenPortLine(plan);
  if (taken !== null) return fail(taken);
  try {
    fs.mkdirSync(plan.dataDir, { recursive: true });
  } catch (err) {
    return fail(`cannot use the data dir ${JSON.stringify(plan.dataDir)}: ${(err as Error).message} (choose another with --data-dir)`);
  }
  const color = Boolean(process.stdout.isTTY) && !env.NO_COLOR;
  const children = new DevChildren(plan.children, { color, logLevel: flags['log-level'] ?? env.LOG_LEVEL ?? 'info' });
  const stopped = children.stopOnSignals();
  children.startAll();
  const outcome = await untilServing(plan, children);
  if (outcome === 'stopped') return stopped;
  if (outcome !== 'serving') {
    const f = children.failure;
    fail(f !== null
      ? `${f.what} failed to start (${f.exit}${f.reason ? `: ${f.reason}` : ''}); stopping the others`
      : `the dev cluster did not serve within ${SERVE_TIMEOUT_MS / 1000} s (no primary in an acknowledged view with every replica alive); stopping it`);
    await children.stop(false);
    return 1;
  }
  children.markServing();
  process.stdout.write(banner(plan));
  return stopped;
}
