/**
 * What a replica's data costs in memory, per way of holding the values (goal: ≤ 2.5× the raw
 * bytes of keys + values). Builds N keys `key:0…` with values of B bytes parsed from JSON
 * (as a replica gets them off the wire) into:
 *
 *   map-string   Map<string, string>
 *   map-entry    Map<string, { value, bytes }>           (the store's Entry)
 *   arena        Map<string, number> + ValueArena        (values off the V8 heap)
 *
 * each in a fresh child process, and prints the heap, external and RSS growth after full GCs,
 * their ratio to the raw bytes, then the time per put (overwriting every key) and per read
 * (every key, in a shuffled order). It prints numbers; it asserts nothing.
 *
 *   node --expose-gc -r ts-node/register/transpile-only bench/memory-probe.ts [--keys N] [--value-bytes B]
 */
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { ValueArena } from '../server/replica/value-arena';
import { median } from './stats';

const VARIANTS = ['map-string', 'map-entry', 'arena'] as const;
type Variant = (typeof VARIANTS)[number];

/** Keys touched by the "hot" timings. */
const HOT_KEYS = 16_384;

interface ChildResult {
  variant: Variant;
  keys: number;
  rawBytes: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  rss: number;
  rssTotal: number;
  putColdNs: number;
  readColdNs: number;
  putHotNs: number;
  readHotNs: number;
}

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

/** A deterministic shuffle (xorshift32), so every variant reads the keys in the same order. */
function permutation(n: number, seed: number): Uint32Array {
  const p = new Uint32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  let s = seed >>> 0 || 1;
  for (let i = n - 1; i > 0; i--) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const j = s % (i + 1);
    const t = p[i]; p[i] = p[j]; p[j] = t;
  }
  return p;
}

const gc = (): void => {
  const g = (globalThis as { gc?: () => void }).gc;
  if (!g) throw new Error('run with node --expose-gc');
  g(); g(); g();
};

/** The data, held the way `variant` holds it (the branch is constant per process: monomorphic). */
class Holder {
  readonly strings = new Map<string, string>();
  readonly entries = new Map<string, { value: string; bytes: number }>();
  readonly handles = new Map<string, number>();
  readonly arena = new ValueArena();

  constructor(readonly variant: Variant) {}

  put(key: string, value: string): void {
    if (this.variant === 'map-string') this.strings.set(key, value);
    else if (this.variant === 'map-entry') this.entries.set(key, { value, bytes: value.length });
    else {
      // The store's overwrite: free the old record, store the new value.
      const old = this.handles.get(key);
      if (old !== undefined) this.arena.free(old);
      this.handles.set(key, this.arena.put(value));
    }
  }

  read(key: string): string {
    if (this.variant === 'map-string') return this.strings.get(key) as string;
    if (this.variant === 'map-entry') return (this.entries.get(key) as { value: string }).value;
    return this.arena.read(this.handles.get(key) as number);
  }

  keys(): string[] {
    return [...(this.variant === 'map-string' ? this.strings : this.variant === 'map-entry' ? this.entries : this.handles).keys()];
  }
}

/** Fill `h` with keys `key:0…` and values parsed from JSON, as a replica gets them off the wire. */
function fill(h: Holder, keys: number, filler: string): number {
  let rawBytes = 0;
  for (let i = 0; i < keys; i++) {
    // Fresh flat strings, as JSON.parse makes them from a frame (not slices of one string).
    const msg = JSON.parse(`{"key":"key:${i}","value":"${filler}${i % 10}"}`) as { key: string; value: string };
    rawBytes += msg.key.length + msg.value.length; // ASCII: bytes = units
    h.put(msg.key, msg.value);
  }
  return rawBytes;
}

