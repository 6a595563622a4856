/**
 * The bench's load generator: a separate process, driven by the runner (bench/run.ts) with
 * one JSON command per line on stdin, answering one JSON line per command on stdout
 * (`{"id":N,"ok":true,"result":…}` or `{"id":N,"ok":false,"error":"…"}`). It keeps its
 * connections open across commands, so warm-up and rounds reuse them.
 *
 * Targets:
 *   ws-*      raw `ws` connections to a reference server (echo, chain): each message is an
 *             Understudy-shaped `req` frame of the same size; replies are matched per
 *             connection in order (FIFO of send times), not parsed.
 *   us-*      Understudy through its client library (dist/client/node.js, what `npm run
 *             build` produced): N stores (= N clients), each with D operations in flight.
 *   redis-*   Redis `SET` + `WAIT 1 0`, pipelined, over bench/resp.ts.
 *   steady-*  a steady load of puts across a failover or a state transfer: records every
 *             completion time and every failure, then checks that no acknowledged write
 *             was lost (each lane writes an increasing counter to its own key).
 *
 * Exits when stdin closes. Sends traffic only to the 127.0.0.1 URLs it is given.
 */
import * as readline from 'node:readline';
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Samples, percentileSorted, longestGap } from './stats';
import { RespClient, encodeCommand, RespValue } from './resp';
import type { Store } from '../client/store';

// The built client library (npm run build), as a user gets it.
// eslint-disable-next-line @typescript-eslint/no-var-requires
const client = require(path.resolve(__dirname, '..', 'dist', 'client', 'node.js')) as typeof import('../client/node');

const now = (): number => performance.now();
/** Wall-clock milliseconds with sub-ms precision: comparable across processes on this machine. */
const wallNow = (): number => performance.timeOrigin + performance.now();

// ───────────────────────── results ─────────────────────────

export interface RunResult {
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
  /** CPU time of this load process during the run, as a fraction of one core. */
  loadCpu: number;
  /** Operations issued in the run (including those that completed after its end, while draining). */
  issued?: number;
}

function summarize(lat: Samples, durationMs: number, errors: Record<string, number>, cpu0: NodeJS.CpuUsage): RunResult {
  const s = lat.sorted();
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i];
  const cpu = process.cpuUsage(cpu0);
  return {
    ops: s.length,
    errors,
    durationMs,
    opsPerSec: s.length / (durationMs / 1000),
    p50: percentileSorted(s, 50),
    p90: percentileSorted(s, 90),
    p99: percentileSorted(s, 99),
    p999: percentileSorted(s, 99.9),
    max: s.length ? s[s.length - 1] : NaN,
    mean: s.length ? sum / s.length : NaN,
    loadCpu: (cpu.user + cpu.system) / 1000 / durationMs,
  };
}

function payload(size: number, salt = 0): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
  let s = '';
  for (let i = 0; i < size; i++) s += alphabet[(i * 7 + salt) % alphabet.length];
  return s;
}

function errCode(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown };
  return typeof e?.code === 'string' ? e.code : String(e?.message ?? err).slice(0, 80);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

// ───────────────────────── raw ws (references) ─────────────────────────

interface RawConn {
  ws: WebSocket;
  sent: number[]; // FIFO of send times (ring would be faster; depth ≤ 64 keeps shift cheap)
  seq: number;
  onReply: (() => void) | null;
}

let rawConns: RawConn[] = [];

