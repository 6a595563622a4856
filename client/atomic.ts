/**
 * `store.atomic()` (SPEC §10): checks and writes collected here, sent as ONE request and
 * applied under one revision — all of it or nothing, exactly once under retries.
 */
import type { AtomicOpWire, ReqMsg } from '../common/messages';
import { UnderstudyError } from '../common/errors';
import { utf8Length, formatBytes, type Limits } from '../common/limits';
import { encode } from '../common/protocol';
import type { OpOptions } from './options';

/** What commit() resolves to: the commit's revision, or the first key whose check failed and its revision (nothing written). */
export type AtomicResult = { ok: true; revision: number } | { ok: false; key: string; revision: number };

/** Checks and writes of one commit, at most (the server refuses more). */
export const MAX_ATOMIC_OPS = 1000;

export class AtomicCommit {
  private readonly checks: [string, number][] = [];
  private readonly ops: AtomicOpWire[] = [];
  private used = false;

  /** @internal use store.atomic(). */
  constructor(
    private readonly limits: Limits,
    private readonly send: (extra: Pick<ReqMsg, 'checks' | 'ops'>, opts: OpOptions | undefined) => Promise<AtomicResult>,
  ) {}

  /** The commit happens only if `key`'s revision is `revision` (0: the key must not exist). */
  check(key: string, revision: number): this {
    this.checks.push([key, revision]);
    return this;
  }

  put(key: string, value: string): this {
    this.ops.push(['put', key, value]);
    return this;
  }

  append(key: string, value: string): this {
    this.ops.push(['append', key, value]);
    return this;
  }

  delete(key: string): this {
    this.ops.push(['delete', key]);
    return this;
  }

  /**
   * Send it: resolves `{ ok: true, revision }` once replicated (every write has that
   * revision, watchers get all its events together), or `{ ok: false, key, revision }` when a
   * check failed (nothing written). Rejects BAD_REQUEST / TOO_LARGE (nothing sent) for bad
   * arguments, over 1000 checks and writes, or a commit over the message limit.
   */
  commit(opts?: OpOptions): Promise<AtomicResult> {
    const bad = this.problem();
    if (bad) return Promise.reject(bad);
    this.used = true;
    return this.send({ checks: this.checks, ops: this.ops }, opts);
  }

  private problem(): UnderstudyError | null {
    if (this.used) return new UnderstudyError('BAD_REQUEST', 'atomic: this commit was already sent; start another with store.atomic()');
    const n = this.checks.length + this.ops.length;
    if (n > MAX_ATOMIC_OPS) return new UnderstudyError('BAD_REQUEST', `atomic: ${n} checks and writes; at most ${MAX_ATOMIC_OPS} per commit; nothing was sent`);
    for (const [k, r] of this.checks) {
      if (typeof k !== 'string' || !Number.isSafeInteger(r) || r < 0) return new UnderstudyError('BAD_REQUEST', 'atomic: check(key, revision) needs a string key and a non-negative integer revision; nothing was sent');
    }
    for (const o of this.ops) {
      if (typeof o[1] !== 'string' || (o.length === 3 && typeof o[2] !== 'string')) return new UnderstudyError('BAD_REQUEST', `atomic: ${o[0]} needs a string key${o.length === 3 ? ' and a string value' : ''}; nothing was sent`);
    }
    const bytes = utf8Length(encode({ type: 'req', client: 'x'.repeat(64), seq: Number.MAX_SAFE_INTEGER, ack: Number.MAX_SAFE_INTEGER, op: 'atomic', key: '', checks: this.checks, ops: this.ops }));
    if (bytes > this.limits.maxMessageBytes) {
      return new UnderstudyError('TOO_LARGE', `atomic: the commit is ${formatBytes(bytes)} once JSON-encoded; the limit is maxMessageBytes = ${formatBytes(this.limits.maxMessageBytes)}: split it; nothing was sent`);
    }
    return null;
  }
}
