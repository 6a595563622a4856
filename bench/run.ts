/**
 * `npm run bench`: Understudy against the wire's own limit, side by side on this machine
 * (issue #6). Every server runs in its own process, the load comes from a separate process
 * (bench/load.ts), each figure is the median of several rounds after a warm-up, with its
 * spread. Prints a table (each figure with its ratio to the matching reference) and writes
 * JSON to bench/results/<timestamp>.json. No assertions: it prints numbers.
 *
 *   npm run bench                         # everything (about 8–10 minutes on 2 cores)
 *   npm run bench -- --quick              # short rounds: a smoke run
 *   npm run bench -- --only ref,ops       # sections: ref, ops, failover, transfer, memory
 *   npm run bench -- --redis              # adds Redis SET + WAIT 1 0 (needs redis-server on PATH)
 *   npm run bench -- --keys 100000,1000000
 *
 * See bench/README.md for every flag and what each figure means. Sends traffic only to
 * 127.0.0.1; kills every process it started (by pid), also on Ctrl-C and on its watchdog.
 */
import { spawn, ChildProcess, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { getJson, ViewStatus, Digest } from '../test/support/processes';
import { spread, Spread, median, fmtCount, fmtMs, fmtBytes, fmtRatio } from './stats';
import { RespClient } from './resp';
import { authEnv, benchToken } from './auth';
import { recoveryBench, formatRecovery, type RecoveryFigures } from './disk-recovery';

const ROOT = path.resolve(__dirname, '..');
const HOST = '127.0.0.1';

// ───────────────────────── options ─────────────────────────

const SECTIONS = ['ref', 'ops', 'failover', 'transfer', 'memory', 'recovery'] as const;
type Section = (typeof SECTIONS)[number];
/** Understudy operations of the ops section; cas: put with ifRevision, atomic10: a commit of 10 puts (issue #12). */
const UOPS = ['put', 'get', 'append', 'cas', 'atomic10'] as const;
type UOp = (typeof UOPS)[number];
/** The table's name of each operation. */
const UOP_NAMES: Record<UOp, string> = { put: 'put', get: 'get', append: 'append', cas: 'put ifRevision', atomic10: 'atomic, 10 puts' };
/** The name of the ops section's put on the cluster with JWTs and 10 rules (--auth). */
const AUTH_PUT = 'understudy put, JWT + 10 rules';

interface Options {
  quick: boolean;
  only: Set<Section>;
  redis: boolean;
  keys: number[];
  rounds: number;
  roundMs: number;
  warmupMs: number;
  sizes: number[];
  ops: UOp[];
  auth: boolean;
  loads: { conns: number; depth: number }[];
  failoverTrials: number;
  failoverReplicas: number;
  steadyClients: number;
  steadyDepth: number;
  cpuProf: string | null;
  out: string;
  maxMinutes: number;
  logLevel: string;
  attemptTimeoutMs: number | null;
  transferTimeoutS: number;
}

const HELP = `npm run bench -- [flags]

  --quick                 short rounds (smoke run): 2 rounds × 0.6 s, 1 failover trial, 20k keys
  --only LIST             sections to run: ${SECTIONS.join(',')} (default: all)
  --redis                 add Redis SET + WAIT 1 0 (primary + replica) at the same loads
  --keys LIST             key counts for state transfer / memory (default 100000,1000000)
  --rounds N              measured rounds per figure (default 5; quick 2)
  --round-ms MS           length of one round (default 2000; quick 600)
  --warmup-ms MS          warm-up before the rounds of each figure (default 1000; quick 300)
  --sizes LIST            value sizes in bytes (default 100,10240)
  --ops LIST              Understudy operations (default ${UOPS.join(',')}): cas is a put with
                          ifRevision (a passing check), atomic10 one commit of 10 puts
  --auth                  also put on a second cluster with JWTs and 10 access rules (SPEC §11),
                          its rounds interleaved with plain put's: the ratio is paired
  --loads LIST            CONNSxDEPTH loads (default 1x1,16x64)
  --failover-trials N     trials per failover kind (default 3; quick 1)
  --failover-replicas N   replicas in the failover cluster (default 3: primary, backup, idle)
  --steady CxD            the steady load during failover (default 4x4)
  --cpu-prof DIR          run the ops section's replicas with --cpu-prof into DIR (stopped
                          with SIGTERM at the end so the profiles are written), and its
                          load process (the client library) into DIR/client
  --out DIR               where the JSON goes (default bench/results)
  --max-minutes N         watchdog: stop everything after N minutes (default 30)
  --log-level LEVEL       LOG_LEVEL of the Understudy processes (default info)
  --transfer-timeout-s S  give up on a new backup that is not ready after S seconds (default 60)
  --attempt-timeout-ms MS the client's attemptTimeoutMs in the ops section (default: the
                          library's, min(1000, timeoutMs / 3))
`;

function parseOptions(argv: string[]): Options {
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}\n\n${HELP}`);
    const eq = a.indexOf('=');
    if (eq > 0) flags.set(a.slice(2, eq), a.slice(eq + 1));
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) flags.set(a.slice(2), argv[++i]);
    else flags.set(a.slice(2), true);
  }
  const known = new Set(['quick', 'only', 'redis', 'keys', 'rounds', 'round-ms', 'warmup-ms', 'sizes', 'ops', 'loads', 'failover-trials', 'failover-replicas', 'steady', 'cpu-prof', 'out', 'max-minutes', 'log-level', 'attempt-timeout-ms', 'transfer-timeout-s', 'auth', 'help']);
  for (const k of flags.keys()) if (!known.has(k)) throw new Error(`unknown flag --${k}\n\n${HELP}`);
  if (flags.has('help')) {
    process.stdout.write(HELP);
    process.exit(0);
  }
  const quick = flags.has('quick');
  const str = (k: string): string | undefined => {
    const v = flags.get(k);
    if (v === true) throw new Error(`--${k} needs a value`);
    return v;
  };
  const int = (k: string, dflt: number): number => {
    const v = str(k);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${k} must be a positive integer (got ${v})`);
    return n;
  };
  const list = (k: string, dflt: string): string[] => (str(k) ?? dflt).split(',').map((s) => s.trim()).filter(Boolean);
  const only = new Set(list('only', SECTIONS.join(',')) as Section[]);
  for (const s of only) if (!SECTIONS.includes(s)) throw new Error(`--only: unknown section ${s} (one of ${SECTIONS.join(', ')})`);
  const nums = (k: string, dflt: string): number[] => list(k, dflt).map((s) => {
    const n = Number(s.replace(/_/g, ''));
    if (!Number.isInteger(n) || n <= 0) throw new Error(`--${k}: ${s} is not a positive integer`);
    return n;
  });
  const ops = list('ops', UOPS.join(',')) as UOp[];
  for (const o of ops) if (!UOPS.includes(o)) throw new Error(`--ops: unknown op ${o} (one of ${UOPS.join(', ')})`);
  const loads = list('loads', '1x1,16x64').map((s) => {
    const m = /^(\d+)x(\d+)$/.exec(s);
    if (!m) throw new Error(`--loads: ${s} is not CONNSxDEPTH`);
    return { conns: Number(m[1]), depth: Number(m[2]) };
  });
  const steady = /^(\d+)x(\d+)$/.exec(str('steady') ?? '4x4');
  if (!steady) throw new Error('--steady must be CLIENTSxDEPTH, e.g. 4x4');
  return {
    quick,
    only,
    redis: flags.has('redis'),
    keys: nums('keys', quick ? '20000' : '100000,1000000'),
    rounds: int('rounds', quick ? 2 : 5),
    roundMs: int('round-ms', quick ? 600 : 2000),
    warmupMs: int('warmup-ms', quick ? 300 : 1000),
    sizes: nums('sizes', '100,10240'),
    ops,
    auth: flags.has('auth'),
    loads,
    failoverTrials: int('failover-trials', quick ? 1 : 3),
    failoverReplicas: int('failover-replicas', 3),
    steadyClients: Number(steady[1]),
    steadyDepth: Number(steady[2]),
    cpuProf: (str('cpu-prof') as string | undefined) ?? null,
    out: path.resolve(str('out') ?? path.join(ROOT, 'bench', 'results')),
    maxMinutes: int('max-minutes', 30),
    logLevel: str('log-level') ?? 'info',
    attemptTimeoutMs: flags.has('attempt-timeout-ms') ? int('attempt-timeout-ms', 1000) : null,
    transferTimeoutS: int('transfer-timeout-s', 60),
  };
}

// ───────────────────────── processes ─────────────────────────

const children = new Set<ChildProcess>();
const stoppedPids = new Set<number>();