async function wsOpen(c: { url: string; conns: number }): Promise<{ conns: number }> {
  await wsClose();
  rawConns = await Promise.all(Array.from({ length: c.conns }, () => new Promise<RawConn>((resolve, reject) => {
    const ws = new WebSocket(c.url, { perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
    const conn: RawConn = { ws, sent: [], seq: 0, onReply: null };
    ws.once('open', () => resolve(conn));
    ws.once('error', reject);
    ws.on('message', () => conn.onReply?.());
  })));
  return { conns: rawConns.length };
}

async function wsClose(): Promise<void> {
  for (const c of rawConns) c.ws.terminate();
  rawConns = [];
}

/** One round against a reference server: `conns` connections × `depth` in flight for `durationMs`. */
function wsRun(c: { conns: number; depth: number; size: number; durationMs: number }): Promise<RunResult> {
  const conns = rawConns.slice(0, c.conns);
  if (conns.length < c.conns) throw new Error(`only ${rawConns.length} connections open`);
  const value = payload(c.size);
  const clientId = 'bench0123456789abcdef';
  const lat = new Samples();
  const errors: Record<string, number> = {};
  const cpu0 = process.cpuUsage();
  return new Promise((resolve) => {
    let outstanding = 0;
    let running = true;
    const start = now();
    const end = start + c.durationMs;
    let finished = false;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      for (const conn of conns) conn.onReply = null;
      resolve(summarize(lat, c.durationMs, errors, cpu0));
    };
    // The same shape and size as an Understudy request, encoded once: the references measure
    // the servers and the wire, so the load side does as little per message as it can (a
    // 10 KiB string costs ~60 µs in Buffer.byteLength + copy here; a Buffer costs nothing).
    const msg = Buffer.from(JSON.stringify({ type: 'req', client: clientId, seq: 1000000, ack: 1000000, op: 'put', key: 'k:1000', value }));
    const send = (conn: RawConn): void => {
      conn.seq++;
      conn.sent.push(now());
      outstanding++;
      conn.ws.send(msg, { binary: false });
    };
    for (const conn of conns) {
      conn.sent.length = 0;
      conn.onReply = () => {
        const t = now();
        const t0 = conn.sent.shift()!;
        outstanding--;
        if (t <= end) lat.push(t - t0);
        else running = false;
        if (running) send(conn);
        else if (outstanding === 0) finish();
      };
    }
    for (const conn of conns) for (let i = 0; i < c.depth; i++) send(conn);
    // Stop issuing at the end even if no reply arrives; give stragglers 10 s.
    setTimeout(() => {
      running = false;
      if (outstanding === 0) finish();
      setTimeout(() => {
        if (!finished) errors.STUCK = outstanding;
        finish();
      }, 10_000);
    }, c.durationMs + 1);
  });
}

// ───────────────────────── Understudy ─────────────────────────

let stores: Store[] = [];

async function usOpen(c: { view: string; clients: number; timeoutMs: number; attemptTimeoutMs?: number; token?: string }): Promise<{ clients: number; view: unknown }> {
  await usClose();
  // A JWT (bench --auth) goes as a token function, so each link presents it in a `hello` (SPEC §11).
  const token = c.token;
  const opts = { view: c.view, timeoutMs: c.timeoutMs, ...(c.attemptTimeoutMs ? { attemptTimeoutMs: c.attemptTimeoutMs } : {}), ...(token ? { token: () => token } : {}) };
  stores = await Promise.all(Array.from({ length: c.clients }, () => client.connect(opts)));
  return { clients: stores.length, view: stores[0]?.view };
}

async function usClose(): Promise<void> {
  const s = stores;
  stores = [];
  await Promise.all(s.map((x) => x.close().catch(() => undefined)));
}

type Op = 'put' | 'get' | 'append' | 'delete' | 'cas' | 'atomic10';

/** Keys an atomic10 commit writes (issue #12's 10-operation commit). */
const ATOMIC_WRITES = 10;

/**
 * Operation number `k` of a round. `cas` is a conditional put that passes its check: put with
 * `ifRevision: 0` on a key of its own (prefix + k, created: the runner deletes the round's keys
 * afterwards), since a put's reply does not tell the key's new revision a next check would need.
 * `atomic10` is one commit of 10 puts (keys k×10 … k×10+9 of the keyspace) under one revision.
 */
function issue(store: Store, op: Op, keys: readonly string[], k: number, prefix: string, value: string): Promise<unknown> {
  switch (op) {
    case 'put': return store.put(keys[k % keys.length], value);
    case 'get': return store.get(keys[k % keys.length]);
    case 'append': return store.append(keys[k % keys.length], value);
    case 'delete': return store.delete(keys[k % keys.length]);
    case 'cas': return store.put(prefix + k, value, { ifRevision: 0 });
    case 'atomic10': {
      const a = store.atomic();
      for (let j = 0; j < ATOMIC_WRITES; j++) a.put(keys[(k * ATOMIC_WRITES + j) % keys.length], value);
      return a.commit().then((r) => { if (!r.ok) throw Object.assign(new Error('check failed'), { code: 'CHECK_FAILED' }); });
    }
  }
}

/**
 * One round of `op` through the client library: `clients` stores × `depth` in flight, keys
 * `prefix` + 0…keyspace-1 in turn.
 */
function usRun(c: { op: Op; clients: number; depth: number; size: number; durationMs: number; keyspace: number; prefix: string }): Promise<RunResult> {
  const ss = stores.slice(0, c.clients);
  if (ss.length < c.clients) throw new Error(`only ${stores.length} clients open`);
  const value = payload(c.size);
  const keys = Array.from({ length: c.keyspace }, (_, i) => c.prefix + i);
  const lat = new Samples();
  const errors: Record<string, number> = {};
  const cpu0 = process.cpuUsage();
  return new Promise((resolve) => {
    let outstanding = 0;
    let running = true;
    let finished = false;
    let k = 0;
    const start = now();
    const end = start + c.durationMs;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      resolve({ ...summarize(lat, c.durationMs, errors, cpu0), issued: k });
    };
    // Each lane makes its callbacks once, and the keys are made before the round: the load
    // process should spend its time in the client library, not in the harness (the raw
    // references send one prebuilt frame).
    const lane = (store: Store): void => {
      let t0 = 0;
      const next = (): void => {
        const n = k++;
        t0 = now();
        outstanding++;
        issue(store, c.op, keys, n, c.prefix, value).then(done, failed);
      };
      const done = (): void => {
        const t = now();
        outstanding--;
        if (t <= end) lat.push(t - t0);
        else running = false;
        if (running) next();
        else if (outstanding === 0) finish();
      };
      const failed = (err: unknown): void => {
        outstanding--;
        const code = errCode(err);
        errors[code] = (errors[code] ?? 0) + 1;
        if (now() > end) running = false;
        if (running) setTimeout(next, 1);
        else if (outstanding === 0) finish();
      };
      next();
    };
    for (const s of ss) for (let i = 0; i < c.depth; i++) lane(s);
    setTimeout(() => {
      running = false;
      if (outstanding === 0) finish();
      setTimeout(() => {
        if (!finished) errors.STUCK = outstanding;
        finish();
      }, 30_000);
    }, c.durationMs + 1);
  });
}

