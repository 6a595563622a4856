/**
 * Every time-based input of the client as due times: connect()'s wait for the first view
 * (UNAVAILABLE), operation deadlines (TIMEOUT), attempt timers (resend an unanswered op) and
 * NOT_PRIMARY retries of operations and watches. Pure
 * bookkeeping (STYLE §1/§2): time is an input (`now`, in ms of the shell's monotonic clock);
 * nothing here sets a timer. The shell keeps ONE timer (client/due-timer.ts) armed for
 * `next()`, and hands `expire(now)`'s lists to the request and watch tables.
 *
 * Why these shapes (the per-operation path adds two Map entries and no timer):
 *  - deadlines are queued per duration: ops with one timeoutMs are issued in seq order, so
 *    insertion order is due order, the first entry is the next one due, and expiring is
 *    O(expired). The store's timeoutMs has its own queue (no lookup per op);
 *  - attempt timers (attemptTimeoutMs after each send) are re-armed by delete + set, so
 *    insertion order is due order there too;
 *  - NOT_PRIMARY retries have jittered delays, so no order; they are rare (a failover) and
 *    scanned whole. A retry replaces an op's attempt timer and a send replaces its retry:
 *    at most one of the two per op.
 */

/** What came due at `expire(now)`, in this order: time out, then resend. */
export interface Due {
  /** Ops past their deadline: reject TIMEOUT. */
  readonly timedOut: number[];
  /** The timeoutMs of each op in `timedOut` (for its message). */
  readonly timedOutAfterMs: number[];
  /** Ops whose attempt timer or NOT_PRIMARY retry is due: send again. */
  readonly resend: number[];
  /** Watches whose NOT_PRIMARY retry is due: register again. */
  readonly resendWatches: number[];
  /** connect() got no view in time: fail it UNAVAILABLE. */
  readonly connectTimedOut: boolean;
}

export class Deadlines {
  /** seq → when it times out, for ops with the store's timeoutMs. */
  private readonly deadlines = new Map<number, number>();
  /** timeoutMs → (seq → when it times out), for ops with a per-call timeoutMs. */
  private readonly otherDeadlines = new Map<number, Map<number, number>>();
  /** seq → when to resend it (attemptTimeoutMs after its last send). */
  private readonly attempts = new Map<number, number>();
  /** seq → when to retry it after NOT_PRIMARY. */
  private readonly retries = new Map<number, number>();
  /** watch id → when to register it again after NOT_PRIMARY. */
  private readonly watchRetries = new Map<number, number>();
  /** When connect() gives up waiting for the first view (Infinity: not waiting). */
  private connectAt = Infinity;

  constructor(readonly timeoutMs: number, readonly attemptTimeoutMs: number) {}

  /** connect() started at `now`: it fails if no view came within timeoutMs. Returns when. */
  connecting(now: number): number {
    this.connectAt = now + this.timeoutMs;
    return this.connectAt;
  }

  /** The first view arrived (or connect() failed otherwise): stop waiting for it. */
  connected(): void {
    this.connectAt = Infinity;
  }

  /** Op `seq` was issued at `now` with `timeoutMs`. Returns when it times out. */
  deadline(seq: number, timeoutMs: number, now: number): number {
    const at = now + timeoutMs;
    if (timeoutMs === this.timeoutMs) {
      this.deadlines.set(seq, at);
      return at;
    }
    let queue = this.otherDeadlines.get(timeoutMs);
    if (queue === undefined) {
      queue = new Map();
      this.otherDeadlines.set(timeoutMs, queue);
    }
    queue.set(seq, at);
    return at;
  }

  /** Op `seq` was sent at `now`: resend it after attemptTimeoutMs (replaces its retry). Returns when. */
  attempt(seq: number, now: number): number {
    if (this.retries.size !== 0) this.retries.delete(seq);
    const at = now + this.attemptTimeoutMs;
    this.attempts.delete(seq); // re-inserted at the end: the queue stays in due order
    this.attempts.set(seq, at);
    return at;
  }