function track(child: ChildProcess): ChildProcess {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Kill every process this run started, by pid (SIGCONT first for any we stopped). */
async function cleanup(): Promise<void> {
  for (const pid of stoppedPids) {
    try { process.kill(pid, 'SIGCONT'); } catch { /* gone */ }
  }
  stoppedPids.clear();
  for (const c of children) {
    if (c.exitCode === null && c.signalCode === null && c.pid) {
      try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => { clearTimeout(t); resolve(true); });
  });
}

async function killChild(child: ChildProcess | undefined): Promise<void> {
  if (!child || !child.pid) return;
  if (child.exitCode === null && child.signalCode === null) {
    try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
  }
  await waitExit(child, 5000);
}

/** Spawn a TypeScript file of bench/ through ts-node (transpile only). */
function spawnTs(file: string, args: string[], nodeArgs: string[] = []): ChildProcess {
  return track(spawn(process.execPath, [...nodeArgs, '-r', 'ts-node/register', path.join(ROOT, 'bench', file), ...args], {
    cwd: ROOT,
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true', NODE_OPTIONS: '' },
  }));
}

interface RefServer { child: ChildProcess; port: number; pid: number; url: string }

function startRefServer(args: string[]): Promise<RefServer> {
  const child = spawnTs('reference-servers.ts', args);
  const errs: string[] = [];
  readline.createInterface({ input: child.stderr! }).on('line', (l) => errs.push(l));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`reference server ${args.join(' ')} did not start: ${errs.join('\n')}`)), 20_000);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      try {
        const o = JSON.parse(line);
        if (typeof o.port === 'number') {
          clearTimeout(timer);
          resolve({ child, port: o.port, pid: child.pid!, url: `ws://${HOST}:${o.port}` });
        }
      } catch { /* not JSON */ }
    });
    child.once('exit', (code, sig) => { clearTimeout(timer); reject(new Error(`reference server ${args.join(' ')} exited (${sig ?? code}): ${errs.join('\n')}`)); });
  });
}

/** The load generator process, driven one JSON command per line. */
class Load {
  readonly child: ChildProcess;
  private nextId = 1;
  private readonly waiting = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  readonly ready: Promise<void>;
  private readonly stderr: string[] = [];

  constructor(nodeArgs: string[] = []) {
    this.child = spawnTs('load.ts', [], nodeArgs);
    let markReady: () => void;
    let failReady: (e: Error) => void;
    this.ready = new Promise((res, rej) => { markReady = res; failReady = rej; });
    readline.createInterface({ input: this.child.stderr! }).on('line', (l) => {
      this.stderr.push(l);
      if (this.stderr.length > 200) this.stderr.shift();
    });
    readline.createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let m: { id: number; ok: boolean; result?: unknown; error?: string };
      try { m = JSON.parse(line); } catch { return; }
      if (m.id === 0) { markReady(); return; }
      const w = this.waiting.get(m.id);
      if (!w) return;
      this.waiting.delete(m.id);
      if (m.ok) w.resolve(m.result);
      else w.reject(new Error(`load: ${m.error}`));
    });
    this.child.once('exit', (code, sig) => {
      const err = new Error(`the load process exited (${sig ?? code}): ${this.stderr.slice(-10).join('\n')}`);
      failReady(err);
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    });
  }

  get pid(): number {
    return this.child.pid!;
  }

  request<T>(cmd: Record<string, unknown>, timeoutMs = 120_000): Promise<T> {
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`load: ${String(cmd.cmd)} got no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, {
        resolve: (v) => { clearTimeout(timer); resolve(v as T); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      });
      this.child.stdin!.write(JSON.stringify({ id, ...cmd }) + '\n');
    });
  }

  async stop(): Promise<void> {
    try { await this.request({ cmd: 'exit' }, 5000); } catch { /* kill below */ }
    if (!(await waitExit(this.child, 3000))) await killChild(this.child);
  }
}

async function newLoad(nodeArgs: string[] = []): Promise<Load> {
  const l = new Load(nodeArgs);
  await l.ready;
  return l;
}

// ───────────────────────── /proc ─────────────────────────

let CLK_TCK = 100;
try { CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100; } catch { /* default */ }

/** CPU seconds (user + system) of a process so far, from /proc/PID/stat; NaN if gone. */
function cpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLK_TCK; // utime, stime (fields 14, 15)
  } catch {
    return NaN;
  }
}

/** Resident set size in bytes, from /proc/PID/status VmRSS. */
function rssBytes(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+)\s+kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : NaN;
  } catch {
    return NaN;
  }
}

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat. */
function machineBusySeconds(): number {
  try {
    const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, , , irq, softirq, steal] = f;
    return (user + nice + system + irq + softirq + (steal || 0)) / CLK_TCK;
  } catch {
    return NaN;
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const wallNow = (): number => performance.timeOrigin + performance.now();

function log(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

// ───────────────────────── measuring ─────────────────────────

interface RunResult {
  ops: number;
  errors: Record<string, number>;
  durationMs: number;
  opsPerSec: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  loadCpu: number;
  issued?: number;
}

interface Figure {
  kind: 'ref' | 'understudy' | 'redis';
  name: string;
  size: number;
  conns: number;
  depth: number;
  opsPerSec: Spread;
  p50: Spread;
  p99: Spread;
  errors: Record<string, number>;
  /** Median CPU use per process during the rounds, in cores (1.0 = one core busy). */
  cpu: Record<string, number>;
  /** Median CPU time per completed operation, per process, in µs (load = the client side). */
  cpuPerOp: Record<string, number>;
  /** Understudy: requests the primary received per operation issued (1.00: no client resends). */
  reqPerOp: number | null;
  /** Ratios to the raw chain's round run just before or after (paired), median and spread. */
  vsChain: { opsPerSec: Spread; p50: Spread; p99: Spread } | null;
  rounds: (RunResult & { cpu: Record<string, number>; serverRequests?: number })[];
}

const figures: Figure[] = [];

/**
 * One thing to measure (a reference server, an Understudy operation, Redis): it runs one
 * round at a given size and load from its own load process.
 */
interface Target {
  kind: Figure['kind'];
  name: string;
  /** The processes whose CPU to sample, by role (asked before each round: roles may change). */
  pids(): Promise<Record<string, number>>;
  run(size: number, conns: number, depth: number, durationMs: number): Promise<RunResult>;
  /** Untimed clean-up after each round (e.g. deleting the keys appends grew). */
  after?(size: number): Promise<void>;
  /** A server-side counter read around each round (Understudy: requests the primary received). */
  probe?(): Promise<number>;
  /** The servers' last log lines, kept in the JSON when a round had errors. */
  diagnose?(): Record<string, string[]>;
}

/**
 * For every size and load: warm each target up, then run the rounds INTERLEAVED (round r of
 * every target, in an order rotated by r), so that references and Understudy see the same
 * machine noise; ratios are then taken per round (paired) and their median reported.
 */
async function runMatrix(o: Options, targets: Target[]): Promise<void> {
  for (const size of o.sizes) {
    for (const l of o.loads) {
      const rounds = new Map<Target, Figure['rounds']>(targets.map((t) => [t, []]));
      for (const t of targets) {
        await t.run(size, l.conns, l.depth, o.warmupMs);
        await t.after?.(size);
      }
      for (let r = 0; r < o.rounds; r++) {
        const order = targets.map((_, i) => targets[(i + r) % targets.length]);
        for (const t of order) {
          const pids = await t.pids();
          const c0: Record<string, number> = {};
          for (const [n, pid] of Object.entries(pids)) c0[n] = cpuSeconds(pid);
          const q0 = t.probe ? await t.probe().catch(() => NaN) : NaN;
          const m0 = machineBusySeconds();
          const t0 = performance.now();
          const res = await t.run(size, l.conns, l.depth, o.roundMs);
          const secs = (performance.now() - t0) / 1000;
          const serverRequests = t.probe ? (await t.probe().catch(() => NaN)) - q0 : undefined;
          const cpu: Record<string, number> = { load: res.loadCpu };
          for (const [n, pid] of Object.entries(pids)) cpu[n] = (cpuSeconds(pid) - c0[n]) / secs;
          // Everything else this machine ran meanwhile (other sessions' tests: it is shared and noisy).
          const ours = Object.values(cpu).reduce((a, b) => a + b, 0);
          cpu.others = Math.max(0, (machineBusySeconds() - m0) / secs - ours);
          rounds.get(t)!.push({ ...res, cpu, serverRequests });
          if (Object.keys(res.errors).length) {
            const note = `${t.name} ${fmtBytes(size)} ${l.conns}×${l.depth}, round ${r + 1}: ${JSON.stringify(res.errors)} (${res.issued ?? '?'} issued, ${Number.isFinite(serverRequests) ? serverRequests : '?'} requests reached the primary)`;
            log(note);
            anomalies.push(note);
            if (t.diagnose) anomalyLogs.push({ note, logs: t.diagnose() });
          }
          await t.after?.(size);
        }
      }
      for (const t of targets) {
        const rs = rounds.get(t)!;
        const errors: Record<string, number> = {};
        for (const r of rs) for (const [k, v] of Object.entries(r.errors)) errors[k] = (errors[k] ?? 0) + v;
        const cpu: Record<string, number> = {};
        for (const n of Object.keys(rs[0]?.cpu ?? {})) cpu[n] = median(rs.map((r) => r.cpu[n] ?? NaN));
        // CPU time per completed operation, per process (robust to machine noise, unlike ops/s).
        const cpuPerOp: Record<string, number> = {};
        for (const n of Object.keys(rs[0]?.cpu ?? {})) {
          if (n === 'others' || n === 'view' || n.startsWith('idle')) continue;
          cpuPerOp[n] = median(rs.map((r) => ((r.cpu[n] ?? NaN) * 1e6) / r.opsPerSec));
        }
        const f: Figure = {
          kind: t.kind, name: t.name, size, conns: l.conns, depth: l.depth,
          opsPerSec: spread(rs.map((r) => r.opsPerSec)),
          p50: spread(rs.map((r) => r.p50)),
          p99: spread(rs.map((r) => r.p99)),
          errors,
          cpu,
          cpuPerOp,
          reqPerOp: t.probe ? median(rs.map((r) => (r.serverRequests ?? NaN) / (r.issued ?? NaN))) : null,
          vsChain: null,
          rounds: rs,
        };
        figures.push(f);
      }
      // Paired ratios to the chain, round by round.
      const chain = figures.find((f) => f.kind === 'ref' && f.name === CHAIN && f.size === size && f.conns === l.conns && f.depth === l.depth);
      for (const f of figures.filter((x) => x.size === size && x.conns === l.conns && x.depth === l.depth)) {
        if (chain) {
          const n = Math.min(f.rounds.length, chain.rounds.length);
          const idx = Array.from({ length: n }, (_, i) => i);
          f.vsChain = {
            opsPerSec: spread(idx.map((i) => f.rounds[i].opsPerSec / chain.rounds[i].opsPerSec)),
            p50: spread(idx.map((i) => f.rounds[i].p50 / chain.rounds[i].p50)),
            p99: spread(idx.map((i) => f.rounds[i].p99 / chain.rounds[i].p99)),
          };
        }
        const errs = Object.keys(f.errors).length ? ` errors ${JSON.stringify(f.errors)}` : '';
        const ratio = f.vsChain && f !== chain ? ` (÷ chain: ops/s ${fmtRatio(f.vsChain.opsPerSec.median)}, p50 ${fmtRatio(f.vsChain.p50.median)})` : '';
        log(`${f.name} ${fmtBytes(size)} ${l.conns}×${l.depth}: ${fmtCount(f.opsPerSec.median)} ops/s [${fmtCount(f.opsPerSec.min)}–${fmtCount(f.opsPerSec.max)}], p50 ${fmtMs(f.p50.median)}, p99 ${fmtMs(f.p99.median)}${ratio}${f.reqPerOp !== null ? `, requests/op ${f.reqPerOp.toFixed(2)}` : ''}; µs/op ${Object.entries(f.cpuPerOp).map(([k, v]) => `${k} ${v.toFixed(1)}`).join(', ')}; cpu ${Object.entries(f.cpu).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')}${errs}`);
      }
    }
  }
}

