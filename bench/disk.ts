/**
 * Disk micro benchmark (issue #11): what one fdatasync costs on this disk, and what group
 * commit makes of it. Prints figures; asserts nothing about time.
 *
 *   TS_NODE_TRANSPILE_ONLY=true node -r ts-node/register bench/disk.ts [--dir DIR] [--seconds 3]
 *
 *  1. raw: append 4 KiB + fdatasync, one at a time, N times → fdatasync p50/p99.
 *  2. Wal at 1 in flight: one writer, append → wait durable → append (the latency floor).
 *  3. Wal at 16×64: 1024 closed-loop writers of ~150-byte fwd frames → ops/s, ops per fsync,
 *     the Wal's own fdatasync p50/p99 (batches are bigger, so each sync is longer).
 *  4. recovery: scan 64 MiB of log (~190-byte frames, 64-op records) → seconds and MB/s.
 *  5. a replica recovering 1M keys + 64 MiB of log to /readyz (bench/disk-recovery.ts;
 *     `--recovery-keys 0` skips it; needs dist/).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Wal, DurableMark } from '../server/replica/disk/wal';
import { recover, walStateFrom } from '../server/replica/disk/recovery';
import { percentiles } from './stats';
import { recoveryBench, formatRecovery } from './disk-recovery';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
}

const fmt = (ms: number): string => `${ms.toFixed(3)} ms`;

/** 1. raw fdatasync latency of small appends. */
function rawFdatasync(dir: string, n: number): number[] {
  const file = path.join(dir, 'raw.bin');
  const fd = fs.openSync(file, 'w'); // the benchmark itself may use *Sync: it measures the syscall
  const buf = Buffer.alloc(4096, 7);
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    fs.writeSync(fd, buf, 0, buf.length, i * buf.length);
    const t0 = process.hrtime.bigint();
    fs.fdatasyncSync(fd);
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  fs.closeSync(fd);
  fs.unlinkSync(file);
  return ms;
}

const frame = (i: number): string => `{"type":"fwd","viewnum":2,"index":${i},"ops":[{"type":"req","client":"c${i % 1024}","seq":${i},"ack":0,"op":"put","key":"key:${i % 100000}","value":"${'x'.repeat(100)}"}]}`;

/** 2./3. Closed-loop writers against a Wal for `seconds`. */
async function walRun(dir: string, writers: number, seconds: number): Promise<{ ops: number; fsyncs: number; opsPerSec: number; syncMs: number[]; latMs: number[] }> {
  const rec = await recover({ dir, fresh: () => ({ id: 'bench', incarnation: 'i', lineage: 'L' }) });
  const waiting: { index: number; t0: bigint; resolve: () => void }[] = [];
  const latMs: number[] = [];
  const syncMs: number[] = [];
  const onDurable = (m: DurableMark): void => {
    const now = process.hrtime.bigint();
    while (waiting.length > 0 && waiting[0].index <= m.index) {
      const w = waiting.shift()!;
      latMs.push(Number(now - w.t0) / 1e6);
      w.resolve();
    }
  };
  const wal = new Wal({ dir, ...walStateFrom(rec), onDurable, onError: (e) => { throw e; }, onSync: (ms) => syncMs.push(ms) });
  let next = rec.lastIndex + 1;
  const start = Date.now();
  const end = start + seconds * 1000;
  const writer = async (): Promise<void> => {
    while (Date.now() < end) {
      const i = next++;
      const p = new Promise<void>((resolve) => waiting.push({ index: i, t0: process.hrtime.bigint(), resolve }));
      wal.appendOps(i, 1, frame(i));
      await p;
    }
  };
  await Promise.all(Array.from({ length: writers }, writer));
  const elapsed = (Date.now() - start) / 1000;
  await new Promise<void>((r) => wal.close(r));
  return { ops: wal.stats.ops, fsyncs: wal.stats.fsyncs, opsPerSec: wal.stats.ops / elapsed, syncMs, latMs };
}

/** 4. Write `mib` MiB of log (fsync no), then time recover() over it. */
async function recoveryRun(dir: string, mib: number): Promise<{ ms: number; records: number; ops: number }> {
  const fresh = (): { id: string; incarnation: string; lineage: string } => ({ id: 'bench', incarnation: 'i', lineage: 'L' });
  const rec = await recover({ dir, fresh });
  let durable: () => void = () => undefined;
  const wal = new Wal({ dir, ...walStateFrom(rec), fsync: 'no', onDurable: () => durable(), onError: (e) => { throw e; } });
  const ops = Array.from({ length: 64 }, (_, k) => frame(k).slice(frame(k).indexOf('[') + 1, -2)).join(',');
  let index = 1;
  while (wal.stats.bytes < mib * 1024 * 1024) {
    const written = new Promise<void>((r) => { durable = r; });
    for (let k = 0; k < 16; k++, index += 64) wal.appendOps(index, 64, `{"type":"fwd","viewnum":2,"index":${index},"ops":[${ops}]}`);
    await written; // closed loop: the queue never grows past one turn's appends
  }
  await new Promise<void>((r) => wal.close(r));
  const t0 = process.hrtime.bigint();
  const again = await recover({ dir, fresh });
  return { ms: Number(process.hrtime.bigint() - t0) / 1e6, records: again.ops.length, ops: again.lastIndex };
}

async function main(): Promise<void> {
  const base = arg('--dir', os.tmpdir());
  const seconds = Number(arg('--seconds', '3'));
  const dir = fs.mkdtempSync(path.join(base, 'understudy-bench-disk-'));
  try {
    const raw = percentiles(rawFdatasync(dir, 300), [50, 99]);
    console.log(`disk: ${dir}`);
    console.log(`raw fdatasync (4 KiB appends, 300×): p50 ${fmt(raw[0])}  p99 ${fmt(raw[1])}`);
    for (const [label, writers] of [['1 in flight', 1], ['16×64 in flight', 1024]] as const) {
      const sub = fs.mkdtempSync(path.join(dir, 'wal-'));
      const r = await walRun(sub, writers, seconds);
      const [s50, s99] = percentiles(r.syncMs, [50, 99]);
      const [l50, l99] = percentiles(r.latMs, [50, 99]);
      console.log(`wal ${label}: ${Math.round(r.opsPerSec)} ops/s, ${r.ops} ops / ${r.fsyncs} fsyncs = ${(r.ops / r.fsyncs).toFixed(1)} ops per fsync; ` +
        `fdatasync p50 ${fmt(s50)} p99 ${fmt(s99)}; append→durable p50 ${fmt(l50)} p99 ${fmt(l99)}`);
    }
    const r = await recoveryRun(fs.mkdtempSync(path.join(dir, 'rec-')), 64);
    console.log(`recovery of 64 MiB of log: ${fmt(r.ms)} (${r.records} records, ${r.ops} ops, ${(64 / (r.ms / 1000)).toFixed(0)} MiB/s)`);
    const keys = Number(arg('--recovery-keys', '1000000'));
    if (keys > 0) console.log(formatRecovery(await recoveryBench(dir, keys, 64)));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => { console.error(err); process.exit(1); });
