/**
 * A durable replica's disk metrics (SPEC §9, `GET /metrics`; the README lists them). Fed
 * once per fdatasync and once per snapshot (never per operation); the gauges read the
 * Durability when scraped.
 *
 *   understudy_fsync_duration_seconds      histogram: each fdatasync of the log
 *   understudy_ops_per_fsync               histogram: operations each fdatasync made durable
 *   understudy_log_bytes                   gauge: log on disk since the last snapshot
 *   understudy_log_written_bytes_total     counter: bytes written to the log
 *   understudy_durable_index               gauge: the last operation index on disk
 *   understudy_snapshot_duration_seconds   histogram: writing one snapshot (a chunk per turn)
 *   understudy_snapshot_bytes              gauge: the last snapshot's size
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { Durability, DiskObserver } from './durability';

/** Seconds: an fdatasync is ~0.3 ms on a quiet SSD, tens of ms on a busy or rotating disk. */
const FSYNC_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
const OPS_PER_FSYNC_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096];
const SNAPSHOT_BUCKETS = [0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Register the disk metrics on `registry`; the returned observer goes to the Durability. */
export function registerDiskMetrics(registry: Registry, disk: () => Durability | null): DiskObserver {
  const fsync = new Histogram({ name: 'understudy_fsync_duration_seconds', help: 'Latency of each fdatasync of the write-ahead log (--data-dir).', buckets: FSYNC_BUCKETS, registers: [registry] });
  const perFsync = new Histogram({ name: 'understudy_ops_per_fsync', help: 'Operations made durable by each fdatasync of the log (group commit).', buckets: OPS_PER_FSYNC_BUCKETS, registers: [registry] });
  const snapshot = new Histogram({ name: 'understudy_snapshot_duration_seconds', help: 'Time to write one snapshot of the state to disk, a chunk per event-loop turn.', buckets: SNAPSHOT_BUCKETS, registers: [registry] });
  const snapshotBytes = new Gauge({ name: 'understudy_snapshot_bytes', help: 'Size of the last snapshot written.', registers: [registry] });
  let written = 0;
  new Counter({
    name: 'understudy_log_written_bytes_total', help: 'Bytes written to the write-ahead log since start.', registers: [registry],
    collect() { this.reset(); this.inc(written + (disk()?.walStats?.bytes ?? 0)); },
  });
  new Gauge({
    name: 'understudy_log_bytes', help: 'Bytes of log on disk since the last snapshot (a background snapshot lets them go).', registers: [registry],
    collect() { this.set(disk()?.logBytes ?? 0); },
  });
  new Gauge({
    name: 'understudy_durable_index', help: 'The last operation index on this replica\'s disk.', registers: [registry],
    collect() { this.set(disk()?.loggedIndex ?? 0); },
  });
  return {
    sync(ms, _records, ops) {
      fsync.observe(ms / 1000);
      if (ops > 0) perFsync.observe(ops);
    },
    snapshot(ms, bytes) {
      snapshot.observe(ms / 1000);
      snapshotBytes.set(bytes);
    },
    walReplaced(bytes) { written += bytes; },
  };
}
