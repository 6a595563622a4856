/**
 * Kv (kv.ts) on the `etcd3` package: its raw RPC clients for range, txn and leases, and its
 * watcher for watch. Nothing of etcd3 leaks past this file. We do NOT use its Election or
 * Lock helpers: Election has elected two leaders (microsoft/etcd3#158, #176); leadership.ts
 * does election and fencing itself on these primitives.
 *
 * Every call has a deadline (`callTimeoutMs`): an etcd member that is stopped or cut off must
 * turn into an error the caller can act on, never a call that hangs. gRPC's deadline is
 * passed, AND each call races our own timer: under chaos (a member killed and restarted) a
 * call through etcd3's pool was seen never to settle, and a campaign or a view commit that
 * never settles stops that instance for good.
 */
import { Etcd3, type IKeyValue, type ICompare, type IRequestOp } from 'etcd3';
import type { Kv, KvCompare, KvEntry, KvLease, KvPut, RangeResult, TxnResult, Watch, WatchHandlers } from './kv';

/** @default 1000 ms per call: a call stuck on a dead member must leave time to try another within a lease TTL */
const CALL_TIMEOUT_MS = 1000;
/** Our timer fires this long after gRPC's deadline. */
const GRACE_MS = 250;

export interface Etcd3KvOptions {
  /** http://H:2379 URLs of the cluster's members. */
  readonly endpoints: readonly string[];
  readonly callTimeoutMs?: number;
}

export class Etcd3Kv implements Kv {
  private readonly client: Etcd3;
  private readonly callTimeoutMs: number;

  constructor(o: Etcd3KvOptions) {
    this.client = new Etcd3({ hosts: [...o.endpoints], dialTimeout: o.callTimeoutMs ?? CALL_TIMEOUT_MS });
    this.callTimeoutMs = o.callTimeoutMs ?? CALL_TIMEOUT_MS;
  }

  private deadline(): { deadline: number } {
    return { deadline: Date.now() + this.callTimeoutMs };
  }

  /** `p`, or an error a little after gRPC's deadline should have ended it. */
  private bounded<T>(p: Promise<T>, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`etcd ${what}: no answer within ${this.callTimeoutMs + GRACE_MS} ms`)), this.callTimeoutMs + GRACE_MS);
      p.then((v) => { clearTimeout(timer); resolve(v); }, (err: unknown) => { clearTimeout(timer); reject(err); });
    });
  }

  async range(key: string, o: { revision?: number } = {}): Promise<RangeResult> {
    const res = await this.bounded(this.client.kv.range({ key: Buffer.from(key), ...(o.revision === undefined ? {} : { revision: o.revision }) }, this.deadline()), 'range');
    return { entry: res.kvs.length === 0 ? null : entryOf(res.kvs[0]), revision: Number(res.header.revision) };
  }

  async rangePrefix(prefix: string): Promise<KvEntry[]> {
    const res = await this.bounded(this.client.kv.range({ key: Buffer.from(prefix), range_end: prefixEnd(Buffer.from(prefix)) }, this.deadline()), 'range');
    return res.kvs.map(entryOf);
  }

  async txn(compares: readonly KvCompare[], puts: readonly KvPut[], readOnFailure: readonly string[] = []): Promise<TxnResult> {
    const res = await this.bounded(this.client.kv.txn({
      compare: compares.map(compareOf),
      success: puts.map((p): IRequestOp => ({ request_put: { key: Buffer.from(p.key), value: Buffer.from(p.value), ...(p.lease ? { lease: p.lease } : {}) } })),
      failure: readOnFailure.map((k): IRequestOp => ({ request_range: { key: Buffer.from(k) } })),
    }, this.deadline()), 'txn');
    const read = new Map<string, KvEntry>();
    if (!res.succeeded) {
      for (const r of res.responses) for (const kv of r.response_range?.kvs ?? []) read.set(kv.key.toString('utf8'), entryOf(kv));
    }
    return { succeeded: res.succeeded, revision: Number(res.header.revision), read };
  }

  async grantLease(ttlSeconds: number): Promise<KvLease> {
    const res = await this.bounded(this.client.leaseClient.leaseGrant({ TTL: ttlSeconds }, this.deadline()), 'lease grant');
    if (res.error) throw new Error(`etcd lease grant: ${res.error}`);
    return { id: res.ID, ttlSeconds: Number(res.TTL) };
  }

  async keepAlive(lease: KvLease): Promise<number> {
    // A quarter of the TTL at most: a renewal stuck on a dead member must fail in time for
    // the next one (every TTL/3, to another member) to keep the lease.
    const timeoutMs = Math.min(this.callTimeoutMs, Math.floor((lease.ttlSeconds * 1000) / 4));
    const stream = await this.bounded(this.client.leaseClient.leaseKeepAlive({ deadline: Date.now() + timeoutMs }), 'lease keepalive');
    try {
      const res = await new Promise<{ TTL: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('etcd lease keepalive timed out')), timeoutMs);
        stream.on('data', (r: { TTL: string }) => { clearTimeout(timer); resolve(r); });
        stream.on('error', (err: Error) => { clearTimeout(timer); reject(err); });
        stream.write({ ID: lease.id });
      });
      return Number(res.TTL);
    } finally {
      stream.end();
    }
  }

  async revokeLease(lease: KvLease): Promise<void> {
    await this.bounded(this.client.leaseClient.leaseRevoke({ ID: lease.id }, this.deadline()), 'lease revoke');
  }

  async watch(key: string, fromRevision: number, h: WatchHandlers): Promise<Watch> {
    const watcher = await this.bounded(this.client.watch().key(key).startRevision(String(fromRevision + 1)).create(), 'watch');
    let dead = false;
    // etcd3 reconnects a broken watch on its own; we would rather hear of it and re-read
    // the key, so the first disconnect or error ends this watch (kv.ts WatchHandlers).
    const fail = (err: Error) => {
      if (dead) return;
      dead = true;
      watcher.cancel().catch(() => undefined);
      h.onError(err);
    };
    watcher.on('put', (kv) => { if (!dead) h.onPut(entryOf(kv)); });
    watcher.on('delete', (kv) => { if (!dead) h.onDelete(kv.key.toString('utf8'), Number(kv.mod_revision)); });
    watcher.on('disconnected', (err) => fail(err));
    watcher.on('error', (err) => fail(err));
    return { cancel: async () => { dead = true; await watcher.cancel().catch(() => undefined); } };
  }

  close(): void {
    this.client.close();
  }
}

/** etcd's range end for "every key with this prefix": the prefix with its last byte below 0xff incremented. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]); // all 0xff: to the end of the keyspace
}

function entryOf(kv: IKeyValue): KvEntry {
  return {
    key: kv.key.toString('utf8'),
    value: kv.value.toString('utf8'),
    createRevision: Number(kv.create_revision),
    modRevision: Number(kv.mod_revision),
    lease: String(kv.lease ?? '0'),
  };
}

function compareOf(c: KvCompare): ICompare {
  const key = Buffer.from(c.key);
  if (c.target === 'value') return { key, target: 'Value', result: 'Equal', value: Buffer.from(c.equals) };
  if (c.target === 'createRevision') return { key, target: 'Create', result: 'Equal', create_revision: c.equals };
  return { key, target: 'Mod', result: 'Equal', mod_revision: c.equals };
}