/**
 * Write `keys` keys `prefix`0…keys-1 (or delete them: op 'delete') as fast as the store
 * takes them, `clients` × `depth` in flight. Untimed set-up (loading data, cleaning up).
 */
async function usBulk(c: { op: 'put' | 'delete'; keys: number; from?: number; size: number; prefix: string; clients: number; depth: number }): Promise<{ keys: number; ms: number; opsPerSec: number; errors: Record<string, number> }> {
  const ss = stores.slice(0, c.clients);
  const value = payload(c.size, 3);
  const errors: Record<string, number> = {};
  const t0 = now();
  let next = c.from ?? 0;
  const last = (c.from ?? 0) + c.keys;
  const lane = async (store: Store): Promise<void> => {
    while (next < last) {
      const key = c.prefix + next++;
      for (let attempt = 0; ; attempt++) {
        try {
          if (c.op === 'put') await store.put(key, value);
          else await store.delete(key);
          break;
        } catch (err) {
          const code = errCode(err);
          errors[code] = (errors[code] ?? 0) + 1;
          if (attempt >= 5) break;
          await sleep(10);
        }
      }
    }
  };
  const lanes: Promise<void>[] = [];
  for (const s of ss) for (let i = 0; i < c.depth; i++) lanes.push(lane(s));
  await Promise.all(lanes);
  const ms = now() - t0;
  return { keys: c.keys, ms, opsPerSec: c.keys / (ms / 1000), errors };
}

// ───────────────────────── steady load (failover, state transfer) ─────────────────────────

interface Steady {
  running: boolean;
  lanes: Promise<void>[];
  done: Samples; // wall-clock completion times
  failures: { at: number; code: string }[];
  lastAcked: number[];
  keys: string[];
  storeOf: Store[];
  started: number;
  ops: number;
  lat: Samples;
}

let steady: Steady | null = null;

/**
 * Start a steady put load: `clients` stores × `depth` lanes; lane i writes "<counter>:<pad>"
 * to its own key, pausing `pauseMs` after each completion (0: back to back).
 */
function steadyStart(c: { clients: number; depth: number; size: number; pauseMs: number; prefix: string }): { lanes: number; started: number } {
  if (steady) throw new Error('a steady load is already running');
  const ss = stores.slice(0, c.clients);
  const pad = payload(Math.max(0, c.size - 12), 5);
  const st: Steady = { running: true, lanes: [], done: new Samples(), failures: [], lastAcked: [], keys: [], storeOf: [], started: wallNow(), ops: 0, lat: new Samples() };
  let laneNo = 0;
  for (const s of ss) {
    for (let d = 0; d < c.depth; d++) {
      const i = laneNo++;
      const key = `${c.prefix}${i}`;
      st.keys.push(key);
      st.storeOf.push(s);
      st.lastAcked.push(0);
      st.lanes.push((async () => {
        let counter = 0;
        while (st.running) {
          counter++;
          const t0 = now();
          try {
            await s.put(key, `${counter}:${pad}`);
            st.lastAcked[i] = counter;
            st.done.push(wallNow());
            st.lat.push(now() - t0);
            st.ops++;
          } catch (err) {
            st.failures.push({ at: wallNow(), code: errCode(err) });
            await sleep(5);
          }
          if (c.pauseMs > 0) await sleep(c.pauseMs);
        }
      })());
    }
  }
  steady = st;
  return { lanes: laneNo, started: st.started };
}

