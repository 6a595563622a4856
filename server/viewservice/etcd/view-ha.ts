/**
 * A view service instance among several on etcd (SPEC §12): leadership (leadership.ts), the
 * gate between the view machine and the world while leading, and the view key followed
 * while not.
 *
 * Leading: the machine is built over the view etcd holds (the existing restart logic:
 * resume from it, or recover from the replicas' reports when etcd has none). Its storage is
 * a queue (FencedStorage): the machine saves every view and acknowledgement BEFORE it
 * commits it, as with --data-dir, and the queue writes each, in order, as one fenced Txn.
 * The shell announces a view only when etcd has committed it ("etcd committed view v" is
 * the input that releases it); until then pings are answered with the last committed view.
 * Views cannot race ahead: view i+1 needs the acknowledgement of view i, which needs the
 * replicas to have heard view i, which needs its commit. A failed Txn deposes us.
 *
 * Following: the view key is watched; after any watch error it is read again (range) and
 * watched anew from that revision. Subscribers and `GET /view` get that view.
 */
import { randomUUID } from 'node:crypto';
import { parsePersistedView, type PersistedView, type ViewStorage } from '../../../common/recovery';
import type { Logger } from '../../../common/logger';
import { VIEW0 } from '../../../common/view';
import type { ViewMachine } from '../view-machine';
import type { ViewReader } from '../view-http';
import { RateLimitedLog } from '../../rate-limited-log';
import type { Kv, Watch } from './kv';
import { Leadership, viewKey, type LeaderInfo, type Term } from './leadership';
import { InstanceRegistry, type InstancesJson } from './instances';

export interface EtcdOptions {
  readonly endpoints: readonly string[];
  readonly prefix: string;
  readonly leaseTtlSeconds: number;
}

/** What view-server.ts does on our word. */
export interface HaShell {
  /** We lead: build a machine over `storage` (its load() is etcd's view). */
  lead(storage: ViewStorage, initial: PersistedView | null): void;
  /** We no longer lead: drop the machine, close every link with 1012. */
  follow(reason: string): void;
  /** etcd committed this state (ours while leading, anyone's while following): announce it. */
  committed(state: PersistedView): void;
}

/** Join the instances on etcd as `url` (the leader hint others give) and start campaigning. */
export async function startViewHa(o: EtcdOptions, url: string, shell: HaShell, log: Logger): Promise<ViewHa> {
  // Loaded only with --etcd: without it the view service starts exactly as before (no gRPC).
  const { Etcd3Kv } = await import('./etcd3-kv');
  const ha = new ViewHa(new Etcd3Kv({ endpoints: o.endpoints }), o, { id: `${url}#${randomUUID().slice(0, 8)}`, url }, shell, log);
  ha.start();
  return ha;
}

/** Re-read and re-watch the view key after a watch error this long later. */
const REWATCH_MS = 250;

export class ViewHa {
  readonly leadership: Leadership;
  /** Every instance's key, for the dashboard (GET /instances). */
  private readonly registry: InstanceRegistry;
  private watch: Watch | null = null;
  private stopped = false;
  private rewatchTimer: ReturnType<typeof setTimeout> | null = null;
  /** The newest state etcd committed that we know of. */
  latest: PersistedView | null = null;
  /** etcd errors repeat every retry while etcd is down or without quorum: rate-limited. */
  private readonly warnings: RateLimitedLog;

  constructor(private readonly kv: Kv, private readonly o: EtcdOptions, me: LeaderInfo, private readonly shell: HaShell, private readonly log: Logger) {
    this.warnings = new RateLimitedLog(log);
    const error = (err: Error, during: string) => this.warnings.warn(`etcd-${during}`, { err: err.message, during }, 'etcd error');
    this.registry = new InstanceRegistry(kv, o.prefix, o.leaseTtlSeconds, { ...me, startedAt: Date.now() }, error);
    this.leadership = new Leadership({ kv, prefix: o.prefix, ttlSeconds: o.leaseTtlSeconds, me }, {
      elected: (term) => this.elected(term),
      deposed: (reason) => {
        this.log.warn({ reason }, 'no longer leading the view service: closing links with 1012');
        this.registry.setRole('follower');
        this.shell.follow(reason);
      },
      leaderChanged: (l) => this.log.info({ leader: l }, l === null ? 'no view-service leader known' : `view-service leader: ${l.url}`),
      error,
    });
  }

  get leading(): boolean {
    return this.leadership.leading;
  }

  get leader(): LeaderInfo | null {
    return this.leadership.currentLeader;
  }

  start(): void {
    void this.watchView();
    this.registry.start();
    this.leadership.start();
  }

