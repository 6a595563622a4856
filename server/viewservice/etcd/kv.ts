/**
 * Our small interface to a consistent key-value store with leases (SPEC §12, issue #14):
 * exactly what leadership and the view key need from etcd — range, txn, lease, watch — so
 * that the `etcd3` package (etcd3-kv.ts) stays behind one file and can be replaced.
 *
 * Keys and values are strings (UTF-8). Revisions are etcd's: numbers that only grow for the
 * whole store; a key's `modRevision` is the revision of its last write and `createRevision`
 * the revision that created it (0 for a key that does not exist). etcd revisions are int64:
 * they stay well below 2^53 for any cluster we run, so they are JavaScript numbers here.
 */

/** One key's current (or past) version. */
export interface KvEntry {
  readonly key: string;
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  /** The lease that owns the key, 0 for none. */
  readonly lease: string;
}

/** A condition of a txn: all must hold for the txn's puts to happen. */
export type KvCompare =
  | { readonly key: string; readonly target: 'createRevision' | 'modRevision'; readonly equals: number }
  | { readonly key: string; readonly target: 'value'; readonly equals: string };

export interface KvPut {
  readonly key: string;
  readonly value: string;
  /** Tie the key to this lease: it is deleted when the lease expires. */
  readonly lease?: string;
}

export interface TxnResult {
  /** Every compare held and the puts were applied, atomically. */
  readonly succeeded: boolean;
  /** The store's revision after the txn: the puts' modRevision when it succeeded. */
  readonly revision: number;
  /** When it failed: the current versions of the keys asked for in `readOnFailure`. */
  readonly read: ReadonlyMap<string, KvEntry>;
}

export interface RangeResult {
  readonly entry: KvEntry | null;
  /** The store's revision when it was read. */
  readonly revision: number;
}

/** A lease: keys tied to it vanish when it is not kept alive for its TTL. */
export interface KvLease {
  readonly id: string;
  readonly ttlSeconds: number;
}

/** What a watch reports; after `error` the watcher is dead: read the key again and watch anew. */
export interface WatchHandlers {
  onPut(entry: KvEntry): void;
  onDelete(key: string, revision: number): void;
  onError(err: Error): void;
}

export interface Watch {
  cancel(): Promise<void>;
}

export interface Kv {
  /**
   * Read one key: linearizable (it goes through etcd's quorum), so it sees every write that
   * committed before the call. With `revision`, the key as it was at that revision.
   */
  range(key: string, o?: { revision?: number }): Promise<RangeResult>;
  /** Every key starting with `prefix` (linearizable too), in key order. */
  rangePrefix(prefix: string): Promise<KvEntry[]>;
  /** If every compare holds, apply the puts (atomically); else read `readOnFailure`. */
  txn(compares: readonly KvCompare[], puts: readonly KvPut[], readOnFailure?: readonly string[]): Promise<TxnResult>;
  grantLease(ttlSeconds: number): Promise<KvLease>;
  /** Renew the lease once; resolves with the TTL left (seconds), 0 when the lease is gone. */
  keepAlive(lease: KvLease): Promise<number>;
  revokeLease(lease: KvLease): Promise<void>;
  /** Watch one key for changes after `fromRevision` (exclusive). */
  watch(key: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch>;
  close(): void;
}

/**
 * Every version of `key` still in the store's history, oldest first, by walking back from
 * the current one (each older version is the key as it was just before the next one). Stops
 * at the key's creation, at a deletion, or at a compacted revision.
 */
export async function keyHistory(kv: Kv, key: string): Promise<KvEntry[]> {
  const out: KvEntry[] = [];
  let at: number | undefined;
  for (;;) {
    let r: RangeResult;
    try {
      r = await kv.range(key, at === undefined ? {} : { revision: at });
    } catch {
      break; // compacted: what is older is gone
    }
    if (r.entry === null) break;
    out.push(r.entry);
    if (r.entry.modRevision <= 1 || r.entry.modRevision === r.entry.createRevision) break;
    at = r.entry.modRevision - 1;
  }
  return out.reverse();
}