/**
 * Stop the steady load, wait for its outstanding operations, then read every lane's key back
 * and count acknowledged writes that are missing (value counter < last acknowledged).
 * `mark` (wall-clock ms, e.g. the moment of the kill) also gets the gap that spans it.
 */
async function steadyStop(c: { mark?: number; markEnd?: number; waitMs?: number; verify?: boolean }): Promise<unknown> {
  const st = steady;
  if (!st) throw new Error('no steady load running');
  steady = null;
  st.running = false;
  const stopped = wallNow();
  // Wait for the lanes' last operations, but not forever (a stuck cluster holds them until
  // their timeoutMs): what has not finished by then is reported, not waited for.
  let unfinished = st.lanes.length;
  await Promise.race([
    Promise.all(st.lanes.map((l) => l.then(() => { unfinished--; }))),
    sleep(c.waitMs ?? 30_000),
  ]);
  const times = st.done.sorted();
  const overall = longestGap(times, st.started, stopped);
  let gapAtMark: number | null = null;
  let firstOkAfterMark: number | null = null;
  let lastBeforeMark: number | null = null;
  let windowGap: { gapMs: number; at: number } | null = null;
  if (typeof c.mark === 'number') {
    let before = NaN;
    let after = NaN;
    for (let i = 0; i < times.length; i++) {
      if (times[i] <= c.mark) before = times[i];
      else { after = times[i]; break; }
    }
    if (!Number.isNaN(before) && !Number.isNaN(after)) gapAtMark = after - before;
    if (!Number.isNaN(after)) firstOkAfterMark = after - c.mark;
    if (!Number.isNaN(before)) lastBeforeMark = c.mark - before;
    // The longest gap from just before the mark to the end of the marked window, counting
    // the open gap at its end (no completion from the last one until the window closed).
    const from = Number.isNaN(before) ? c.mark : before;
    const to = Math.min(c.markEnd ?? stopped, stopped);
    windowGap = longestGap(times, from, to);
    let last = from;
    for (let i = 0; i < times.length; i++) if (times[i] >= from && times[i] <= to) last = times[i];
    if (to - last > windowGap.gapMs) windowGap = { gapMs: to - last, at: last };
  }
  // Verify: no acknowledged write lost.
  let lost = 0;
  let unreadable = 0;
  const lostKeys: string[] = [];
  if (c.verify !== false) await Promise.all(st.keys.map(async (key, i) => {
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const v = await st.storeOf[i].get(key, { timeoutMs: 10_000 });
        const n = v === null ? 0 : Number(v.slice(0, v.indexOf(':')));
        if (n < st.lastAcked[i]) { lost++; lostKeys.push(`${key}: read ${n} < acked ${st.lastAcked[i]}`); }
        return;
      } catch {
        await sleep(50);
      }
    }
    unreadable++;
  }));
  const failuresByCode: Record<string, number> = {};
  for (const f of st.failures) failuresByCode[f.code] = (failuresByCode[f.code] ?? 0) + 1;
  const lat = st.lat.sorted();
  return {
    ops: st.ops,
    durationMs: stopped - st.started,
    opsPerSec: st.ops / ((stopped - st.started) / 1000),
    p50: percentileSorted(lat, 50),
    p99: percentileSorted(lat, 99),
    maxLatency: lat.length ? lat[lat.length - 1] : NaN,
    failed: st.failures.length,
    failuresByCode,
    firstFailureAfterMarkMs: c.mark !== undefined && st.failures.length ? st.failures[0].at - c.mark : null,
    maxGapMs: overall.gapMs,
    maxGapAt: overall.at,
    gapAtMarkMs: gapAtMark,
    firstOkAfterMarkMs: firstOkAfterMark,
    lastBeforeMarkMs: lastBeforeMark,
    windowMaxGapMs: windowGap?.gapMs ?? null,
    // When the longest gap of the window ended, relative to the mark: operations resumed then.
    resumedAfterMarkMs: windowGap && Number.isFinite(windowGap.at) && typeof c.mark === 'number' ? windowGap.at + windowGap.gapMs - c.mark : null,
    windowMaxGapAt: windowGap?.at ?? null,
    lostAcked: c.verify !== false ? lost : null,
    lostKeys: lostKeys.slice(0, 10),
    unreadable,
    unfinishedLanes: unfinished,
  };
}

// ───────────────────────── Redis SET + WAIT 1 0 ─────────────────────────

