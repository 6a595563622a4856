/**
 * Real `understudy` processes for e2e tests (STYLE §12): spawned from bin/understudy.js on
 * 127.0.0.1, port 0 unless a port is given, killed by pid (never pkill). Every process
 * started here is killed when the test process exits; suites register each process's kill
 * with their teardown (test/support/teardown.ts), or call `killAll()` in an afterEach.
 */
import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { waitFor } from './wait';

// Suites outside test/e2e import the one waitFor from here too.
export { waitFor };

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'understudy.js');
const live = new Set<ChildProcess>();

export interface Proc {
  readonly pid: number;
  readonly port: number;
  readonly logs: string[];
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export interface ViewProc extends Proc { readonly url: string; readonly http: string }
export interface ReplicaProc extends Proc { readonly id: string; readonly http: string }

function startProc(args: string[], env: Record<string, string> = {}, readyTimeoutMs = 15000): Promise<Proc> {
  const child = spawn(process.execPath, [BIN, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'info', PORT: '', ...env },
  });
  live.add(child);
  const logs: string[] = [];
  const exited = new Promise<void>((resolve) => child.once('exit', () => { live.delete(child); resolve(); }));
  return new Promise<Proc>((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      child.kill('SIGKILL');
      reject(new Error(`understudy ${args.join(' ')} did not start within ${readyTimeoutMs} ms:\n${logs.slice(-20).join('\n')}`));
    }, readyTimeoutMs);
    const onLine = (line: string) => {
      logs.push(line);
      if (logs.length > 2000) logs.splice(0, 1000);
      if (done) return;
      try {
        const o = JSON.parse(line);
        if (typeof o.port === 'number' && /listening/.test(String(o.msg))) {
          done = true;
          clearTimeout(timer);
          resolve({
            pid: child.pid!,
            port: o.port,
            logs,
            child,
            exited,
            kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
              if (child.exitCode === null && child.signalCode === null) child.kill(signal);
              await exited;
            },
          });
        }
      } catch { /* not JSON */ }
    };
    readline.createInterface({ input: child.stdout! }).on('line', onLine);
    readline.createInterface({ input: child.stderr! }).on('line', (l) => logs.push(l));
    child.once('exit', (code, signal) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`understudy ${args.join(' ')} exited (${signal ?? code}) before listening:\n${logs.slice(-20).join('\n')}`));
    });
  });
}

export async function spawnView(o: { port?: number; pingInterval?: number; deadPings?: number; env?: Record<string, string> } = {}): Promise<ViewProc> {
  const args = ['view', '--host', '127.0.0.1', '--port', String(o.port ?? 0)];
  if (o.pingInterval) args.push('--ping-interval', String(o.pingInterval));
  if (o.deadPings) args.push('--dead-pings', String(o.deadPings));
  const p = await startProc(args, o.env);
  return Object.assign(p, { url: `ws://127.0.0.1:${p.port}`, http: `http://127.0.0.1:${p.port}` });
}

export async function spawnReplica(o: { view: string; port?: number; url?: string; pingInterval?: number; env?: Record<string, string> }): Promise<ReplicaProc> {
  const args = ['replica', '--host', '127.0.0.1', '--view', o.view, '--port', String(o.port ?? 0)];
  if (o.url) args.push('--url', o.url);
  if (o.pingInterval) args.push('--ping-interval', String(o.pingInterval));
  const p = await startProc(args, o.env);
  return Object.assign(p, { id: o.url ?? `ws://127.0.0.1:${p.port}`, http: `http://127.0.0.1:${p.port}` });
}

/** Kill every process this module started (SIGKILL, by pid) and wait for them. */
export async function killAll(): Promise<void> {
  const all = [...live];
  for (const c of all) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.all(all.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
}

process.once('exit', () => { for (const c of live) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });

export async function getJson<T = unknown>(url: string, timeoutMs = 2000): Promise<T> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`);
  return (await res.json()) as T;
}

export interface ViewStatus {
  viewnum: number;
  primary: string | null;
  backup: string | null;
  acked: boolean;
  servers: { id: string; alive: boolean; lastPingMs: number }[];
}

export interface Digest { viewnum: number; role: string; revision: number; keys: number; sha256: string }

/**
 * Wait until the view service shows a view matching `pred`; the timeout names the predicate
 * and the last view seen.
 */
export async function waitForView(vs: { http: string }, pred: (v: ViewStatus) => boolean, timeoutMs = 10000): Promise<ViewStatus> {
  let last: ViewStatus | null = null;
  try {
    return await waitFor(`a view where ${pred.toString()}`, async () => {
      last = await getJson<ViewStatus>(`${vs.http}/view`);
      return pred(last) ? last : undefined;
    }, timeoutMs, 20);
  } catch (err) {
    const l = last as ViewStatus | null; // assigned in the check
    const seen = l === null ? 'none' : JSON.stringify({ viewnum: l.viewnum, primary: l.primary, backup: l.backup, acked: l.acked });
    throw new Error(`${(err as Error).message}; last view seen: ${seen}`);
  }
}

/**
 * A free port for a process that must restart on the same port, chosen below the kernel's
 * ephemeral range (32768–60999 on Linux). A port from that range (bind 0) can be taken between
 * our check and the child's bind, or between a kill and a restart, by any outgoing connection
 * (an etcd member dialling its peers did exactly that in CI: EADDRINUSE on restart); ports
 * below it are only ever taken by an explicit bind.
 */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = FIXED_LOW + Math.floor(Math.random() * (FIXED_HIGH - FIXED_LOW));
    if (handedOut.has(port)) continue;
    if (await bindable(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port in ${FIXED_LOW}..${FIXED_HIGH} after 100 tries`);
}

const FIXED_LOW = 20_000;
const FIXED_HIGH = 32_000;
/** Never hand the same port to two callers of this process (a stopped child's port stays its own). */
const handedOut = new Set<number>();

async function bindable(port: number): Promise<boolean> {
  const net = await import('node:net');
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