/** Median ns per op of `ops` overwriting puts, then of `ops` reads, keys in a shuffled order. */
function time(h: Holder, ops: number, filler: string): { put: number; read: number } {
  const keyList = h.keys();
  const order = permutation(keyList.length, 12345);
  const values: string[] = [];
  for (let i = 0; i < 65536; i++) values.push(JSON.parse(`"${filler}${i % 10}"`) as string);
  const puts: number[] = [];
  const reads: number[] = [];
  let sink = 0;
  for (let round = 0; round < 3; round++) {
    let t = process.hrtime.bigint();
    for (let i = 0, j = 0; i < ops; i++, j = j + 1 === order.length ? 0 : j + 1) h.put(keyList[order[j]], values[i & 65535]);
    puts.push(Number(process.hrtime.bigint() - t) / ops);
    t = process.hrtime.bigint();
    for (let i = 0, j = 0; i < ops; i++, j = j + 1 === order.length ? 0 : j + 1) sink += h.read(keyList[order[j]]).length;
    reads.push(Number(process.hrtime.bigint() - t) / ops);
  }
  if (sink !== 3 * ops * filler.length + 3 * ops) throw new Error('reads returned values of the wrong size');
  return { put: median(puts), read: median(reads) };
}

/** One variant, in this (fresh) process: build, measure, then time puts and reads. */
function child(variant: Variant, keys: number, valueBytes: number): ChildResult {
  const filler = 'x'.repeat(valueBytes - 1);
  const h = new Holder(variant);
  h.arena.free(h.arena.put('warm-up')); // load the code, then keep the arena empty
  h.arena.clear();
  gc();
  const base = process.memoryUsage();
  const rawBytes = fill(h, keys, filler);
  gc();
  const after = process.memoryUsage();

  // Cold: all the keys, so nearly every access misses the CPU caches and the TLB. Hot: a
  // separate small store of HOT_KEYS keys, cache-resident: the CPU cost of an operation.
  const cold = time(h, keys, filler);
  const small = new Holder(variant);
  fill(small, HOT_KEYS, filler);
  const hot = time(small, keys, filler);

  return {
    variant,
    keys,
    rawBytes,
    heapUsed: after.heapUsed - base.heapUsed,
    heapTotal: after.heapTotal - base.heapTotal,
    external: after.external - base.external,
    arrayBuffers: after.arrayBuffers - base.arrayBuffers,
    rss: after.rss - base.rss,
    rssTotal: after.rss,
    putColdNs: cold.put,
    readColdNs: cold.read,
    putHotNs: hot.put,
    readHotNs: hot.read,
  };
}

const MB = (n: number): string => (n / 1e6).toFixed(1).padStart(7);

function main(): void {
  const keys = arg('--keys', 1_000_000);
  const valueBytes = arg('--value-bytes', 100);
  const i = process.argv.indexOf('--child');
  if (i >= 0) {
    process.stdout.write(JSON.stringify(child(process.argv[i + 1] as Variant, keys, valueBytes)) + '\n');
    return;
  }
  console.log(`${keys} keys, ${valueBytes}-byte values, node ${process.version}; MB = 10^6 bytes; growth after full GCs`);
  console.log(`ns per op: cold = all keys, shuffled (cache misses); hot = a store of ${HOT_KEYS} keys; put overwrites`);
  console.log('variant       raw MB  heap MB (total)  ext MB  heap+ext/raw  RSS MB  RSS/raw  RSS abs | put cold  read cold  put hot  read hot');
  for (const variant of VARIANTS) {
    const out = execFileSync(process.execPath,
      ['--expose-gc', '-r', 'ts-node/register/transpile-only', __filename, '--child', variant, '--keys', String(keys), '--value-bytes', String(valueBytes)],
      { cwd: path.resolve(__dirname, '..'), encoding: 'utf8', maxBuffer: 1 << 20, stdio: ['ignore', 'pipe', 'inherit'] });
    const r = JSON.parse(out.trim().split('\n').pop() as string) as ChildResult;
    const ns = (x: number, w: number): string => x.toFixed(0).padStart(w);
    console.log([
      r.variant.padEnd(12),
      MB(r.rawBytes),
      MB(r.heapUsed) + ` (${MB(r.heapTotal).trim()})`.padEnd(9),
      MB(r.external),
      ((r.heapUsed + r.external) / r.rawBytes).toFixed(2).padStart(12),
      MB(r.rss),
      (r.rss / r.rawBytes).toFixed(2).padStart(8),
      MB(r.rssTotal).padStart(7),
      '|',
      ns(r.putColdNs, 8), ns(r.readColdNs, 10), ns(r.putHotNs, 8), ns(r.readHotNs, 9),
    ].join(' '));
  }
}

main();