// ───────────────────────── references ─────────────────────────

/** Start the reference servers, each with its own load process and connections open. */
async function refTargets(o: Options, stops: (() => Promise<void>)[]): Promise<Target[]> {
  const maxConns = Math.max(...o.loads.map((l) => l.conns));
  const setups: { name: string; start: () => Promise<{ url: string; pids: Record<string, number>; children: ChildProcess[] }> }[] = [
    {
      name: 'echo (1 hop)',
      start: async () => {
        const e = await startRefServer(['echo', '--port', '0']);
        return { url: e.url, pids: { echo: e.pid }, children: [e.child] };
      },
    },
    {
      name: CHAIN,
      start: async () => {
        const b = await startRefServer(['echo', '--port', '0']);
        const a = await startRefServer(['chain-a', '--port', '0', '--b', b.url]);
        return { url: a.url, pids: { A: a.pid, B: b.pid }, children: [a.child, b.child] };
      },
    },
    {
      name: 'chain, batched A→B',
      start: async () => {
        const b = await startRefServer(['echo', '--port', '0']);
        const a = await startRefServer(['chain-a', '--port', '0', '--b', b.url, '--batch']);
        return { url: a.url, pids: { A: a.pid, B: b.pid }, children: [a.child, b.child] };
      },
    },
  ];
  const targets: Target[] = [];
  for (const s of setups) {
    const srv = await s.start();
    const load = await newLoad();
    stops.push(async () => {
      await load.stop();
      for (const c of srv.children) await killChild(c);
    });
    await load.request({ cmd: 'ws-open', url: srv.url, conns: maxConns });
    log(`reference ${s.name}: ${Object.entries(srv.pids).map(([k, v]) => `${k} pid ${v}`).join(', ')}`);
    targets.push({
      kind: 'ref',
      name: s.name,
      pids: async () => srv.pids,
      run: (size, conns, depth, durationMs) => load.request<RunResult>({ cmd: 'ws-run', conns, depth, size, durationMs }, durationMs + 60_000),
    });
  }
  return targets;
}

// ───────────────────────── Understudy clusters ─────────────────────────

const BIN = path.join(ROOT, 'bin', 'understudy.js');

interface UProc {
  readonly pid: number;
  readonly port: number;
  readonly child: ChildProcess;
  /** ws://127.0.0.1:PORT: the view service's URL, or the replica's id. */
  readonly url: string;
  readonly id: string;
  readonly http: string;
  readonly logs: string[];
  kill(signal?: NodeJS.Signals): Promise<void>;
}
type ViewProc = UProc;
type ReplicaProc = UProc;

/**
 * Start `node [nodeArgs] bin/understudy.js ARGS` (so flags like --cpu-prof, which
 * NODE_OPTIONS refuses, can be given) and wait for its JSON "listening" line with the port.
 */
function startUnderstudy(args: string[], o: { env?: Record<string, string>; nodeArgs?: string[] } = {}): Promise<UProc> {
  const child = track(spawn(process.execPath, [...(o.nodeArgs ?? []), BIN, ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, PORT: '', NODE_OPTIONS: '', ...o.env },
  }));
  const logs: string[] = [];
  const keep = (l: string): void => {
    logs.push(l);
    if (logs.length > 500) logs.splice(0, 250);
  };
  return new Promise((resolve, reject) => {
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      if (child.pid) try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
      reject(new Error(`understudy ${args.join(' ')} did not start within 20 s:\n${logs.slice(-20).join('\n')}`));
    }, 20_000);
    readline.createInterface({ input: child.stdout! }).on('line', (line) => {
      keep(line);
      if (done) return;
      try {
        const m = JSON.parse(line);
        if (typeof m.port === 'number' && /listening/.test(String(m.msg))) {
          done = true;
          clearTimeout(timer);
          const url = `ws://${HOST}:${m.port}`;
          resolve({
            pid: child.pid!, port: m.port, child, url, id: url, http: `http://${HOST}:${m.port}`, logs,
            kill: async (signal: NodeJS.Signals = 'SIGKILL') => {
              if (child.exitCode === null && child.signalCode === null && child.pid) {
                try { process.kill(child.pid, signal); } catch { /* gone */ }
              }
              await waitExit(child, 30_000);
            },
          });
        }
      } catch { /* not JSON */ }
    });
    readline.createInterface({ input: child.stderr! }).on('line', keep);
    child.once('exit', (code, sig) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`understudy ${args.join(' ')} exited (${sig ?? code}) before listening:\n${logs.slice(-20).join('\n')}`));
    });
  });
}

function spawnView(o: { env?: Record<string, string> } = {}): Promise<ViewProc> {
  return startUnderstudy(['view', '--host', HOST, '--port', '0'], o);
}

function spawnReplica(o: { view: string; env?: Record<string, string>; nodeArgs?: string[] }): Promise<ReplicaProc> {
  return startUnderstudy(['replica', '--host', HOST, '--port', '0', '--view', o.view], o);
}

interface Cluster {
  view: ViewProc;
  replicas: ReplicaProc[];
}

