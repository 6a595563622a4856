/**
 * A private etcd for tests (issue #14, SPEC §12): Debian's `etcd` binary started on free
 * loopback ports with a temporary --data-dir, one member or a 3-member cluster. Members are
 * killed by pid (never pkill), and `stopAllEtcd()` kills whatever this module started.
 *
 * The binary is found as: $ETCD_BIN, then `etcd` on PATH, then the copy that .ci/run unpacks
 * from Debian's etcd-server package without installing it (no system daemon on 2379).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { freePort } from './processes';
import { Etcd3Kv } from '../../server/viewservice/etcd/etcd3-kv';
import { keyHistory } from '../../server/viewservice/etcd/kv';

/** Where .ci/run unpacks etcd-server (dpkg -x), keep in step with it. */
export const UNPACKED_ETCD = path.join(process.env.HOME ?? os.homedir(), '.cache', 'understudy', 'etcd', 'usr', 'bin', 'etcd');

const live = new Set<ChildProcess>();

/** The etcd binary, or null when there is none (tests then fail with a message naming .ci/run). */
export function findEtcd(): string | null {
  const candidates = [process.env.ETCD_BIN, UNPACKED_ETCD, '/usr/bin/etcd', '/usr/local/bin/etcd'];
  for (const c of candidates) if (c && isExecutable(c)) return c;
  const which = spawnSync('sh', ['-c', 'command -v etcd'], { encoding: 'utf8' });
  const found = which.stdout.trim();
  return which.status === 0 && found !== '' ? found : null;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

export interface EtcdMember {
  readonly name: string;
  /** http://127.0.0.1:PORT, what clients use. */
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logs: string[];
  /** The running process's pid, or null while stopped. */
  pid(): number | null;
  /** SIGKILL by pid, and wait for the exit. */
  kill(): Promise<void>;
  /** Start again on the same ports and data dir, and wait until it is healthy (if the cluster has quorum). */
  restart(waitHealthy?: boolean): Promise<void>;
  /** SIGSTOP / SIGCONT by pid. */
  pause(): void;
  resume(): void;
}

export interface EtcdCluster {
  readonly members: EtcdMember[];
  /** Every member's client URL, comma-separated: the value of `--etcd`. */
  readonly endpoints: string;
  /** Kill every member and remove the data dirs. */
  stop(): Promise<void>;
}

const BINARY_MISSING = 'etcd not found: run .ci/run (it unpacks Debian\'s etcd-server) or set ETCD_BIN';

/** Start `size` members (1 or 3) on free loopback ports; resolves when every member answers /health. */
export async function startEtcd(o: { size?: number } = {}): Promise<EtcdCluster> {
  const bin = findEtcd();
  if (bin === null) throw new Error(BINARY_MISSING);
  const size = o.size ?? 1;
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-etcd-'));
  const spec: { name: string; client: number; peer: number }[] = [];
  for (let i = 0; i < size; i++) spec.push({ name: `m${i}`, client: await freePort(), peer: await freePort() });
  const initialCluster = spec.map((s) => `${s.name}=http://127.0.0.1:${s.peer}`).join(',');
  const token = `understudy-test-${path.basename(root)}`;
  const members = spec.map((s) => makeMember(bin, root, s, initialCluster, token));
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => m.clientUrl).join(','),
    async stop() {
      await Promise.all(members.map((m) => m.kill()));
      fs.rmSync(root, { recursive: true, force: true });
    },
  };
  try {
    // All at once: a member of a 3-member cluster is healthy only once a quorum runs.
    await Promise.all(members.map((m) => m.restart(true)));
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

function makeMember(bin: string, root: string, s: { name: string; client: number; peer: number }, initialCluster: string, token: string): EtcdMember {
  const clientUrl = `http://127.0.0.1:${s.client}`;
  const peerUrl = `http://127.0.0.1:${s.peer}`;
  const dataDir = path.join(root, s.name);
  const logs: string[] = [];
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  const args = [
    '--name', s.name, '--data-dir', dataDir,
    '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', initialCluster, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
    // No metrics or pprof listeners beyond the client port; quiet logs.
    '--log-level', 'warn', '--logger', 'zap',
  ];
  const m: EtcdMember = {
    name: s.name, clientUrl, peerUrl, dataDir, logs,
    pid: () => (child !== null && child.exitCode === null && child.signalCode === null ? child.pid ?? null : null),
    async kill() {
      const c = child;
      if (c === null) return;
      if (c.exitCode === null && c.signalCode === null) process.kill(c.pid as number, 'SIGKILL');
      await exited;
    },
    async restart(waitHealthy = true) {
      await m.kill();
      const c = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      live.add(c);
      exited = new Promise<void>((resolve) => c.once('exit', () => { live.delete(c); resolve(); }));
      const keep = (chunk: Buffer) => {
        for (const line of chunk.toString('utf8').split('\n')) if (line !== '') logs.push(line);
        if (logs.length > 500) logs.splice(0, 250);
      };
      c.stdout?.on('data', keep);
      c.stderr?.on('data', keep);
      if (waitHealthy) await waitHealthyMember(m, c);
    },
    pause() { const p = m.pid(); if (p !== null) process.kill(p, 'SIGSTOP'); },
    resume() { const p = m.pid(); if (p !== null) process.kill(p, 'SIGCONT'); },
  };
  return m;
}

/** Poll GET /health until etcd says it is healthy (it has a leader and can serve). */
async function waitHealthyMember(m: EtcdMember, c: ChildProcess, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (c.exitCode !== null || c.signalCode !== null) {
      throw new Error(`etcd ${m.name} exited (${c.signalCode ?? c.exitCode}):\n${m.logs.slice(-15).join('\n')}`);
    }
    if (await healthy(m.clientUrl)) return;
    if (Date.now() > deadline) throw new Error(`etcd ${m.name} not healthy within ${timeoutMs} ms:\n${m.logs.slice(-15).join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** GET /health of one member: true when it answers {"health":"true"}. */
export async function healthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await res.json()) as { health?: string };
    return res.ok && body.health === 'true';
  } catch {
    return false;
  }
}

/** Kill every etcd member this module started (SIGKILL by pid) and wait for them. */
export async function stopAllEtcd(): Promise<void> {
  const all = [...live];
  for (const c of all) {
    if (c.exitCode !== null || c.signalCode !== null) continue;
    try { process.kill(c.pid as number, 'SIGCONT'); } catch { /* gone */ }
    c.kill('SIGKILL');
  }
  await Promise.all(all.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)))));
}

process.once('exit', () => { for (const c of live) { try { c.kill('SIGKILL'); } catch { /* gone */ } } });

// ── fake replicas that follow the leader hint (SPEC §6 pings over raw ws) ──

/**
 * A SPEC §6 replica stand-in: pings every `everyMs` with the latest viewnum it heard
 * (acknowledging each view at once), to whichever view-service URL `leaderUrl()` returns
 * (the leader hint of GET /view), reconnecting when the link drops or the leader changes.
 */
export class LeaderPinger {
  viewnum = 0;
  private ws: import('ws').WebSocket | null = null;
  private url: string | null = null;
  private timer: ReturnType<typeof setInterval>;
  private stopped = false;

  constructor(readonly id: string, private readonly leaderUrl: () => Promise<string | null>, everyMs = 50, readonly incarnation = `inc-${Math.random().toString(36).slice(2)}`) {
    this.timer = setInterval(() => void this.tick(), everyMs);
  }

  private ticks = 0;
  private asking = false;

  private async tick(): Promise<void> {
    if (this.stopped) return;
    // Every 5th ping, ask who leads: a paused leader keeps its links open, so a closed
    // link alone would never move us (SIGSTOP).
    if (++this.ticks % 5 === 0 && !this.asking && this.url !== null) {
      this.asking = true;
      this.leaderUrl().then((u) => this.follow(u), () => undefined).finally(() => { this.asking = false; });
    }
    const open = this.ws !== null && this.ws.readyState === 1;
    if (!open) {
      const url = await this.leaderUrl().catch(() => null);
      if (url === null || this.stopped || (this.ws !== null && this.ws.readyState === 0)) return;
      this.connect(url);
      return;
    }
    this.ws?.send(JSON.stringify({ type: 'ping', id: this.id, incarnation: this.incarnation, viewnum: this.viewnum }));
  }

  private connect(url: string): void {
    const { WebSocket } = require('ws') as typeof import('ws');
    const ws = new WebSocket(url);
    this.ws = ws;
    this.url = url;
    ws.on('message', (data) => {
      try {
        const m = JSON.parse(String(data)) as { type?: string; view?: { viewnum: number } };
        if (m.type === 'view' && m.view && m.view.viewnum > this.viewnum) this.viewnum = m.view.viewnum;
      } catch { /* ignore */ }
    });
    ws.on('error', () => undefined);
    ws.on('close', () => { if (this.ws === ws) this.ws = null; });
  }

  /** Drop the link if it is not to `url` (the leader moved). */
  follow(url: string | null): void {
    if (url !== null && this.url !== url) this.ws?.terminate();
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.ws?.terminate();
  }
}

// ── the view key's history (SPEC §12: read at the end of every test) ──

/**
 * SPEC §2 on the view key's history: view numbers strictly increase, view i+1 only after view
 * i was acknowledged, and no term writes after a later term began (the fence).
 */
export async function checkHistory(etcd: EtcdCluster, prefix: string): Promise<number> {
  const kv = new Etcd3Kv({ endpoints: etcd.endpoints.split(',') });
  try {
    const h = (await keyHistory(kv, `${prefix}/view`)).map((e) => ({ rev: e.modRevision, ...JSON.parse(e.value) as { view: { viewnum: number; primary: string | null; backup: string | null }; acked: boolean; term: number } }));
    expect(h.length).to.be.greaterThan(0);
    const terms = [...new Set(h.map((e) => e.term))];
    for (let i = 0; i < h.length; i++) {
      const e = h[i];
      expect(e.rev, 'written inside its term').to.be.greaterThan(e.term);
      const later = terms.filter((t) => t > e.term && t < e.rev);
      expect(later, `view ${e.view.viewnum} written by term ${e.term} after term ${later[0]} began`).to.deep.equal([]);
      if (i === 0) continue;
      const p = h[i - 1];
      expect(e.term).to.be.at.least(p.term);
      if (e.view.viewnum === p.view.viewnum) {
        expect([e.view.primary, e.view.backup]).to.deep.equal([p.view.primary, p.view.backup]);
      } else {
        expect(e.view.viewnum, 'view numbers strictly increase').to.be.greaterThan(p.view.viewnum);
        expect(p.acked, `view ${e.view.viewnum} follows the acknowledgement of view ${p.view.viewnum}`).to.equal(true);
      }
    }
    return h.length;
  } finally {
    kv.close();
  }
}
