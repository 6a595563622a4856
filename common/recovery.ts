/**
 * The shared vocabulary of view-service restarts (docs/VIEW-SERVICE-RESTART.md): what a
 * replica reports about itself in its pings, and what the view service persists. Pure: the
 * file I/O lives in the view service's shell (server/viewservice/view-store.ts).
 */
import type { View, ViewHolders } from './view';
import type { PingMsg } from './messages';
import { validView } from './protocol';

/**
 * What a replica knows, sent in every ping beside `viewnum` (optional on the wire: a SPEC §6
 * ping without it still works). A view service that lost its state learns the current view
 * from these reports before it forms any view.
 */
export interface ReplicaReport {
  /** The latest view the replica knows (`viewnum` in the ping is the one it acknowledges). */
  readonly view: View;
  /** The incarnations `view` names, as the view service sent them; null when learned without them (from a backup's reject). */
  readonly holders: ViewHolders | null;
  /** Its role in `view`. */
  readonly role: 'primary' | 'backup' | 'idle';
  /**
   * Whether it holds state that counts for `view`: it is the view's primary (holder), or its
   * backup with that view's state transfer installed. An idle replica's state never counts.
   */
  readonly initialised: boolean;
}

/** What the view service keeps on disk, written (atomically) before a view is announced. */
export interface PersistedView {
  readonly version: 1;
  readonly view: View;
  readonly holders: ViewHolders;
  /** Whether the view's primary has acknowledged it (SPEC §2.3). */
  readonly acked: boolean;
  /** The highest viewnum any replica reported knowing: the next view is numbered above it. */
  readonly maxViewnum: number;
}

/**
 * Where the view machine keeps its view across restarts. Synchronous on purpose: the machine
 * saves before it commits a change, so nothing is announced that is not on disk; a `save`
 * that throws leaves the machine's view as it was.
 */
export interface ViewStorage {
  /** The saved state, or null when there is none (a first start, or no data dir). Throws on a corrupt state. */
  load(): PersistedView | null;
  save(state: PersistedView): void;
}

/** A storage in memory, for tests and for a view service run without `--data-dir`. */
export class MemoryViewStorage implements ViewStorage {
  private text: string | null = null;
  /** How many saves (tests count them). */
  saves = 0;
  load(): PersistedView | null {
    return this.text === null ? null : parsePersistedView(this.text);
  }
  save(state: PersistedView): void {
    this.text = JSON.stringify(state);
    this.saves++;
  }
}

/** Parse and validate a persisted state; throws an Error that says what is wrong. */
export function parsePersistedView(text: string): PersistedView {
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch {
    throw new Error('the saved view is not valid JSON');
  }
  const o = x as Record<string, unknown>;
  if (typeof o !== 'object' || o === null || o.version !== 1) throw new Error('the saved view has no "version": 1');
  if (!validView(o.view)) throw new Error('the saved view has no valid "view" {viewnum, primary, backup}');
  const view = o.view;
  const h = o.holders as Record<string, unknown> | null | undefined;
  if (typeof h !== 'object' || h === null) throw new Error('the saved view has no "holders"');
  for (const slot of ['primary', 'backup'] as const) {
    const named = view[slot] !== null;
    if (named ? typeof h[slot] !== 'string' || (h[slot] as string).length === 0 : h[slot] !== null) {
      throw new Error(`the saved view's holders.${slot} must be ${named ? 'an incarnation' : 'null'}`);
    }
  }
  if (typeof o.acked !== 'boolean') throw new Error('the saved view has no boolean "acked"');
  const max = o.maxViewnum;
  if (typeof max !== 'number' || !Number.isSafeInteger(max) || max < 0) throw new Error('the saved view has no "maxViewnum"');
  return Object.freeze({
    version: 1,
    view: Object.freeze({ viewnum: view.viewnum, primary: view.primary, backup: view.backup }),
    holders: Object.freeze({ primary: h.primary as string | null, backup: h.backup as string | null }),
    acked: o.acked,
    maxViewnum: max,
  });
}

/** The report fields of a ping, if it carries them (a SPEC §6 ping does not). */
export function reportOf(msg: PingMsg): ReplicaReport | undefined {
  if (msg.view === undefined || msg.role === undefined || msg.initialised === undefined) return undefined;
  return { view: msg.view, holders: msg.holders ?? null, role: msg.role, initialised: msg.initialised };
}