async function startCluster(o: Options, n: number, replicaNodeArgs: string[] = [], extraEnv: Record<string, string> = {}): Promise<Cluster> {
  const e = { LOG_LEVEL: o.logLevel, ...extraEnv };
  const view = await spawnView({ env: e });
  const replicas: ReplicaProc[] = [];
  // One at a time: the first becomes primary, the second backup, the rest idle.
  for (let i = 0; i < n; i++) {
    // BENCH_REPLICA_DATA_DIR=BASE: each replica gets its own --data-dir under BASE (SPEC §9; fsync: UNDERSTUDY_FSYNC).
    const base = process.env.BENCH_REPLICA_DATA_DIR;
    const env = base ? { ...e, UNDERSTUDY_DATA_DIR: fs.mkdtempSync(path.join(base, 'replica-')) } : e;
    replicas.push(await spawnReplica({ view: view.url, env, nodeArgs: replicaNodeArgs }));
    if (i < 2) await waitView(view, (v) => v.acked && v.primary === replicas[0].id && (i === 0 || v.backup === replicas[1].id), 20_000);
  }
  return { view, replicas };
}

async function stopCluster(c: Cluster | null): Promise<void> {
  if (!c) return;
  for (const r of c.replicas) {
    if (stoppedPids.has(r.pid)) { try { process.kill(r.pid, 'SIGCONT'); } catch { /* gone */ } stoppedPids.delete(r.pid); }
    await r.kill('SIGKILL');
  }
  await c.view.kill('SIGKILL');
}

async function viewOf(vs: ViewProc): Promise<ViewStatus> {
  return getJson<ViewStatus>(`${vs.http}/view`, 2000);
}

