/**
 * The client's request table: a deterministic, clock-free machine (STYLE §1/§2).
 *
 * It owns what must be exactly right for exactly-once retries (SPEC §1, PROTOCOL §2):
 *
 *  - seq allocation (1, 2, 3, …) and the pending ops, keyed by seq;
 *  - the `ack` watermark: the lowest pending seq, or the next seq when nothing is pending;
 *  - the view the client acts on, adopted only when newer (from the view service or from
 *    a NOT_PRIMARY reply), and whether the link to that view's primary is open;
 *  - which ops to (re)send and when: every pending op when a link opens, one op when the
 *    shell says its attempt timer (or NOT_PRIMARY retry timer) fired;
 *  - settling: exactly one resolve or reject per op; replies for unknown seqs are ignored.
 *
 * It never sends, never sets a timer and never reads a clock. Inputs are method calls; the
 * effects they cause are queued and drained by the shell (client/session.ts) through
 * `takeEffects()`. Time enters only as inputs: `resend(seq)` (attempt or retry timer
 * fired), `timedOut(seq)` (the per-op deadline passed), `aborted(seq)` (AbortSignal).
 *
 * A retry always carries the same (client, seq, op, key, value); only `ack` is current.
 */
import type { OpName, OpResult, ReqMsg, ResMsg, ResOk } from '../../common/messages';
import type { ReplicaId, View } from '../../common/view';
import { VIEW0, makeView } from '../../common/view';
import { UnderstudyError } from '../../common/errors';
import { retryAfterNotPrimary } from './retry';

/** What the machine asks its shell to do. Drained in order by `takeEffects()`. */
export type RequestEffect =
  /** Send this req on the link to the current primary (it is open). Arm its attempt timer. */
  | { kind: 'send'; req: ReqMsg }
  /** The op succeeded: resolve its promise with `value`. Clear its timers. */
  | { kind: 'resolve'; seq: number; value: OpResult | KeyEntry | ListPage | CommitResult }
  /** The op failed: reject its promise. Clear its timers. */
  | { kind: 'reject'; seq: number; error: UnderstudyError }
  /** A newer view was adopted: publish it (store.view, the 'view' event). */
  | { kind: 'view'; view: View }
  /** SPEC §10: send `hello {client}` on the open primary link: it is this client's session's link (it owns ephemeral keys). */
  | { kind: 'hello' }
  /**
   * The view's primary changed: close the old link and connect to `primary` at once
   * (null: no primary, wait). Pending ops are sent when the new link opens (STYLE §9).
   */
  | { kind: 'primary'; primary: ReplicaId | null }
  /**
   * The primary answered NOT_PRIMARY without a view naming another primary (the rule of
   * client/core/retry.ts): call `resend(seq)` after `retryDelay(attempt)` (0-based). The
   * view service will push the new view meanwhile.
   */
  | { kind: 'retry'; seq: number; attempt: number };

/** What getEntry resolves to (SPEC §10): the value (null: absent) and the revision of the key's last write (0: none). */
export interface KeyEntry {
  key: string;
  value: string | null;
  revision: number;
}

/** One entry of a list page (value absent with keysOnly). */
export interface ListEntry {
  key: string;
  value?: string;
  revision: number;
}

/** What list resolves to (SPEC §10): a page in key order, the store's revision at that read, and whether more keys follow. */
export interface ListPage {
  entries: ListEntry[];
  revision: number;
  more: boolean;
}

/** What an atomic commit resolves to (client/atomic.ts AtomicResult). */
export type CommitResult = { ok: true; revision: number } | { ok: false; key: string; revision: number };

/** The req fields of SPEC §10 beside op, key and value. */
export type ReqExtra = Pick<ReqMsg, 'ifRevision' | 'limit' | 'after' | 'keysOnly' | 'checks' | 'ops' | 'ttlMs' | 'ephemeral' | 'sessionTtlMs'>;

/** getEntry's and list's results, from their reply. */
function shaped(e: Entry, res: ResOk): KeyEntry | ListPage | CommitResult {
  if (e.op === 'atomic') return { ok: true, revision: res.rev ?? 0 };
  if (e.op === 'getEntry') return { key: e.key, value: res.value as string | null, revision: res.krev ?? 0 };
  const entries = (res.entries ?? []).map((w): ListEntry => (w.length === 3 ? { key: w[0], value: w[2], revision: w[1] } : { key: w[0], revision: w[1] }));
  return { entries, revision: res.rev ?? 0, more: res.more === true };
}

