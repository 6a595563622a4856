/**
 * An in-memory Kv (server/viewservice/etcd/kv.ts) for unit tests: etcd's revision rules
 * (one store revision, createRevision/modRevision per key, compare-and-put txns), leases that
 * expire only when the test says so, and txns that can be held to look between "sent" and
 * "committed". No timers, no ports.
 */
import type { Kv, KvCompare, KvEntry, KvLease, KvPut, RangeResult, TxnResult, Watch, WatchHandlers } from '../../server/viewservice/etcd/kv';

export class MemoryKv implements Kv {
  revision = 1;
  private readonly keys = new Map<string, KvEntry>();
  private readonly history: KvEntry[] = [];
  private readonly leases = new Set<string>();
  private nextLease = 1;
  /** While set, every txn waits for it before it applies. */
  hold: Promise<void> | null = null;
  txns = 0;
  /**
   * Txns whose reply is lost, in order: 'lost' throws without applying, 'applied' applies
   * and then throws (an etcd member that committed but died before answering).
   */
  readonly failTxns: ('lost' | 'applied')[] = [];

  async range(key: string, o: { revision?: number } = {}): Promise<RangeResult> {
    if (o.revision === undefined) return { entry: this.keys.get(key) ?? null, revision: this.revision };
    const past = this.history.filter((e) => e.key === key && e.modRevision <= (o.revision as number)).pop() ?? null;
    return { entry: past !== null && past.value === '\u0000deleted' ? null : past, revision: this.revision };
  }

  async rangePrefix(prefix: string): Promise<KvEntry[]> {
    return [...this.keys.values()].filter((e) => e.key.startsWith(prefix)).sort((a, b) => (a.key < b.key ? -1 : 1));
  }

  async txn(compares: readonly KvCompare[], puts: readonly KvPut[], readOnFailure: readonly string[] = []): Promise<TxnResult> {
    this.txns++;
    if (this.hold !== null) await this.hold;
    const fail = this.failTxns.shift();
    if (fail === 'lost') throw new Error('txn reply lost (not applied)');
    if (fail === 'applied') {
      await this.apply(compares, puts, readOnFailure);
      throw new Error('txn reply lost (applied)');
    }
    return this.apply(compares, puts, readOnFailure);
  }

  private async apply(compares: readonly KvCompare[], puts: readonly KvPut[], readOnFailure: readonly string[]): Promise<TxnResult> {
    const ok = compares.every((c) => {
      const e = this.keys.get(c.key);
      if (c.target === 'value') return e?.value === c.equals;
      return (c.target === 'createRevision' ? e?.createRevision ?? 0 : e?.modRevision ?? 0) === c.equals;
    });
    if (!ok) {
      const read = new Map<string, KvEntry>();
      for (const k of readOnFailure) { const e = this.keys.get(k); if (e) read.set(k, e); }
      return { succeeded: false, revision: this.revision, read };
    }
    if (puts.length > 0) this.revision++;
    for (const p of puts) {
      const prev = this.keys.get(p.key);
      const e: KvEntry = { key: p.key, value: p.value, createRevision: prev?.createRevision ?? this.revision, modRevision: this.revision, lease: p.lease ?? '0' };
      this.keys.set(p.key, e);
      this.history.push(e);
    }
    return { succeeded: true, revision: this.revision, read: new Map() };
  }

  async grantLease(ttlSeconds: number): Promise<KvLease> {
    const id = String(this.nextLease++);
    this.leases.add(id);
    return { id, ttlSeconds };
  }

  async keepAlive(lease: KvLease): Promise<number> {
    return this.leases.has(lease.id) ? lease.ttlSeconds : 0;
  }

  async revokeLease(lease: KvLease): Promise<void> {
    this.expire(lease.id);
  }

  /** The lease ends (expired or revoked): its keys are deleted. */
  expire(id: string): void {
    this.leases.delete(id);
    for (const [k, e] of this.keys) {
      if (e.lease !== id) continue;
      this.keys.delete(k);
      this.revision++;
      this.history.push({ ...e, value: '\u0000deleted', modRevision: this.revision });
    }
  }

  async watch(_key: string, _from: number, _h: WatchHandlers): Promise<Watch> {
    return { cancel: async () => undefined };
  }

  close(): void { /* nothing to close */ }
}