  /** GET /instances: every instance registered in etcd, the leader marked. */
  instances(): Promise<InstancesJson> {
    return this.registry.list();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.rewatchTimer) clearTimeout(this.rewatchTimer);
    await this.watch?.cancel();
    await Promise.all([this.leadership.stop(), this.registry.stop()]);
    this.kv.close();
  }

  private elected(term: Term): void {
    this.log.info({ viewnum: term.initial?.view.viewnum ?? 0, fence: term.createRevision }, 'leading the view service');
    if (term.initial !== null) this.note(term.initial);
    this.registry.setRole('leader');
    const storage = new FencedStorage(term, (s) => {
      this.note(s);
      this.shell.committed(s);
    }, (reason) => this.leadership.depose(reason));
    this.shell.lead(storage, term.initial);
  }

  /** Read the view key, then watch it from that revision; on any error, again a little later. */
  private async watchView(): Promise<void> {
    if (this.stopped) return;
    try {
      const r = await this.kv.range(viewKey(this.o.prefix));
      if (r.entry !== null) this.seen(r.entry.value);
      this.watch = await this.kv.watch(viewKey(this.o.prefix), r.revision, {
        onPut: (e) => this.seen(e.value),
        onDelete: () => undefined,
        onError: (err) => this.rewatch(err),
      });
    } catch (err) {
      this.rewatch(err as Error);
    }
  }

  private rewatch(err: Error): void {
    this.watch = null;
    if (this.stopped) return;
    this.warnings.warn('etcd-watch', { err: err.message }, 'view key watch failed: reading it again');
    this.rewatchTimer = setTimeout(() => void this.watchView(), REWATCH_MS);
    this.rewatchTimer.unref();
  }

  private seen(text: string): void {
    let s: PersistedView;
    try {
      s = parsePersistedView(text);
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'the view in etcd is not valid: ignored');
      return;
    }
    // While leading, our own commits are announced by the storage queue, in order.
    if (!this.note(s) || this.leading) return;
    this.shell.committed(s);
  }

  /** Keep the newest state; true if it is newer than what we had. */
  private note(s: PersistedView): boolean {
    const l = this.latest;
    if (l !== null && (s.view.viewnum < l.view.viewnum || (s.view.viewnum === l.view.viewnum && (l.acked || !s.acked)))) return false;
    this.latest = s;
    return true;
  }
}

/**
 * The machine's storage while leading: save() queues the state (the machine goes on at once,
 * it never awaits I/O), and each queued state is written in order as one fenced Txn. The
 * shell hears of a state only once it committed; the first failure deposes us and drops the rest.
 */
export class FencedStorage implements ViewStorage {
  private readonly queue: PersistedView[] = [];
  private writing = false;

  constructor(private readonly term: Term, private readonly onCommitted: (s: PersistedView) => void, private readonly onFailed: (reason: string) => void) {}

  load(): PersistedView | null {
    return this.term.initial;
  }

  save(state: PersistedView): void {
    if (this.term.ended) throw new Error('not leading the view service');
    this.queue.push(state);
    if (!this.writing) void this.pump();
  }

  private async pump(): Promise<void> {
    this.writing = true;
    // Never left `writing` with a queue nobody drains: a leader that stops committing while
    // it keeps its lease would hold every view change back for good.
    try {
      while (this.queue.length > 0 && !this.term.ended) {
        const s = this.queue.shift() as PersistedView;
        const failure = await this.write(s);
        if (failure !== null) {
          this.queue.length = 0;
          this.onFailed(failure);
          break;
        }
      }
    } finally {
      this.writing = false;
    }
  }

  /** Commit and announce one state; null when done, else why we must stop leading. */
  private async write(s: PersistedView): Promise<string | null> {
    try {
      // Unknown outcome even after Term.commit's retries (etcd unreachable): we cannot tell
      // what etcd holds, so we stop leading; the next leader reads the view etcd really has.
      if (!(await this.term.commit(s))) return 'view commit refused by the fence (another instance leads, or our lease expired)';
    } catch (err) {
      return `view commit failed: ${(err as Error).message}`;
    }
    try {
      this.onCommitted(s);
    } catch (err) {
      return `announcing a committed view failed: ${(err as Error).message}`;
    }
    return null;
  }
}

/**
 * What GET /view, /readyz and the metrics read with --etcd: only views etcd committed. The
 * leader adds its machine's replica table; a follower sees no pings, so it lists none.
 */
export function haReader(vm: () => ViewMachine | null, latest: () => PersistedView | null): ViewReader {
  const committed = (): PersistedView | null => latest();
  return {
    get view() { return committed()?.view ?? VIEW0; },
    get acked() { return committed()?.acked ?? false; },
    get recovering() { return vm()?.recovering ?? false; },
    recoveryWait: () => vm()?.recoveryWait() ?? null,
    status: () => {
      const s = committed();
      const v = s?.view ?? VIEW0;
      return { viewnum: v.viewnum, primary: v.primary, backup: v.backup, acked: s?.acked ?? false, servers: vm()?.status().servers ?? [] };
    },
  };
}