interface Entry {
  readonly seq: number;
  readonly op: OpName;
  readonly key: string;
  /** put and append only (undefined otherwise). */
  readonly value: string | undefined;
  /** SPEC §10 fields of the req: ifRevision (put, delete); limit, after, keysOnly (list). */
  readonly extra: ReqExtra | undefined;
  /** NOT_PRIMARY answers so far without a newer view; drives the retry backoff. */
  notPrimary: number;
}

/** What takeEffects() returns when nothing happened: no array per drain. */
const NO_EFFECTS: RequestEffect[] = Object.freeze([]) as unknown as RequestEffect[];

export class Requests {
  private nextSeq = 1;
  /** No pending seq is below it (the `ack` getter moves it up). */
  private low = 1;
  /** Insertion order is seq order, and deletes keep it: the first key is the lowest seq. */
  private readonly pending = new Map<number, Entry>();
  private currentView: View;
  private open = false;
  private closed = false;
  /** Set by `unauthorized()`: new ops fail at once until the primary changes. */
  private refusal: UnderstudyError | null = null;
  private effects: RequestEffect[] = [];
  /** An ephemeral put was issued: every primary link from then on says whose session it is (SPEC §10). */
  private ephemeral = false;

  constructor(readonly clientId: string, view: View = VIEW0) {
    this.currentView = view;
  }

  /** The view the client acts on. */
  get view(): View {
    return this.currentView;
  }

  /** The lowest seq still pending; the next seq when nothing is pending (PROTOCOL §2). */
  get ack(): number {
    // Seqs are consecutive: walk `low` up past the settled ones (each seq once, over the
    // table's life) instead of making an iterator per request.
    while (this.low < this.nextSeq && !this.pending.has(this.low)) this.low++;
    return this.low;
  }

