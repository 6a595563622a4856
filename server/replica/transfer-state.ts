/**
 * The state of the current view's transfer as the primary sees it (part of the replica
 * core; primary-role.ts).
 */
import type { SnapshotChunk, TransferCursor } from './kv-state';

/** The current view's state transfer, as the primary sees it. */
export type Transfer =
  | { state: 'none' } //                    the view has no backup
  /**
   * The snapshot at `index`, opened when the view named the backup: its meta part (taken
   * then) waits for the link (`begun` false), the data streams once it is up; `sent`
   * xfer-data so far, `acked` of them acknowledged. `probed`: durable, a probe went out on
   * this link and the backup's position decides between this and a suffix (catch-up.ts).
   */
  | { state: 'streaming'; index: number; revision: number; cursor: TransferCursor; meta: SnapshotChunk[]; begun: boolean; sent: number; acked: number; probed?: boolean }
  | { state: 'sent'; index: number } //     xfer-end sent; waiting for xferack
  | { state: 'acked'; index: number }; //   the backup installed it
export type Streaming = Extract<Transfer, { state: 'streaming' }>;

/**
 * Chunks of a streaming transfer sent and not yet acknowledged, at most. With 128 KiB
 * chunks a forwarded op queues behind at most about 256 KiB of snapshot. @default 2
 */
export const TRANSFER_WINDOW = 2;
export const NONE: Transfer = Object.freeze({ state: 'none' });
