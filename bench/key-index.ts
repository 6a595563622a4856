/**
 * Micro-benchmark of the sorted key index's cost (issue #12): KvState.apply of puts that
 * create keys (the index grows), puts that overwrite them (the index is untouched), deletes,
 * and one `list` page of 1000 at 100k keys. In-process, no I/O.
 *
 *   node -r ts-node/register bench/key-index.ts            this tree
 *   KV_ROOT=/tmp/before node -r ts-node/register bench/key-index.ts   another checkout's server/ (e.g. main's, for before/after)
 */
import * as path from 'node:path';
import { performance } from 'node:perf_hooks';

const root = process.env.KV_ROOT ?? path.join(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { KvState } = require(path.join(root, 'server/replica/kv-state')) as typeof import('../server/replica/kv-state');
import type { ReqMsg } from '../common/messages';

const N = Number(process.env.KEYS ?? 100_000);
const ROUNDS = Number(process.env.ROUNDS ?? 5);
let seq = 0;
const req = (op: string, key: string, value?: string): ReqMsg => ({ type: 'req', client: 'c', seq: ++seq, ack: seq, op, key, ...(value !== undefined ? { value } : {}) }) as ReqMsg;

function rate(label: string, n: number, run: () => void): number {
  const t0 = performance.now();
  run();
  const ms = performance.now() - t0;
  void label;
  return Math.round(n / (ms / 1000));
}

const best: Record<string, number> = {};
const keys = Array.from({ length: N }, (_, i) => `key:${(i * 7919) % N}`);
const reqs = { create: keys.map((k) => req('put', k, 'v'.repeat(20))), over: keys.map((k) => req('put', k, 'w'.repeat(20))), del: keys.map((k) => req('delete', k)) };
for (let r = 0; r < ROUNDS; r++) {
  const s = new KvState();
  const results: Record<string, number> = {
    'put (new key)': rate('create', N, () => { for (const q of reqs.create) s.apply({ ...q, seq: ++seq, ack: seq }); }),
    'put (existing key)': rate('over', N, () => { for (const q of reqs.over) s.apply({ ...q, seq: ++seq, ack: seq }); }),
  };
  const t0 = performance.now();
  const pages = 20;
  for (let p = 0; p < pages; p++) s.apply({ type: 'req', client: 'r', seq: ++seq, ack: seq, op: 'list', key: 'key:', limit: 1000, after: `key:${p * 5000}` } as ReqMsg);
  results['list page of 1000 (µs)'] = -Math.round(((performance.now() - t0) / pages) * 1000);
  results['delete'] = rate('del', N, () => { for (const q of reqs.del) s.apply({ ...q, seq: ++seq, ack: seq }); });
  for (const [k, v] of Object.entries(results)) {
    // rates: keep the best (highest); page times (stored negative): the best (lowest)
    best[k] = best[k] === undefined ? v : Math.max(best[k], v);
  }
}
for (const [k, v] of Object.entries(best)) console.log(`${k.padEnd(24)} ${v < 0 ? `${-v} µs` : `${v.toLocaleString('en')} /s`}`);
console.log(`(${N} keys, best of ${ROUNDS} rounds; KV_ROOT=${root})`);
