/**
 * Which view-service instances are up (SPEC §12, issue #14: the dashboard shows every
 * instance and which one leads). Each instance keeps one key under `${prefix}/instances/`
 * on a lease of its own — {id, url, startedAt, role} — so a killed instance's key vanishes
 * at most a lease TTL later. Its own lease, not the leader's: leadership revokes and
 * re-grants its lease on every lost term, and the list must not blink with it.
 *
 * This is information for people, never a rule: who leads is decided by the leader key
 * alone (leadership.ts), and the list marks the leader from that key, not from the roles
 * the instances report of themselves (a paused old leader may still say "leader").
 */
import type { Kv, KvLease } from './kv';
import { leaderKey } from './leadership';

export interface InstanceInfo {
  readonly id: string;
  /** What replicas, clients and browsers reach it by (--advertise-url). */
  readonly url: string;
  /** When it started (ms since the epoch). */
  readonly startedAt: number;
  /** What it says of itself. */
  readonly role: 'leader' | 'follower';
}

/** GET /instances. */
export interface InstancesJson {
  /** This instance's id. */
  readonly self: string;
  /** The id in the leader key (null: nobody leads now). */
  readonly leader: string | null;
  /** Every registered instance, oldest first, with `leading` from the leader key. */
  readonly instances: readonly (InstanceInfo & { leading: boolean })[];
  /** etcd could not be read (no quorum): the last list read, as it was then. */
  readonly stale: boolean;
}

export const instancesPrefix = (prefix: string): string => `${prefix}/instances/`;

export class InstanceRegistry {
  private lease: KvLease | null = null;
  private renewedAt = 0;
  private role: InstanceInfo['role'] = 'follower';
  private timer: ReturnType<typeof setInterval> | null = null;
  private busy = false;
  private stopped = false;
  private last: InstancesJson;

  constructor(private readonly kv: Kv, private readonly prefix: string, private readonly ttlSeconds: number,
    private readonly me: Omit<InstanceInfo, 'role'>, private readonly onError: (err: Error, during: string) => void) {
    this.last = { self: me.id, leader: null, instances: [], stale: true };
  }

  start(): void {
    this.timer = setInterval(() => void this.renew(), Math.max(100, Math.floor((this.ttlSeconds * 1000) / 3)));
    this.timer.unref();
    void this.renew();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const lease = this.lease;
    this.lease = null;
    if (lease !== null) await this.kv.revokeLease(lease).catch(() => undefined);
  }

  /** Our role changed: say so in our key (at once if registered, else at the next renewal). */
  setRole(role: InstanceInfo['role']): void {
    if (role === this.role) return;
    this.role = role;
    if (this.lease !== null) this.put(this.lease).catch((err: Error) => this.onError(err, 'instance register'));
  }

  /** Every instance's key and the leader key, read now; the last list (stale) when etcd cannot answer. */
  async list(): Promise<InstancesJson> {
    try {
      const [entries, leader] = await Promise.all([this.kv.rangePrefix(instancesPrefix(this.prefix)), this.kv.range(leaderKey(this.prefix))]);
      const leaderId = leader.entry === null ? null : idOf(leader.entry.value);
      const instances = entries.map((e) => parseInstance(e.value)).filter((x): x is InstanceInfo => x !== null)
        .sort((a, b) => a.startedAt - b.startedAt)
        .map((x) => ({ ...x, leading: x.id === leaderId }));
      this.last = { self: this.me.id, leader: leaderId, instances, stale: false };
    } catch (err) {
      this.onError(err as Error, 'instance list');
      this.last = { ...this.last, stale: true };
    }
    return this.last;
  }

  /** Keep our key: renew the lease, or register anew when it is gone (expired while etcd was away). */
  private async renew(): Promise<void> {
    if (this.busy || this.stopped) return;
    this.busy = true;
    const sentAt = Date.now();
    try {
      if (this.lease === null) {
        const lease = await this.kv.grantLease(this.ttlSeconds);
        await this.put(lease);
        this.lease = lease;
      } else if (await this.kv.keepAlive(this.lease) > 0) {
        this.renewedAt = sentAt;
        return;
      } else {
        this.lease = null; // gone, and our key with it: register again next time
      }
      this.renewedAt = sentAt;
    } catch (err) {
      this.onError(err as Error, 'instance register');
      if (this.lease !== null && Date.now() - this.renewedAt >= this.ttlSeconds * 1000) this.lease = null;
    } finally {
      this.busy = false;
      if (this.stopped && this.lease !== null) void this.kv.revokeLease(this.lease).catch(() => undefined);
    }
  }

  private async put(lease: KvLease): Promise<void> {
    const value: InstanceInfo = { ...this.me, role: this.role };
    await this.kv.txn([], [{ key: instancesPrefix(this.prefix) + encodeURIComponent(this.me.id), value: JSON.stringify(value), lease: lease.id }]);
  }
}

function parseInstance(text: string): InstanceInfo | null {
  try {
    const o = JSON.parse(text) as Partial<InstanceInfo>;
    if (typeof o.id !== 'string' || typeof o.url !== 'string' || typeof o.startedAt !== 'number') return null;
    return { id: o.id, url: o.url, startedAt: o.startedAt, role: o.role === 'leader' ? 'leader' : 'follower' };
  } catch {
    return null;
  }
}

function idOf(text: string): string | null {
  try {
    const o = JSON.parse(text) as { id?: unknown };
    return typeof o.id === 'string' ? o.id : null;
  } catch {
    return null;
  }
}