  /** Op `seq` was refused NOT_PRIMARY at `now`: resend it after `delayMs` (replaces its attempt timer). */
  retry(seq: number, delayMs: number, now: number): number {
    this.attempts.delete(seq);
    const at = now + delayMs;
    this.retries.set(seq, at);
    return at;
  }

  /** Watch `id` was refused NOT_PRIMARY at `now`: register it again after `delayMs`. */
  retryWatch(id: number, delayMs: number, now: number): number {
    const at = now + delayMs;
    this.watchRetries.set(id, at);
    return at;
  }

  /** Op `seq` (issued with `timeoutMs`) settled: forget all its times. */
  settled(seq: number, timeoutMs: number): void {
    if (timeoutMs === this.timeoutMs) {
      this.deadlines.delete(seq);
    } else {
      const queue = this.otherDeadlines.get(timeoutMs);
      if (queue !== undefined && queue.delete(seq) && queue.size === 0) this.otherDeadlines.delete(timeoutMs);
    }
    this.attempts.delete(seq);
    if (this.retries.size !== 0) this.retries.delete(seq);
  }

  /** Watch `id` was stopped: forget its retry. */
  watchStopped(id: number): void {
    this.watchRetries.delete(id);
  }

  /** Take out everything due at `now` (at ≤ now). */
  expire(now: number): Due {
    const connectTimedOut = this.connectAt <= now;
    if (connectTimedOut) this.connectAt = Infinity;
    const due: Due = { timedOut: [], timedOutAfterMs: [], resend: [], resendWatches: [], connectTimedOut };
    takeDueInOrder(this.deadlines, now, due.timedOut);
    while (due.timedOutAfterMs.length < due.timedOut.length) due.timedOutAfterMs.push(this.timeoutMs);
    for (const [timeoutMs, queue] of this.otherDeadlines) {
      takeDueInOrder(queue, now, due.timedOut);
      while (due.timedOutAfterMs.length < due.timedOut.length) due.timedOutAfterMs.push(timeoutMs);
      if (queue.size === 0) this.otherDeadlines.delete(timeoutMs);
    }
    takeDueInOrder(this.attempts, now, due.resend);
    takeDueAnyOrder(this.retries, now, due.resend);
    takeDueAnyOrder(this.watchRetries, now, due.resendWatches);
    return due;
  }

  /** When the next thing comes due (Infinity: nothing is waiting). */
  next(): number {
    let next = Math.min(this.connectAt, firstAt(this.deadlines), firstAt(this.attempts));
    for (const queue of this.otherDeadlines.values()) next = Math.min(next, firstAt(queue));
    for (const at of this.retries.values()) if (at < next) next = at;
    for (const at of this.watchRetries.values()) if (at < next) next = at;
    return next;
  }

  /** Whether nothing is waiting. */
  get isEmpty(): boolean {
    return this.connectAt === Infinity && this.deadlines.size === 0 && this.otherDeadlines.size === 0 && this.attempts.size === 0
      && this.retries.size === 0 && this.watchRetries.size === 0;
  }

  /** close(): forget everything. */
  clear(): void {
    this.connectAt = Infinity;
    this.deadlines.clear();
    this.otherDeadlines.clear();
    this.attempts.clear();
    this.retries.clear();
    this.watchRetries.clear();
  }
}

/** A queue in due order: take the due head entries, stop at the first one not due. */
function takeDueInOrder(queue: Map<number, number>, now: number, out: number[]): void {
  for (const [key, at] of queue) {
    if (at > now) return;
    queue.delete(key);
    out.push(key);
  }
}

/** Entries in no order: look at every one. */
function takeDueAnyOrder(entries: Map<number, number>, now: number, out: number[]): void {
  if (entries.size === 0) return;
  for (const [key, at] of entries) {
    if (at > now) continue;
    entries.delete(key);
    out.push(key);
  }
}

/** The due time of a due-ordered queue's head (Infinity: empty). */
function firstAt(queue: Map<number, number>): number {
  for (const at of queue.values()) return at;
  return Infinity;
}
