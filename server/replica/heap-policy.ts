/**
 * How a replica process asks V8 to manage its heap (issue #6, memory): a trade between
 * resident memory and GC pauses, chosen with UNDERSTUDY_COMPACT_HEAP.
 *
 * A replica's heap is mostly a million small key strings that live forever (the values are
 * off-heap, value-arena.ts), promoted among requests that die soon after. V8 compacts only
 * its most fragmented pages, so after a bulk load the old generation stays several times
 * its live size: 1M keys of 100 B loaded by puts, 42 MB live in 210 MB committed, RSS 4.0×
 * the data (2.1× once compacted).
 *
 *   UNDERSTUDY_COMPACT_HEAP=1   compact on every full GC: RSS 2.9× right after the load;
 *                               but a full GC with 1M keys pauses about 90 ms, not 40 ms
 *   default (unset or 0)        V8's own policy: shorter pauses, more resident memory
 *
 * With compaction on, it is still off while a state transfer comes in: that heap is built
 * from big chunks with little to compact, and the clients wait on the backup meanwhile.
 * Only the replica command calls this: the flag is process-wide, and tests run replicas
 * inside the test process.
 */
import * as v8 from 'node:v8';

let wanted = false;
let applied = false;

function apply(on: boolean): void {
  if (on === applied) return;
  v8.setFlagsFromString(on ? '--compact-on-every-full-gc' : '--no-compact-on-every-full-gc');
  applied = on;
}

/** The replica process starts: compact on every full GC if UNDERSTUDY_COMPACT_HEAP=1. */
export function enableHeapCompaction(env: NodeJS.ProcessEnv = process.env): void {
  if (env.UNDERSTUDY_COMPACT_HEAP !== '1') return;
  wanted = true;
  apply(true);
}

/** A state transfer is being received (true) or not (false): no compaction meanwhile. */
export function receivingTransfer(receiving: boolean): void {
  if (wanted) apply(!receiving);
}