  /** Whether the link to the current primary is open (ops are sent, not buffered). */
  get linkOpen(): boolean {
    return this.open;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The pending seqs, lowest first. */
  pendingSeqs(): number[] {
    return [...this.pending.keys()];
  }

  /** Drain the effects caused by the inputs so far, oldest first. */
  takeEffects(): RequestEffect[] {
    const out = this.effects;
    if (out.length === 0) return NO_EFFECTS;
    this.effects = [];
    return out;
  }

  // ───────────────────────── inputs ─────────────────────────

  /**
   * A new operation. Returns its seq; it is sent now when the primary link is open, else
   * buffered until it opens. After `close()`, or while the primary refuses our token, it
   * returns the error to reject the call with instead: nothing is queued, no seq is used.
   */
  issue(op: OpName, key: string, value?: string, extra?: ReqExtra): number | UnderstudyError {
    if (this.closed) return closedError();
    if (this.refusal) return this.refusal;
    if (extra?.ephemeral === true && !this.ephemeral) {
      this.ephemeral = true;
      if (this.open) this.effects.push({ kind: 'hello' });
    }
    const seq = this.nextSeq++;
    const e: Entry = { seq, op, key, value: op === 'put' || op === 'append' ? value : undefined, extra, notPrimary: 0 };
    this.pending.set(seq, e);
    if (this.open) this.send(e);
    return seq;
  }

  /**
   * A view was learned (pushed by the view service, or carried by NOT_PRIMARY). Adopted
   * only when its viewnum is higher than the current one. Returns whether it was adopted.
   */
  learnView(learned: View): boolean {
    if (this.closed || learned.viewnum <= this.currentView.viewnum) return false;
    const old = this.currentView;
    // A frozen copy of the three fields: callers see it as store.view and cannot change ours.
    const view = makeView(learned.viewnum, learned.primary, learned.backup);
    this.currentView = view;
    this.effects.push({ kind: 'view', view });
    if (view.primary !== old.primary) {
      // One reconnect path for every failover: forget the old link, connect to the new
      // primary; `linkOpened()` will send everything pending.
      this.open = false;
      this.refusal = null;
      this.effects.push({ kind: 'primary', primary: view.primary });
    }
    return true;
  }

  /** The link to the current view's primary opened: send every pending op. */
  linkOpened(): void {
    if (this.closed || this.currentView.primary === null) return;
    this.open = true;
    if (this.ephemeral) this.effects.push({ kind: 'hello' });
    for (const e of this.pending.values()) this.send(e);
  }

  /** The link to the primary dropped: buffer until it opens again. Nothing is failed. */
  linkClosed(): void {
    this.open = false;
  }

  /** A reply from the primary link. Unknown seqs (already settled, stale) are ignored. */
  reply(res: ResMsg): void {
    const e = this.pending.get(res.seq);
    if (!e) return;
    if (res.ok) {
      // getEntry resolves to the key's entry (SPEC §10); the rest to the reply's value.
      this.settle(e, { kind: 'resolve', seq: e.seq, value: e.op === 'getEntry' || e.op === 'list' || e.op === 'atomic' ? shaped(e, res) : res.value });
      return;
    }
    if (res.code === 'CONFLICT' && e.op === 'atomic' && res.key !== undefined) { // a failed check is an answer, not an error
      this.settle(e, { kind: 'resolve', seq: e.seq, value: { ok: false, key: res.key, revision: res.revision ?? 0 } });
      return;
    }
    if (res.code === 'NOT_PRIMARY') {
      // Adopting a newer view may switch the primary: then the new link's open resends it.
      if (retryAfterNotPrimary(this, res.view)) this.effects.push({ kind: 'retry', seq: e.seq, attempt: e.notPrimary++ });
      return;
    }
    const error = new UnderstudyError(res.code, `${describe(e)} failed: ${res.message}`, res.revision === undefined ? undefined : { revision: res.revision });
    this.settle(e, { kind: 'reject', seq: e.seq, error });
  }

  /** The attempt timer (or NOT_PRIMARY retry timer) of `seq` fired: send it again if the link is open. */
  resend(seq: number): void {
    const e = this.pending.get(seq);
    if (e && this.open) this.send(e);
  }

  /** The per-op deadline passed: reject TIMEOUT (outcome unknown) and stop waiting for it. */
  timedOut(seq: number, afterMs: number): void {
    const e = this.pending.get(seq);
    if (!e) return;
    const where = this.currentView.primary === null
      ? `no primary is known yet (view ${this.currentView.viewnum})`
      : `the primary is ${this.currentView.primary} (view ${this.currentView.viewnum}, link ${this.open ? 'open' : 'down'})`;
    this.settle(e, {
      kind: 'reject',
      seq,
      error: new UnderstudyError('TIMEOUT', `${describe(e)} got no answer within ${afterMs} ms; its outcome is unknown (it may or may not have taken effect); ${where}. Raise timeoutMs, or check that the replicas are up`),
    });
  }

  /** The caller's AbortSignal fired. An op already sent may still take effect. */
  aborted(seq: number, reason?: unknown): void {
    const e = this.pending.get(seq);
    if (!e) return;
    const error = new UnderstudyError('ABORTED', `${describe(e)} was aborted by its AbortSignal; if it was already sent it may still take effect`, reason === undefined ? undefined : { cause: reason });
    this.settle(e, { kind: 'reject', seq, error });
  }

  /**
   * The primary closed our link with 4401: reject every pending op with UNAUTHORIZED, and
   * new ops too, until the view names another primary.
   */
  unauthorized(message: string): void {
    if (this.closed) return;
    this.open = false;
    this.refusal = new UnderstudyError('UNAUTHORIZED', message);
    this.failAll(this.refusal);
  }

  /** close(): reject every pending op with CLOSED; later ops are rejected CLOSED at once. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.open = false;
    this.failAll(closedError());
  }

  // ───────────────────────── internals ─────────────────────────

  private send(e: Entry): void {
    const req: ReqMsg = { type: 'req', client: this.clientId, seq: e.seq, ack: this.ack, op: e.op, key: e.key };
    if (e.value !== undefined) req.value = e.value;
    if (e.extra !== undefined) Object.assign(req, e.extra);
    this.effects.push({ kind: 'send', req });
  }

  private settle(e: Entry, effect: RequestEffect & { kind: 'resolve' | 'reject' }): void {
    this.pending.delete(e.seq);
    this.effects.push(effect);
  }

  private failAll(error: UnderstudyError): void {
    for (const e of [...this.pending.values()]) this.settle(e, { kind: 'reject', seq: e.seq, error });
  }
}

function closedError(): UnderstudyError {
  return new UnderstudyError('CLOSED', 'the store is closed; connect() again to issue operations');
}

function describe(e: Entry): string {
  const key = e.key.length > 40 ? `${e.key.slice(0, 40)}…` : e.key;
  return `${e.op} ${JSON.stringify(key)} (seq ${e.seq})`;
}