let redisConns: RespClient[] = [];

async function redisOpen(c: { port: number; conns: number }): Promise<{ conns: number }> {
  redisClose();
  redisConns = await Promise.all(Array.from({ length: c.conns }, () => RespClient.connect(c.port)));
  return { conns: redisConns.length };
}

function redisClose(): void {
  for (const r of redisConns) r.close();
  redisConns = [];
}

/** One round of `SET key value` + `WAIT 1 0` (pipelined, written together): an op completes with WAIT's reply. */
function redisRun(c: { conns: number; depth: number; size: number; durationMs: number; keyspace: number; op?: 'set-wait' | 'get' }): Promise<RunResult> {
  const conns = redisConns.slice(0, c.conns);
  const value = Buffer.from(payload(c.size));
  const WAIT = encodeCommand(['WAIT', '1', '0']);
  const lat = new Samples();
  const errors: Record<string, number> = {};
  const cpu0 = process.cpuUsage();
  const op = c.op ?? 'set-wait';
  return new Promise((resolve) => {
    let outstanding = 0;
    let running = true;
    let finished = false;
    let k = 0;
    const end = now() + c.durationMs;
    const finish = (): void => {
      if (finished) return;
      finished = true;
      resolve(summarize(lat, c.durationMs, errors, cpu0));
    };
    const completed = (conn: RespClient, t0: number, err: Error | null, v: RespValue): void => {
      const t = now();
      outstanding--;
      if (err) errors[err.message.slice(0, 40)] = (errors[err.message.slice(0, 40)] ?? 0) + 1;
      else if (op === 'set-wait' && typeof v === 'number' && v < 1) errors.WAIT_0_REPLICAS = (errors.WAIT_0_REPLICAS ?? 0) + 1;
      else if (t <= end) lat.push(t - t0);
      if (t > end) running = false;
      if (running && !err) send(conn);
      else if (outstanding === 0) finish();
    };
    const send = (conn: RespClient): void => {
      const key = `k:${k++ % c.keyspace}`;
      const t0 = now();
      outstanding++;
      if (op === 'get') {
        conn.writeRaw(encodeCommand(['GET', key]), [(err, v) => completed(conn, t0, err, v)]);
      } else {
        conn.writeRaw(Buffer.concat([encodeCommand(['SET', key, value]), WAIT]), [
          (err) => { if (err) errors.SET = (errors.SET ?? 0) + 1; },
          (err, v) => completed(conn, t0, err, v),
        ]);
      }
    };
    for (const conn of conns) for (let i = 0; i < c.depth; i++) send(conn);
    setTimeout(() => {
      running = false;
      if (outstanding === 0) finish();
      setTimeout(() => {
        if (!finished) errors.STUCK = outstanding;
        finish();
      }, 10_000);
    }, c.durationMs + 1);
  });
}

// ───────────────────────── command loop ─────────────────────────

type Cmd = { id: number; cmd: string; [k: string]: unknown };

async function handle(m: Cmd): Promise<unknown> {
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const a = m as any;
  switch (m.cmd) {
    case 'ws-open': return wsOpen(a);
    case 'ws-run': return wsRun(a);
    case 'ws-close': return wsClose();
    case 'us-open': return usOpen(a);
    case 'us-run': return usRun(a);
    case 'us-bulk': return usBulk(a);
    case 'us-close': return usClose();
    case 'steady-start': return steadyStart(a);
    case 'steady-stop': return steadyStop(a);
    case 'redis-open': return redisOpen(a);
    case 'redis-run': return redisRun(a);
    case 'redis-close': return redisClose();
    case 'ping': return { pid: process.pid };
    case 'exit':
      await wsClose();
      await usClose();
      redisClose();
      setImmediate(() => process.exit(0));
      return {};
    default:
      throw new Error(`unknown command ${m.cmd}`);
  }
}

function reply(o: unknown): void {
  process.stdout.write(JSON.stringify(o) + '\n');
}

readline.createInterface({ input: process.stdin }).on('line', (line) => {
  let m: Cmd;
  try {
    m = JSON.parse(line);
  } catch {
    return;
  }
  handle(m).then(
    (result) => reply({ id: m.id, ok: true, result: result ?? null }),
    (err) => reply({ id: m.id, ok: false, error: String((err as Error)?.stack ?? err) }),
  );
}).on('close', () => process.exit(0));

process.on('unhandledRejection', (err) => {
  process.stderr.write(`load: unhandled rejection: ${String((err as Error)?.stack ?? err)}\n`);
});
reply({ id: 0, ok: true, result: { ready: true, pid: process.pid } });