async function waitView(vs: ViewProc, pred: (v: ViewStatus) => boolean, timeoutMs: number, everyMs = 10): Promise<ViewStatus> {
  const deadline = Date.now() + timeoutMs;
  let last: ViewStatus | null = null;
  for (;;) {
    try {
      last = await viewOf(vs);
      if (pred(last)) return last;
    } catch { /* retry */ }
    if (Date.now() > deadline) throw new Error(`view did not reach the expected state within ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    await sleep(everyMs);
  }
}

/** understudy_replica_requests_total (all ops) from a replica's /metrics. */
async function requestsReceived(r: ReplicaProc): Promise<number> {
  const res = await fetch(`${r.http}/metrics`, { signal: AbortSignal.timeout(5000) });
  const text = await res.text();
  let n = 0;
  for (const m of text.matchAll(/^understudy_replica_requests_total(?:\{[^}]*\})?\s+([0-9.e+]+)/gm)) n += Number(m[1]);
  return n;
}

function roleOf(c: Cluster, v: ViewStatus): { primary?: ReplicaProc; backup?: ReplicaProc } {
  return { primary: c.replicas.find((r) => r.id === v.primary), backup: c.replicas.find((r) => r.id === v.backup) };
}

// ───────────────────────── Understudy operations ─────────────────────────

const GET_KEYS = 10_000;
const PUT_KEYS = 10_000;
const APPEND_KEYS = 4096;

/**
 * Start a view service + 2 replicas and one load process with 16 clients; one target per
 * operation. Pushes its clean-up (with --cpu-prof: SIGTERM, so the profiles are written).
 * `auth` (--auth): a second such cluster with JWTs and 10 rules (bench/auth.ts), put only.
 */
async function opsTargets(o: Options, stops: (() => Promise<void>)[], auth = false): Promise<Target[]> {
  const nodeArgs: string[] = [];
  if (o.cpuProf) {
    const dir = auth ? path.join(o.cpuProf, 'auth') : o.cpuProf;
    fs.mkdirSync(dir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  const ops: UOp[] = auth ? ['put'] : o.ops;
  log(`understudy${auth ? ' (JWT + 10 rules)' : ''}: starting view service + 2 replicas`);
  const c = await startCluster(o, 2, nodeArgs, auth ? authEnv() : {});
  let load: Load | null = null;
  stops.push(async () => {
    if (o.cpuProf) {
      // Stop the replicas cleanly so Node writes their profiles.
      await load?.request({ cmd: 'us-close' }).catch(() => undefined);
      for (const r of c.replicas) {
        r.child.kill('SIGTERM');
        if (!(await waitExit(r.child, 30_000))) log(`replica pid ${r.pid} did not exit within 30 s of SIGTERM; its profile may be missing`);
      }
      log(`cpu profiles in ${o.cpuProf}: ${JSON.stringify(profilePids)}`);
    }
    await load?.stop();
    await stopCluster(c);
  });
  const v = await viewOf(c.view);
  const { primary, backup } = roleOf(c, v);
  if (!primary || !backup) throw new Error(`unexpected view ${JSON.stringify(v)}`);
  log(`understudy: primary pid ${primary.pid} (${primary.id}), backup pid ${backup.pid} (${backup.id}), view pid ${c.view.pid}`);
  if (auth) profilePids = { ...profilePids, authPrimary: primary.pid, authBackup: backup.pid };
  else profilePids = { ...profilePids, primary: primary.pid, backup: backup.pid };
  // The roles as the view service has them now: if the view changes under load (a replica
  // declared dead), the bench says so and attributes CPU by the current roles.
  let lastView = v;
  let current: Record<string, number> = {};
  const checkView = async (when: string): Promise<Record<string, number>> => {
    const now = await viewOf(c.view);
    if (now.viewnum !== lastView.viewnum) {
      const note = `view changed ${when}: ${lastView.viewnum} {primary ${lastView.primary}, backup ${lastView.backup}} → ${now.viewnum} {primary ${now.primary}, backup ${now.backup}, acked ${now.acked}}`;
      log(`understudy: ${note}`);
      anomalies.push(note);
      // Keep what the processes said about it (their last log lines) in the JSON.
      anomalyLogs.push({ note, logs: Object.fromEntries([c.view, ...c.replicas].map((p) => [`${p === c.view ? 'view' : 'replica'} ${p.pid} ${p.id}`, p.logs.slice(-30)])) });
      lastView = now;
    }
    const r = roleOf(c, now);
    const pids: Record<string, number> = { view: c.view.pid };
    if (r.primary) pids.primary = r.primary.pid;
    if (r.backup) pids.backup = r.backup.pid;
    for (const x of c.replicas) if (x !== r.primary && x !== r.backup) pids[`idle ${x.pid}`] = x.pid;
    current = pids;
    return pids;
  };
  // With --cpu-prof the client side (the load process: the client library) is profiled too.
  const l = await newLoad(o.cpuProf ? ['--cpu-prof', `--cpu-prof-dir=${path.join(o.cpuProf, auth ? 'auth-client' : 'client')}`] : []);
  load = l;
  if (o.cpuProf) log(`understudy: load process (client library) pid ${l.pid}, profile in ${path.join(o.cpuProf, 'client')}`);
  const maxConns = Math.max(...o.loads.map((x) => x.conns));
  await l.request({ cmd: 'us-open', view: c.view.url, clients: maxConns, timeoutMs: 30_000, ...(o.attemptTimeoutMs ? { attemptTimeoutMs: o.attemptTimeoutMs } : {}), ...(auth ? { token: await benchToken() } : {}) });
  if (ops.includes('get')) {
    for (const size of o.sizes) {
      const r = await l.request<{ ms: number; errors: object }>({ cmd: 'us-bulk', op: 'put', keys: GET_KEYS, size, prefix: `g${size}:`, clients: maxConns, depth: 16 }, 300_000);
      log(`understudy: loaded ${GET_KEYS} keys of ${fmtBytes(size)} for get in ${fmtMs(r.ms)} ${JSON.stringify(r.errors)}`);
      await checkView(`while loading ${GET_KEYS} keys of ${fmtBytes(size)} for get`);
    }
  }
  // Appends grow values and conditional puts create their keys: each round has fresh keys,
  // deleted after it (untimed).
  let freshRun = 0;
  const fresh = new Map<UOp, { prefix: string; keys: number }>();
  const nextFresh = (op: UOp, size: number): string => {
    const prefix = `${op === 'append' ? 'a' : 'c'}${size}r${freshRun++}:`;
    fresh.set(op, { prefix, keys: op === 'append' ? APPEND_KEYS : 0 });
    return prefix;
  };
  return ops.map((op): Target => ({
    kind: 'understudy',
    name: auth ? AUTH_PUT : `understudy ${UOP_NAMES[op]}`,
    pids: () => checkView(`before a round of ${op}`),
    run: async (size, conns, depth, durationMs) => {
      const keyspace = op === 'get' ? GET_KEYS : op === 'append' ? APPEND_KEYS : PUT_KEYS;
      const prefix = op === 'get' ? `g${size}:` : op === 'put' || op === 'atomic10' ? `p${size}:` : nextFresh(op, size);
      const res = await l.request<RunResult>({ cmd: 'us-run', op, clients: conns, depth, size, durationMs, keyspace, prefix }, durationMs + 120_000);
      if (op === 'cas') fresh.get(op)!.keys = res.issued ?? 0;
      return res;
    },
    after: op === 'append' || op === 'cas'
      ? async (size) => {
        const f = fresh.get(op);
        if (f && f.keys > 0) await l.request({ cmd: 'us-bulk', op: 'delete', keys: f.keys, size, prefix: f.prefix, clients: maxConns, depth: 16 }, 300_000);
      }
      : undefined,
    probe: () => {
      const p = c.replicas.find((x) => x.pid === current.primary);
      return p ? requestsReceived(p) : Promise.resolve(NaN);
    },
    diagnose: () => Object.fromEntries([c.view, ...c.replicas].map((p) => [`${p === c.view ? 'view' : 'replica'} ${p.pid} ${p.id}`, p.logs.slice(-40)])),
  }));
}

let profilePids: Record<string, number> | null = null;
/** Things the cluster did that a benchmark should not see (view changes under load, …). */
const anomalies: string[] = [];
const anomalyLogs: { note: string; logs: Record<string, string[]> }[] = [];

// ───────────────────────── Redis ─────────────────────────

function hasRedis(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function freePort(): Promise<number> {
  const net = await import('node:net');
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const { port } = srv.address() as import('node:net').AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function startRedis(port: number, dir: string, extra: string[]): Promise<ChildProcess> {
  const child = track(spawn('redis-server', [
    '--port', String(port), '--bind', HOST, '--save', '', '--appendonly', 'no', '--protected-mode', 'no',
    '--dir', dir, '--daemonize', 'no', '--logfile', '', ...extra,
  ], { stdio: ['ignore', 'pipe', 'pipe'] }));
  child.stdout!.resume();
  child.stderr!.resume();
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      const c = await RespClient.connect(port);
      await c.command(['PING']);
      c.close();
      return child;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`redis-server on port ${port} did not start`);
      await sleep(50);
    }
  }
}

/** A redis-server primary + replica and a load process; one target (SET + WAIT 1 0). */
async function redisTargets(o: Options, stops: (() => Promise<void>)[]): Promise<Target[]> {
  if (!hasRedis()) {
    log('--redis: no redis-server on the PATH; skipped (Debian: apt-get install redis-server)');
    return [];
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-bench-redis-'));
  let primary: ChildProcess | null = null;
  let replica: ChildProcess | null = null;
  let load: Load | null = null;
  stops.push(async () => {
    await load?.stop();
    await killChild(replica ?? undefined);
    await killChild(primary ?? undefined);
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const pport = await freePort();
  primary = await startRedis(pport, dir, []);
  const rport = await freePort();
  fs.mkdirSync(path.join(dir, 'r'), { recursive: true });
  replica = await startRedis(rport, path.join(dir, 'r'), ['--replicaof', HOST, String(pport)]);
  const c = await RespClient.connect(rport);
  const deadline = Date.now() + 20_000;
  for (;;) {
    const info = String(await c.command(['INFO', 'replication']));
    if (/master_link_status:up/.test(info)) break;
    if (Date.now() > deadline) throw new Error(`redis replica did not link: ${info}`);
    await sleep(50);
  }
  c.close();
  log(`redis: primary pid ${primary.pid} :${pport}, replica pid ${replica.pid} :${rport}`);
  const l = await newLoad();
  load = l;
  const maxConns = Math.max(...o.loads.map((x) => x.conns));
  await l.request({ cmd: 'redis-open', port: pport, conns: maxConns });
  const pids = { primary: primary.pid!, replica: replica.pid! };
  return [{
    kind: 'redis',
    name: 'redis SET+WAIT 1 0',
    pids: async () => pids,
    run: (size, conns, depth, durationMs) => l.request<RunResult>({ cmd: 'redis-run', conns, depth, size, durationMs, keyspace: PUT_KEYS }, durationMs + 60_000),
  }];
}

/** References, Understudy and Redis side by side, rounds interleaved. */
async function runThroughput(o: Options): Promise<void> {
  const stops: (() => Promise<void>)[] = [];
  try {
    const targets: Target[] = [];
    if (o.only.has('ref')) targets.push(...await refTargets(o, stops));
    if (o.only.has('ops')) targets.push(...await opsTargets(o, stops));
    if (o.only.has('ops') && o.auth) targets.push(...await opsTargets(o, stops, true));
    if (o.redis) targets.push(...await redisTargets(o, stops));
    if (targets.length) await runMatrix(o, targets);
  } finally {
    for (const stop of stops.reverse()) {
      try { await stop(); } catch (err) { log(`clean-up: ${(err as Error).message}`); }
    }
  }
}

// ───────────────────────── failover ─────────────────────────

interface FailoverTrial {
  kind: 'kill' | 'stop';
  trial: number;
  /** Kill (or SIGSTOP) → view service shows the new primary. */
  detectMs: number | null;
  /** Kill → the new view acknowledged. */
  ackedMs: number | null;
  /** Longest gap between completed operations from just before the kill to 2 s after. */
  unavailableMs: number | null;
  /** Kill → the end of that longest gap (operations flow again). */
  recoveryMs: number | null;
  failed: number;
  failuresByCode: Record<string, number>;
  lostAcked: number;
  steadyOpsPerSec: number;
  steady: unknown;
  error?: string;
}

const failoverTrials: FailoverTrial[] = [];

async function runFailover(o: Options): Promise<void> {
  for (let trial = 1; trial <= o.failoverTrials; trial++) {
    for (const kind of ['kill', 'stop'] as const) {
      let cluster: Cluster | null = null;
      let load: Load | null = null;
      let stopped: number | null = null;
      try {
        cluster = await startCluster(o, o.failoverReplicas);
        const vStart = await viewOf(cluster.view);
        load = await newLoad();
        await load.request({ cmd: 'us-open', view: cluster.view.url, clients: o.steadyClients, timeoutMs: 30_000 });
        await load.request({ cmd: 'steady-start', clients: o.steadyClients, depth: o.steadyDepth, size: 100, pauseMs: 0, prefix: 'f:' });
        await sleep(o.quick ? 800 : 1500);
        // The primary NOW (under load the view may already have changed: that is recorded).
        const v0 = await waitView(cluster.view, (v) => v.acked && v.primary !== null && v.backup !== null, 10_000, 5);
        if (v0.viewnum !== vStart.viewnum) {
          const c = cluster;
          const note = `failover ${kind} #${trial}: the view changed under the steady load before the ${kind === 'kill' ? 'kill' : 'stop'}: ${vStart.viewnum} {primary ${vStart.primary}, backup ${vStart.backup}} → ${v0.viewnum} {primary ${v0.primary}, backup ${v0.backup}}`;
          log(note);
          anomalies.push(note);
          anomalyLogs.push({ note, logs: Object.fromEntries([c.view, ...c.replicas].map((p) => [`${p === c.view ? 'view' : 'replica'} ${p.pid} ${p.id}`, p.logs.slice(-30)])) });
        }
        const { primary } = roleOf(cluster, v0);
        if (!primary) throw new Error(`no primary in ${JSON.stringify(v0)}`);
        const mark = wallNow();
        if (kind === 'kill') {
          process.kill(primary.pid, 'SIGKILL');
        } else {
          process.kill(primary.pid, 'SIGSTOP');
          stoppedPids.add(primary.pid);
          stopped = primary.pid;
        }
        let detectMs: number | null = null;
        let ackedMs: number | null = null;
        try {
          const v1 = await waitView(cluster.view, (v) => v.primary !== primary.id && v.viewnum > v0.viewnum, 15_000, 5);
          detectMs = wallNow() - mark;
          if (!v1.acked) await waitView(cluster.view, (v) => v.acked && v.primary !== primary.id, 15_000, 5);
          ackedMs = wallNow() - mark;
        } catch (err) {
          log(`failover ${kind} #${trial}: ${(err as Error).message}`);
        }
        await sleep(2000);
        const markEnd = mark + 2000;
        const s = await load.request<{ windowMaxGapMs: number | null; resumedAfterMarkMs: number | null; failed: number; failuresByCode: Record<string, number>; lostAcked: number; opsPerSec: number }>(
          { cmd: 'steady-stop', mark, markEnd }, 120_000);
        const t: FailoverTrial = {
          kind, trial, detectMs, ackedMs,
          unavailableMs: s.windowMaxGapMs, recoveryMs: s.resumedAfterMarkMs,
          failed: s.failed, failuresByCode: s.failuresByCode, lostAcked: s.lostAcked, steadyOpsPerSec: s.opsPerSec, steady: s,
        };
        failoverTrials.push(t);
        log(`failover ${kind === 'kill' ? 'kill -9' : 'SIGSTOP'} #${trial}: unavailable ${fmtMs(t.unavailableMs ?? NaN)}, ops flowing again ${fmtMs(t.recoveryMs ?? NaN)} after the ${kind === 'kill' ? 'kill' : 'stop'}, view service saw it after ${fmtMs(detectMs ?? NaN)} (acked ${fmtMs(ackedMs ?? NaN)}), failed ops ${t.failed} ${JSON.stringify(t.failuresByCode)}, lost acknowledged writes ${t.lostAcked}, steady load ${fmtCount(s.opsPerSec)} ops/s`);
      } catch (err) {
        log(`failover ${kind} #${trial} failed: ${(err as Error).stack}`);
        failoverTrials.push({ kind, trial, detectMs: null, ackedMs: null, unavailableMs: null, recoveryMs: null, failed: NaN, failuresByCode: {}, lostAcked: NaN, steadyOpsPerSec: NaN, steady: null, error: String((err as Error).message) });
      } finally {
        if (stopped !== null) {
          try { process.kill(stopped, 'SIGCONT'); } catch { /* gone */ }
          stoppedPids.delete(stopped);
        }
        await load?.stop();
        await stopCluster(cluster);
      }
    }
  }
}

// ───────────────────────── state transfer and memory ─────────────────────────

interface TransferResult {
  keys: number;
  loadMs: number;
  loadOpsPerSec: number;
  loadErrors: Record<string, number>;
  rawBytes: number;
  rssBaseline: number;
  rssLoaded: number;
  rssBackup: number | null;
  /** Backup process printed "listening" → view acked with it as backup. */
  readyMs: number | null;
  /** View first names it backup → view acked (the transfer itself). */
  transferMs: number | null;
  /** Longest gap between completed client operations from the backup's start to 500 ms after ready. */
  maxPauseMs: number | null;
  steady: unknown;
  digestMatch: boolean | null;
  error?: string;
  diagnostics?: unknown;
}

const transfers: TransferResult[] = [];

function rawSize(keys: number, valueBytes: number): number {
  // keys are "key:0" … "key:N-1"
  let bytes = 0;
  for (let digits = 1, lo = 0; lo < keys; digits++, lo = lo === 0 ? 10 : lo * 10) {
    const hi = Math.min(keys, lo === 0 ? 10 : lo * 10);
    bytes += (hi - lo) * (4 + digits + valueBytes);
  }
  return bytes;
}

async function runTransfer(o: Options, doTransfer: boolean): Promise<void> {
  for (const keys of o.keys) {
    let cluster: Cluster | null = null;
    let load: Load | null = null;
    const t: TransferResult = { keys, loadMs: NaN, loadOpsPerSec: NaN, loadErrors: {}, rawBytes: rawSize(keys, 100), rssBaseline: NaN, rssLoaded: NaN, rssBackup: null, readyMs: null, transferMs: null, maxPauseMs: null, steady: null, digestMatch: null };
    try {
      cluster = await startCluster(o, 1);
      const primary = cluster.replicas[0];
      load = await newLoad();
      await load.request({ cmd: 'us-open', view: cluster.view.url, clients: 16, timeoutMs: 60_000 });
      await sleep(300);
      t.rssBaseline = rssBytes(primary.pid);
      log(`${doTransfer ? 'transfer' : 'memory'}: loading ${keys} keys of 100 B into a lone primary (pid ${primary.pid})`);
      const r = await load.request<{ ms: number; opsPerSec: number; errors: Record<string, number> }>(
        { cmd: 'us-bulk', op: 'put', keys, size: 100, prefix: 'key:', clients: 16, depth: 64 }, 3_600_000);
      t.loadMs = r.ms;
      t.loadOpsPerSec = r.opsPerSec;
      t.loadErrors = r.errors;
      await sleep(1000);
      t.rssLoaded = rssBytes(primary.pid);
      log(`loaded ${keys} keys in ${fmtMs(r.ms)} (${fmtCount(r.opsPerSec)} puts/s${Object.keys(r.errors).length ? `, errors ${JSON.stringify(r.errors)}` : ''}); primary RSS ${fmtBytes(t.rssBaseline)} → ${fmtBytes(t.rssLoaded)}, raw data ${fmtBytes(t.rawBytes)}`);
      if (doTransfer) {
        await load.request({ cmd: 'steady-start', clients: 2, depth: 1, size: 100, pauseMs: 1, prefix: 's:' });
        await sleep(500);
        const spawned = wallNow();
        const backup = await spawnReplica({ view: cluster.view.url, env: { LOG_LEVEL: o.logLevel } });
        cluster.replicas.push(backup);
        const listening = wallNow();
        let named: number | null = null;
        let acked: number | null = null;
        const deadline = Date.now() + o.transferTimeoutS * 1000;
        let lastView: ViewStatus | null = null;
        while (Date.now() < deadline) {
          try {
            const v = await viewOf(cluster.view);
            lastView = v;
            if (v.backup === backup.id && named === null) named = wallNow();
            if (v.backup === backup.id && v.acked) { acked = wallNow(); break; }
          } catch { /* retry */ }
          await sleep(5);
        }
        if (acked === null) {
          // Record what stood in the way, then still measure what the clients saw.
          const s = await load.request<{ windowMaxGapMs: number | null; ops: number }>({ cmd: 'steady-stop', mark: listening, waitMs: 2000, verify: false }, 60_000);
          t.steady = s;
          t.maxPauseMs = s.windowMaxGapMs;
          const interesting = (l: string): boolean => /"level":(4|5|6)0|link|transfer|xfer|backup|view/i.test(l);
          const diag = {
            view: lastView,
            primaryMetrics: await fetch(`${primary.http}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text()).then((x) => x.split('\n').filter((l) => /^understudy_(viewnum|ping_viewnum|log_index|keys|pending_requests|replica_role)/.test(l))).catch((e) => [String(e)]),
            backupMetrics: await fetch(`${backup.http}/metrics`, { signal: AbortSignal.timeout(5000) }).then((r) => r.text()).then((x) => x.split('\n').filter((l) => /^understudy_(viewnum|ping_viewnum|log_index|keys|pending_requests|replica_role)/.test(l))).catch((e) => [String(e)]),
            primaryLinkDowns: primary.logs.filter((l) => /backup link down/.test(l)).length,
            primaryLog: primary.logs.filter(interesting).slice(-25),
            backupLog: backup.logs.filter(interesting).slice(-25),
            viewLog: cluster.view.logs.filter(interesting).slice(-15),
          };
          t.diagnostics = diag;
          const note = `transfer of ${keys} keys: the new backup was not ready after ${o.transferTimeoutS} s (view ${JSON.stringify(lastView && { viewnum: lastView.viewnum, primary: lastView.primary, backup: lastView.backup, acked: lastView.acked, servers: lastView.servers })}); the primary logged "backup link down" ${diag.primaryLinkDowns} times; clients saw a ${fmtMs(s.windowMaxGapMs ?? NaN)} pause`;
          anomalies.push(note);
          throw new Error(note);
        }
        await sleep(500);
        const s = await load.request<{ windowMaxGapMs: number | null }>({ cmd: 'steady-stop', mark: listening, markEnd: acked + 500 }, 120_000);
        t.readyMs = acked - listening;
        t.transferMs = named !== null ? acked - named : null;
        t.maxPauseMs = s.windowMaxGapMs;
        t.steady = s;
        await sleep(500);
        t.rssBackup = rssBytes(backup.pid);
        log(`transfer ${keys} keys: backup process start ${fmtMs(listening - spawned)}, listening → ready ${fmtMs(t.readyMs)} (named → ready ${fmtMs(t.transferMs ?? NaN)}), longest client pause ${fmtMs(t.maxPauseMs ?? NaN)}; backup RSS ${fmtBytes(t.rssBackup)}`);
        try {
          const [dp, db] = await Promise.all([
            getJson<Digest>(`${primary.http}/digest`, 60_000),
            getJson<Digest>(`${backup.http}/digest`, 60_000),
          ]);
          t.digestMatch = dp.sha256 === db.sha256 && dp.keys === db.keys;
          if (!t.digestMatch) log(`digest mismatch: primary ${JSON.stringify(dp)} backup ${JSON.stringify(db)}`);
        } catch (err) {
          log(`digest check failed: ${(err as Error).message}`);
        }
      }
    } catch (err) {
      t.error = String((err as Error).message);
      log(`transfer/memory ${keys} keys failed: ${(err as Error).stack}`);
    } finally {
      transfers.push(t);
      await load?.stop();
      await stopCluster(cluster);
    }
  }
}

// ───────────────────────── report ─────────────────────────

function pad(s: string, n: number, right = false): string {
  return right ? s.padStart(n) : s.padEnd(n);
}

function renderTable(headers: string[], rows: string[][], rightFrom = 1): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string => cells.map((c, i) => pad(c, widths[i], i >= rightFrom)).join('  ').trimEnd();
  return [line(headers), widths.map((w) => '─'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

function spreadCount(s: Spread): string {
  return `${fmtCount(s.median)} [${fmtCount(s.min)}–${fmtCount(s.max)}]`;
}

function spreadMs(s: Spread): string {
  return `${fmtMs(s.median)} [${fmtMs(s.min)}–${fmtMs(s.max)}]`;
}

/** Median over rounds of a's round i ÷ b's round i (the rounds are interleaved, so paired). */
function pairedRatio(a: Figure, b: Figure, get: (r: RunResult) => number): number {
  const n = Math.min(a.rounds.length, b.rounds.length);
  return median(Array.from({ length: n }, (_, i) => get(a.rounds[i]) / get(b.rounds[i])));
}

function findFig(kind: Figure['kind'], name: string, size: number, conns: number, depth: number): Figure | undefined {
  return figures.find((f) => f.kind === kind && f.name === name && f.size === size && f.conns === conns && f.depth === depth);
}

/** An Understudy row ÷ plain put at the same size and load, paired by round ('–' for put itself and the others). */
function vsPut(f: Figure, get: (r: RunResult) => number = (r) => r.opsPerSec): string {
  if (f.kind !== 'understudy' || f.name === 'understudy put') return '–';
  const put = findFig('understudy', 'understudy put', f.size, f.conns, f.depth);
  return put ? fmtRatio(pairedRatio(f, put, get)) : '–';
}

const CHAIN = 'chain (2 hops)';

interface Goal { what: string; value: number; limit: number; unit: string; le: boolean; met: boolean }
const goals: Goal[] = [];

function target(what: string, value: number, limit: number, le: boolean, unit = ''): void {
  if (!Number.isFinite(value)) return;
  goals.push({ what, value, limit, unit, le, met: le ? value <= limit : value >= limit });
}

function report(o: Options): string {
  const out: string[] = [];
  const loadsHi = o.loads.filter((l) => !(l.conns === 1 && l.depth === 1));
  const has1 = o.loads.some((l) => l.conns === 1 && l.depth === 1);
  const cpuStr = (f: Figure): string => Object.entries(f.cpu).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(' ');
  for (const l of loadsHi) {
    const rows: string[][] = [];
    for (const size of o.sizes) {
      for (const f of figures.filter((x) => x.size === size && x.conns === l.conns && x.depth === l.depth)) {
        const errs = Object.values(f.errors).reduce((a, b) => a + b, 0);
        rows.push([
          f.name, fmtBytes(size), spreadCount(f.opsPerSec), fmtMs(f.p50.median), fmtMs(f.p99.median),
          f.vsChain ? fmtRatio(f.vsChain.opsPerSec.median) : '–',
          f.vsChain ? fmtRatio(f.vsChain.p50.median) : '–',
          vsPut(f),
          errs ? String(errs) : '0', f.reqPerOp !== null && Number.isFinite(f.reqPerOp) ? f.reqPerOp.toFixed(2) : '',
          Object.entries(f.cpuPerOp).map(([k, v]) => `${k} ${v.toFixed(v < 10 ? 1 : 0)}`).join(' '), cpuStr(f),
        ]);
      }
    }
    if (rows.length) {
      out.push(`\nThroughput, ${l.conns} connections × ${l.depth} in flight (median of ${o.rounds} rounds of ${fmtMs(o.roundMs)} [min–max]; rounds of all rows interleaved; ratios to the raw chain at the same size, paired round by round, median)\n`);
      out.push(renderTable(['', 'value', 'ops/s', 'p50', 'p99', 'ops/s ÷ chain', 'p50 ÷ chain', 'ops/s ÷ put', 'errors', 'req/op', 'CPU µs per op', 'CPU (cores)'], rows, 2));
    }
  }
  if (has1) {
    const rows: string[][] = [];
    for (const size of o.sizes) {
      for (const f of figures.filter((x) => x.size === size && x.conns === 1 && x.depth === 1)) {
        rows.push([
          f.name, fmtBytes(size), spreadMs(f.p50), spreadMs(f.p99), fmtCount(f.opsPerSec.median),
          f.vsChain ? fmtRatio(f.vsChain.p50.median) : '–',
          f.vsChain ? fmtRatio(f.vsChain.p99.median) : '–',
          vsPut(f, (r) => r.p50),
          String(Object.values(f.errors).reduce((a, b) => a + b, 0)),
        ]);
      }
    }
    if (rows.length) {
      out.push(`\nLatency, 1 connection × 1 in flight (median of ${o.rounds} rounds [min–max]; rounds interleaved; ratios to the raw chain, paired round by round)\n`);
      out.push(renderTable(['', 'value', 'p50', 'p99', 'ops/s', 'p50 ÷ chain', 'p99 ÷ chain', 'p50 ÷ put', 'errors'], rows, 2));
    }
  }
  // Targets from the throughput / latency figures.
  for (const size of o.sizes) {
    const put = findFig('understudy', 'understudy put', size, 16, 64);
    const chain = findFig('ref', CHAIN, size, 16, 64);
    const redis = findFig('redis', 'redis SET+WAIT 1 0', size, 16, 64);
    if (put?.vsChain && chain) target(`put ops/s at 16×64, ${fmtBytes(size)} ÷ raw chain`, put.vsChain.opsPerSec.median, 1.0, false, '×');
    if (put && redis) target(`put ops/s at 16×64, ${fmtBytes(size)} ÷ Redis SET+WAIT`, pairedRatio(put, redis, (r) => r.opsPerSec), 1.0, false, '×');
    const put1 = findFig('understudy', 'understudy put', size, 1, 1);
    if (put1?.vsChain) target(`put p50 at 1 in flight, ${fmtBytes(size)} ÷ raw chain`, put1.vsChain.p50.median, 1.3, true, '×');
    // Issue #13: JWTs and 10 rules cost at most 5% of put throughput (rounds interleaved: paired).
    for (const l of loadsHi) {
      const plain = findFig('understudy', 'understudy put', size, l.conns, l.depth);
      const authed = findFig('understudy', AUTH_PUT, size, l.conns, l.depth);
      if (plain && authed) target(`put ops/s at ${l.conns}×${l.depth}, ${fmtBytes(size)}, JWT + 10 rules ÷ without`, pairedRatio(authed, plain, (r) => r.opsPerSec), 0.95, false, '×');
    }
  }
  if (failoverTrials.length) {
    const rows: string[][] = [];
    for (const kind of ['kill', 'stop'] as const) {
      const ts = failoverTrials.filter((t) => t.kind === kind);
      if (!ts.length) continue;
      const un = spread(ts.map((t) => t.unavailableMs ?? NaN));
      const budget = kind === 'kill' ? 300 : 1.5 * 5 * 100;
      rows.push([
        kind === 'kill' ? 'kill -9 primary' : 'SIGSTOP primary',
        spreadMs(un), fmtRatio(un.median / budget), fmtMs(budget),
        fmtMs(median(ts.map((t) => t.recoveryMs ?? NaN))),
        fmtMs(median(ts.map((t) => t.detectMs ?? NaN))),
        String(ts.reduce((a, t) => a + (Number.isFinite(t.failed) ? t.failed : 0), 0)),
        String(ts.reduce((a, t) => a + (Number.isFinite(t.lostAcked) ? t.lostAcked : 0), 0)),
        `${ts.length}${ts.some((t) => t.error) ? ` (${ts.filter((t) => t.error).length} broke)` : ''}`,
      ]);
      target(`failover ${kind === 'kill' ? 'kill -9' : 'SIGSTOP'}: client-observed unavailability (median)`, un.median, budget, true, ' ms');
      if (kind === 'kill') target('failover kill -9: failed operations + lost acknowledged writes', ts.reduce((a, t) => a + t.failed + t.lostAcked, 0), 0, true);
    }
    out.push(`\nFailover under a steady put load (${o.steadyClients} clients × ${o.steadyDepth} in flight, 100 B; ${o.failoverReplicas} replicas; pingInterval 100 ms, deadPings 5)\n`);
    out.push(renderTable(['', 'unavailable [min–max]', '÷ target', 'target', 'ops resume after', 'VS saw it after', 'failed ops', 'lost acked', 'trials'], rows, 1));
  }
  const tr = transfers.filter((t) => t.readyMs !== null || t.error);
  if (tr.length) {
    const rows = tr.map((t) => [
      `${fmtCount(t.keys)} keys × 100 B`, fmtMs(t.readyMs ?? NaN), fmtMs(t.transferMs ?? NaN),
      fmtRatio((t.readyMs ?? NaN) / 5000), fmtMs(t.maxPauseMs ?? NaN), fmtRatio((t.maxPauseMs ?? NaN) / 50),
      `${fmtCount(t.loadOpsPerSec)}/s`, t.digestMatch === null ? '–' : t.digestMatch ? 'yes' : 'NO', t.error ? `error: ${t.error.slice(0, 60)}` : '',
    ]);
    for (const t of tr) {
      if (t.keys >= 1_000_000) {
        target(`new backup with ${fmtCount(t.keys)} keys ready`, t.readyMs ?? NaN, 5000, true, ' ms');
        target(`longest client pause during a ${fmtCount(t.keys)}-key transfer`, t.maxPauseMs ?? NaN, 50, true, ' ms');
      }
    }
    out.push('\nState transfer to a new backup (steady load of 2 clients × 1 put in flight meanwhile)\n');
    out.push(renderTable(['', 'ready', 'named → ready', 'ready ÷ 5 s', 'longest pause', 'pause ÷ 50 ms', 'bulk put rate', 'digests equal', ''], rows, 1));
  }
  const mem = transfers.filter((t) => Number.isFinite(t.rssLoaded));
  if (mem.length) {
    const rows = mem.map((t) => {
      const delta = t.rssLoaded - t.rssBaseline;
      return [
        `${fmtCount(t.keys)} keys × 100 B`, fmtBytes(t.rawBytes), fmtBytes(t.rssBaseline), fmtBytes(t.rssLoaded),
        fmtBytes((delta / t.keys) * 1e6), fmtRatio(delta / t.rawBytes), fmtRatio(t.rssLoaded / t.rawBytes),
        t.rssBackup !== null ? fmtBytes(t.rssBackup) : '–',
        t.rssBackup !== null ? fmtRatio((t.rssBackup - t.rssBaseline) / t.rawBytes) : '–',
      ];
    });
    const biggest = mem[mem.length - 1];
    target(`primary RSS growth ÷ raw data, 1 s after a bulk load (${fmtCount(biggest.keys)} keys)`, (biggest.rssLoaded - biggest.rssBaseline) / biggest.rawBytes, 2.5, true, '×');
    if (biggest.rssBackup !== null) target(`backup RSS growth ÷ raw data, after its transfer (${fmtCount(biggest.keys)} keys)`, (biggest.rssBackup - biggest.rssBaseline) / biggest.rawBytes, 2.5, true, '×');
    out.push('\nMemory of a replica (primary loaded by puts, measured 1 s after; backup filled by its state transfer, 500 ms after it is ready; VmRSS; growth over an empty replica)\n');
    out.push(renderTable(['', 'raw data', 'RSS empty', 'RSS loaded', 'RSS growth per 1M keys', 'growth ÷ raw', 'RSS ÷ raw', 'backup RSS after transfer', 'backup growth ÷ raw'], rows, 1));
  }
  if (goals.length) {
    out.push('\nTargets of issues #6 and #13 (measured in this run)\n');
    out.push(renderTable(['target', 'measured', 'limit', ''], goals.map((t) => [
      t.what, t.unit === '×' ? fmtRatio(t.value) : t.unit === ' ms' ? fmtMs(t.value) : String(t.value),
      `${t.le ? '≤' : '≥'} ${t.unit === '×' ? fmtRatio(t.limit) : t.unit === ' ms' ? fmtMs(t.limit) : String(t.limit)}`,
      t.met ? 'met' : 'MISSED',
    ]), 1));
  }
  return out.join('\n');
}

function environment(): Record<string, unknown> {
  let commit: string | null = null;
  try { commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim(); } catch { /* not a checkout */ }
  return {
    node: process.version,
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model,
    memory: os.totalmem(),
    loadavg: os.loadavg(),
    platform: `${os.platform()} ${os.release()}`,
    commit,
    redis: hasRedis() ? execFileSync('redis-server', ['--version']).toString().trim() : null,
  };
}

// ───────────────────────── main ─────────────────────────

async function main(): Promise<void> {
  const o = parseOptions(process.argv.slice(2));
  const started = new Date();
  const watchdog = setTimeout(() => {
    log(`watchdog: still running after ${o.maxMinutes} min; stopping everything`);
    void cleanup().finally(() => process.exit(3));
  }, o.maxMinutes * 60_000);
  const onSignal = (sig: string): void => {
    log(`${sig}: stopping every process the bench started`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', () => onSignal('SIGINT'));
  process.once('SIGTERM', () => onSignal('SIGTERM'));
  if (!fs.existsSync(path.join(ROOT, 'dist', 'client', 'node.js'))) throw new Error('dist/ is missing: run `npm run build` (npm run bench does it)');
  const env = environment();
  log(`node ${process.version}, ${env.cpus} cores (${String(env.cpuModel)}), load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; rounds ${o.rounds} × ${o.roundMs} ms after ${o.warmupMs} ms warm-up; sections ${[...o.only].join(',')}${o.redis ? ' + redis' : ''}`);
  const errors: string[] = [];
  let recovery: RecoveryFigures | null = null;
  const section = async (name: string, fn: () => Promise<void>): Promise<void> => {
    const t0 = Date.now();
    try {
      await fn();
    } catch (err) {
      errors.push(`${name}: ${(err as Error).stack ?? err}`);
      log(`${name} failed: ${(err as Error).stack ?? err}`);
    }
    log(`${name}: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  };
  try {
    if (o.only.has('ref') || o.only.has('ops') || o.redis) await section('throughput and latency (references, understudy, redis)', () => runThroughput(o));
    if (o.only.has('failover')) await section('failover', () => runFailover(o));
    if (o.only.has('transfer') || o.only.has('memory')) await section('state transfer / memory', () => runTransfer(o, o.only.has('transfer')));
    // SPEC §9: 1M keys + 64 MiB of log recover to /readyz (bench/disk-recovery.ts).
    if (o.only.has('recovery')) await section('recovery', async () => { recovery = await recoveryBench(os.tmpdir(), o.quick ? 100_000 : 1_000_000, o.quick ? 8 : 64); log(formatRecovery(recovery)); });
  } finally {
    await cleanup();
    clearTimeout(watchdog);
  }
  const table = report(o);
  const header = `Understudy bench — ${started.toISOString()} — node ${process.version}, ${env.cpus} cores, commit ${String(env.commit)}; ${o.quick ? 'QUICK run; ' : ''}${o.rounds} rounds × ${fmtMs(o.roundMs)} after ${fmtMs(o.warmupMs)} warm-up${process.env.UNDERSTUDY_COMPACT_HEAP === '1' ? '; replicas with UNDERSTUDY_COMPACT_HEAP=1' : ''}`;
  process.stdout.write(`\n${header}\n${table}\n`);
  if (recovery !== null) process.stdout.write(`\n${formatRecovery(recovery)}\n`);
  if (anomalies.length) process.stdout.write(`\nAnomalies:\n${anomalies.map((a) => `  ${a}`).join('\n')}\n`);
  if (errors.length) process.stdout.write(`\nSections that broke:\n${errors.map((e) => `  ${e.split('\n')[0]}`).join('\n')}\n`);
  fs.mkdirSync(o.out, { recursive: true });
  const file = path.join(o.out, `${started.toISOString().replace(/[:.]/g, '-')}${o.quick ? '-quick' : ''}.json`);
  fs.writeFileSync(file, JSON.stringify({
    started: started.toISOString(),
    finished: new Date().toISOString(),
    options: { ...o, only: [...o.only] },
    environment: { ...env, loadavgEnd: os.loadavg() },
    figures,
    failover: failoverTrials,
    transfer: transfers,
    recovery,
    targets: goals,
    profilePids,
    anomalies,
    anomalyLogs,
    errors,
    table: `${header}\n${table}`,
  }, null, 2));
  process.stdout.write(`\nJSON: ${path.relative(process.cwd(), file)}\n`);
}

main().then(
  () => process.exit(0),
  async (err) => {
    process.stderr.write(`bench: ${(err as Error)?.stack ?? err}\n`);
    await cleanup();
    process.exit(1);
  },
);
