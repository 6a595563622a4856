/**
 * Linearizability checker for key-value histories (Porcupine-style).
 *
 * The history is split per key (P-compositionality: a history is linearizable iff each
 * key's sub-history is) and each key is checked with the Wing & Gong / Lowe depth-first
 * search: entries (calls and returns) sorted by time in a doubly linked list; the search
 * linearizes a pending call when the model allows its output, lifts it out of the list,
 * and backtracks when it reaches a return entry (an operation that had to be linearized by
 * then but could not). Explored (set of linearized ops, model state) pairs are memoised as
 * in Porcupine's checkSingle (a bitset with an incremental hash, states interned to ints).
 *
 * - `fail` operations are dropped (they had no effect); `unknown` ones may take effect at
 *   any time after their call, or never: their return is +Infinity, their output is not
 *   checked, and the search succeeds once every known operation is linearized. An unknown
 *   get is dropped (reads have no effect).
 * - Entries with equal times: calls sort before returns, so touching intervals count as
 *   concurrent (never a false violation from clock granularity).
 *
 * Unknown ops are what makes this search blow up (each may be placed anywhere, or not at
 * all), so on top of Porcupine: known ops are tried first and unknown ones only at dead
 * ends; the memo uses subsumption (fewer unknown ops used is at least as good); runs of
 * unknown ops are cut to the ones that can matter (chainMayHelp, outOfOrderUnseen, one of
 * each class of identical ops); configurations whose blocker or pending reads can no longer
 * fit are dead at once (blockerDeadEnd, unreachableGet). Every one of these only skips
 * configurations that another explored one covers, so verdicts stay exact. And when the
 * search takes long, short windows of the history around its deepest dead end are checked
 * from an arbitrary state (refuteByWindows): a window that cannot be linearized proves the
 * violation without refuting the whole prefix.
 */
import { performance } from 'perf_hooks';
import { utf8Length } from '../../common/limits';
import { type HistoryOp, validateHistory } from './history';
import { mulberry32 } from './random';
import { revisionGroups, checkGroup } from './linearizability-rev';

export type { HistoryOp, KvOpName, KvOutput, OpStatus } from './history';
export { HistoryRecorder, readHistory, validateHistory, writeHistory } from './history';

export type Verdict = 'ok' | 'violation' | 'unknown';

export interface CheckOptions {
  /** Search budget per key; past it that key's verdict is 'unknown'. @default 10000 */
  timeoutMsPerKey?: number;
}

export interface CheckResult {
  verdict: Verdict;
  perKey: Record<string, Verdict>;
  /** On a violation: the key, the longest linearizable prefix, the operation that could not be placed. */
  explanation?: string;
  violatingKey?: string;
  ms: number;
}

export const DEFAULT_TIMEOUT_MS_PER_KEY = 10_000;

/** Checks a whole history; keys are checked independently, in order of first appearance. */
export function checkHistory(history: readonly HistoryOp[], opts: CheckOptions = {}): CheckResult {
  const t0 = performance.now();
  validateHistory(history);
  const budget = opts.timeoutMsPerKey ?? DEFAULT_TIMEOUT_MS_PER_KEY;
  // Keys with SPEC §10 ops (revisions, conditional writes, atomic commits) are checked as
  // groups by the model of linearizability-rev.ts; the rest key by key here.
  const groups = revisionGroups(history);
  const inGroup = new Set<string>();
  for (const g of groups) for (const k of g.keys) inGroup.add(k);
  const byKey = new Map<string, HistoryOp[]>();
  for (const h of history) {
    if (inGroup.has(h.key)) continue;
    let list = byKey.get(h.key);
    if (!list) byKey.set(h.key, (list = []));
    list.push(h);
  }
  const perKey: Record<string, Verdict> = {};
  const violating: string[] = [];
  let explanation: string | undefined;
  let anyUnknown = false;
  for (const [key, ops] of Array.from(byKey)) {
    const r = checkKey(key, ops, budget);
    perKey[key] = r.verdict;
    if (r.verdict === 'violation') {
      violating.push(key);
      if (explanation === undefined) explanation = r.explanation;
    } else if (r.verdict === 'unknown') anyUnknown = true;
  }
  for (const g of groups) {
    const r = checkGroup(g.keys, g.ops, budget);
    for (const k of g.keys) perKey[k] = r.verdict;
    if (r.verdict === 'violation') {
      violating.push(g.keys[0]);
      if (explanation === undefined) explanation = r.explanation;
    } else if (r.verdict === 'unknown') anyUnknown = true;
  }
  const result: CheckResult = {
    verdict: violating.length > 0 ? 'violation' : anyUnknown ? 'unknown' : 'ok',
    perKey,
    ms: 0,
  };
  if (violating.length > 0) {
    result.violatingKey = violating[0];
    if (violating.length > 1) {
      const others = violating.slice(1, 6).map(quote).join(', ') + (violating.length > 6 ? `, … (${violating.length - 6} more)` : '');
      explanation += `\nalso not linearizable: ${others}`;
    }
    result.explanation = explanation;
  }
  result.ms = performance.now() - t0;
  return result;
}

// ---------------------------------------------------------------------------------------
// Per-key search

const GET = 0;
const PUT = 1;
const APPEND = 2;
const DELETE = 3;
const KIND: Record<string, number> = { get: GET, put: PUT, append: APPEND, delete: DELETE };

/** State id 0: the key is absent (null). */
const ABSENT = 0;
/** State id 1: any state at all (the start of a window, see refuteByWindows). */
const ANY = 1;

/** Kinds of state: a concrete value (or null), anything, or anything followed by a known suffix. */
const CONCRETE = 0;
const SYM_ANY = 1;
const SYM_SUFFIX = 2;

/** Roles of an op in a search. */
const REQUIRED = 0; // must be linearized before its return (an ok op)
const OPTIONAL = 1; // may be linearized any time after its call, or never; output unchecked (unknown op)
const OPTIONAL_CHECKED = 2; // the same, but its output is checked when it is linearized
const STRADDLING = 3; // required, but a no-op while the state is ANY (it may precede a window, see refuteByWindows)

const NONE: number[] = [];

/** Distinct failed states kept per op for the explanation. */
const FAILED_KEPT = 8;

/** Memory bounds per search: past them the memo stops growing / the search gives up (unknown). */
const MAX_MEMO_WORDS = 32 * 1024 * 1024; // 128 MiB of bitsets
const MAX_STATE_CHARS = 64 * 1024 * 1024; // 128 MiB of interned values

interface CacheNode {
  bits: Uint32Array;
  state: number;
  next: CacheNode | null;
}

interface KeyResult {
  verdict: Verdict;
  explanation?: string;
}

/** Interned model states: concrete values, plus the symbolic ones used by windows. */
class States {
  readonly strs: (string | null)[] = [null, null];
  readonly sym: number[] = [CONCRETE, SYM_ANY];
  /** UTF-8 length of the value (for a suffix state: of the whole value, or -1 if unknown). */
  readonly bytes: number[] = [0, -1];
  /** Total length of the interned values (a memory bound). */
  chars = 0;
  private readonly ids = new Map<string, number>();
  private readonly suffixIds = new Map<string, number>();
  intern(s: string | null): number {
    if (s === null) return ABSENT;
    let id = this.ids.get(s);
    if (id === undefined) id = this.add(this.ids, s, s, CONCRETE, utf8Length(s));
    return id;
  }
  /** "Anything, then sfx", with total length len (or -1). */
  suffix(sfx: string, len: number): number {
    const k = `${len}:${sfx}`;
    return this.suffixIds.get(k) ?? this.add(this.suffixIds, k, sfx, SYM_SUFFIX, len);
  }
  private add(map: Map<string, number>, k: string, s: string, sym: number, bytes: number): number {
    const id = this.strs.length;
    map.set(k, id);
    this.strs.push(s);
    this.sym.push(sym);
    this.bytes.push(bytes);
    this.chars += s.length;
    return id;
  }
}

/** The ops of one key as typed arrays, their entry order, and the model's step function. */
class KeyModel {
  readonly n: number;
  readonly kind: Uint8Array;
  /** 1 for a REQUIRED (or STRADDLING) op. */
  readonly known: Uint8Array;
  /** 1 for a STRADDLING op. */
  readonly straddling: Uint8Array;
  /** get: expected state id; put: new state id; append: expected length or -1; delete: 0/1 expected or -1. */
  readonly param: Float64Array;
  readonly states = new States();
  /** Entries: 2i = call of op i, 2i+1 = its return (+Infinity unless required), sorted by time. */
  readonly order: number[];
  private readonly appendMemo = new Map<number, number>();

  constructor(
    readonly ops: HistoryOp[],
    roles: number[] = ops.map((o) => (o.status === 'ok' ? REQUIRED : OPTIONAL)),
  ) {
    const n = (this.n = ops.length);
    this.kind = new Uint8Array(n);
    this.known = new Uint8Array(n);
    this.straddling = new Uint8Array(n);
    this.param = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const o = ops[i];
      const k = (this.kind[i] = KIND[o.op]);
      this.known[i] = roles[i] === REQUIRED || roles[i] === STRADDLING ? 1 : 0;
      this.straddling[i] = roles[i] === STRADDLING ? 1 : 0;
      const checked = roles[i] !== OPTIONAL;
      if (k === GET) this.param[i] = this.states.intern(o.output as string | null);
      else if (k === PUT) this.param[i] = this.states.intern(o.value as string);
      // (a negative length can never match; -1 is reserved for "unchecked")
      else if (k === APPEND) this.param[i] = checked && typeof o.output === 'number' ? (o.output < 0 ? Number.MAX_SAFE_INTEGER : o.output) : -1;
      else this.param[i] = checked && typeof o.output === 'boolean' ? (o.output ? 1 : 0) : -1;
    }
    // Calls before returns on equal times (touching intervals are concurrent), then by index.
    const time = new Float64Array(2 * n);
    for (let i = 0; i < n; i++) {
      time[2 * i] = ops[i].call;
      time[2 * i + 1] = this.known[i] === 1 ? (ops[i].ret as number) : Infinity;
    }
    this.order = Array.from({ length: 2 * n }, (_, e) => e);
    this.order.sort((a, b) => time[a] - time[b] || (a & 1) - (b & 1) || a - b);
  }

  /** The state after op i from state s, or -1 if op i's output is impossible in s. */
  step(i: number, s: number): number {
    const states = this.states;
    const sym = states.sym[s];
    // A straddling op linearized while the state is still ANY counts as linearized before the
    // window (no effect; ANY also covers every state it could have produced).
    if (sym === SYM_ANY && this.straddling[i] === 1) return s;
    switch (this.kind[i]) {
      case GET: {
        const want = this.param[i];
        if (sym === CONCRETE) return s === want ? s : -1;
        if (sym === SYM_ANY) return want;
        const v = states.strs[want];
        return v !== null && v.endsWith(states.strs[s] as string) && (states.bytes[s] < 0 || states.bytes[s] === states.bytes[want]) ? want : -1;
      }
      case PUT:
        return this.param[i];
      case APPEND: {
        const mk = s * this.n + i;
        let r = this.appendMemo.get(mk);
        if (r === undefined) {
          r = sym === CONCRETE ? states.intern((states.strs[s] ?? '') + (this.ops[i].value as string)) : this.symbolicAppend(i, s);
          this.appendMemo.set(mk, r);
        }
        const want = this.param[i];
        if (r < 0 || want < 0 || states.sym[r] === SYM_SUFFIX) return r; // a symbolic append checks the length itself
        return want !== states.bytes[r] ? -1 : r;
      }
      default: {
        const want = this.param[i];
        if (want >= 0 && sym !== SYM_ANY && want !== (s === ABSENT ? 0 : 1)) return -1;
        return ABSENT;
      }
    }
  }

  /** Append op i to a symbolic state: the result is "anything, then a longer suffix" (-1 if impossible). */
  private symbolicAppend(i: number, s: number): number {
    const states = this.states;
    const x = this.ops[i].value as string;
    const want = this.param[i];
    const sfx = states.sym[s] === SYM_SUFFIX ? (states.strs[s] as string) : '';
    const next = sfx + x;
    let len = -1;
    if (states.sym[s] === SYM_SUFFIX && states.bytes[s] >= 0 && !(sfx.length === 0 && x.length > 0 && isSurrogate(x.charCodeAt(0)))) {
      len = states.bytes[s] + utf8Length(next) - utf8Length(sfx);
    }
    if (want >= 0) {
      if (len >= 0 && len !== want) return -1;
      if (len < 0 && want < utf8Length(next) - 3) return -1; // the unknown part is at least empty (3: a seam)
      len = want;
    }
    return states.suffix(next, len);
  }
}

function relevant(h: HistoryOp): boolean {
  if (h.status === 'fail') return false;
  if (h.op === 'get' && (h.status !== 'ok' || h.output === undefined)) return false;
  return true;
}

/**
 * One key: the exact search, with a first slice of the budget; if that does not conclude,
 * windows around its deepest dead end (refuteByWindows) may prove a violation quickly; then
 * the exact search resumes with the rest of the budget.
 */
function checkKey(key: string, all: HistoryOp[], budgetMs: number): KeyResult {
  const t0 = performance.now();
  const deadline = t0 + budgetMs;
  const ops = all.filter(relevant);
  const m = new KeyModel(ops);
  const exact = createSearch(m, ABSENT);
  let verdict = exact.run(Math.min(deadline, t0 + Math.min(budgetMs * 0.2, 1000)));
  if (verdict === null) {
    const blocked = exact.blockedOp();
    if (blocked) {
      const text = refuteByWindows(key, all.length, ops, blocked, Math.min(deadline, performance.now() + budgetMs * 0.4), budgetMs * 0.1);
      if (text !== null) return { verdict: 'violation', explanation: text };
    }
    verdict = exact.run(deadline);
  }
  if (verdict === null) return { verdict: 'unknown' };
  if (verdict === 'violation') return { verdict, explanation: exact.explain(key, all.length) };
  return { verdict };
}

/**
 * A violation can often be proved from a short stretch of the history. Cut the history at a
 * time a: ops that returned before a are linearized before every op called after a, so any
 * linearization of the whole history is one of those ops and some straddling a (or of
 * unknown outcome), then, from the state they left, one of the rest. The window search
 * checks the rest from ANY state: ops called in (a, b] are required (b: the return of the
 * blocked op); ops straddling a are required too, but may be linearized as no-ops while the
 * state is still ANY (i.e. before the cut); unknown ops are optional as always; ops called
 * after b are optional with their outputs checked, and those called after every required op
 * returned are left out (they can only come after them). No linearization of the window
 * means none of the whole. Windows grow from the 8 ops before the blocked one until one
 * proves the violation, the time is up, or the window reaches the start.
 */
function refuteByWindows(
  key: string,
  totalOps: number,
  ops: HistoryOp[],
  blocked: HistoryOp,
  deadline: number,
  perWindowMs: number,
): string | null {
  const byCall = ops.filter((o) => o.call <= blocked.call).sort((x, y) => x.call - y.call);
  for (let k = 8; ; k *= 2) {
    const now = performance.now();
    if (now >= deadline) return null;
    if (k >= byCall.length) return null; // the exact search covers the whole prefix
    const a = byCall[byCall.length - 1 - k].call;
    const window = windowModel(ops, a, blocked.ret as number);
    const search = createSearch(window, ANY);
    const verdict = search.run(Math.min(deadline, now + perWindowMs));
    if (verdict === 'violation') {
      const required = window.ops.filter((o) => o.call > a).length;
      return search.explain(key, totalOps, `whatever its state at t=${a.toFixed(1)}, the ${required} operations called after that cannot be linearized`);
    }
  }
}

/** The window of ops (of one key, fail ops and unchecked gets dropped) cut at a, up to b. */
function windowModel(ops: HistoryOp[], a: number, b: number): KeyModel {
  const wOps: HistoryOp[] = [];
  const roles: number[] = [];
  let maxRet = -Infinity;
  for (const o of ops) {
    if (o.status !== 'ok') {
      wOps.push(o);
      roles.push(OPTIONAL);
    } else if ((o.ret as number) < a) {
      continue; // before the cut
    } else if (o.call <= b) {
      wOps.push(o); // called after the cut, or straddling it (then it may precede the window)
      roles.push(o.call > a ? REQUIRED : STRADDLING);
      maxRet = Math.max(maxRet, o.ret as number);
    } else if (o.op !== 'get') {
      wOps.push(o); // called after b: may or may not come before the required ops
      roles.push(OPTIONAL_CHECKED);
    }
  }
  const keep = wOps.map((o, j) => roles[j] === REQUIRED || roles[j] === STRADDLING || o.call <= maxRet);
  return new KeyModel(
    wOps.filter((_, j) => keep[j]),
    roles.filter((_, j) => keep[j]),
  );
}

/**
 * For tests: the verdict of the window search on one key's history cut at time `a`, up to
 * time `b` (see refuteByWindows). 'violation' must imply that the history is not linearizable.
 */
export function windowVerdictForTests(history: readonly HistoryOp[], a: number, b: number): 'ok' | 'violation' | null {
  validateHistory(history);
  return createSearch(windowModel(history.filter(relevant), a, b), ANY).run(performance.now() + 10_000);
}

interface Search {
  /** Runs until the deadline: the verdict, or null if out of time (call again to go on). */
  run(deadline: number): 'ok' | 'violation' | null;
  /** The op at the deepest dead end so far, if any. */
  blockedOp(): HistoryOp | null;
  explain(key: string, totalOps: number, note?: string): string;
}

/**
 * The WGL depth-first search over the entry list of one key (Porcupine's checkSingle), from
 * the given initial state. Resumable: all its state lives here between runs.
 */
function createSearch(m: KeyModel, initialState: number): Search {
  const n = m.n;
  const ops = m.ops;
  let knownLeft = 0;
  for (let i = 0; i < n; i++) knownLeft += m.known[i];
  const totalKnown = knownLeft;

  // The entry list: a doubly linked list over m.order, head sentinel = 2n.
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let last = head;
  for (const e of m.order) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  const lift = (call: number): void => {
    const ret = call + 1;
    next[prev[call]] = next[call];
    prev[next[call]] = prev[call]; // a call always has a successor (at least its return)
    next[prev[ret]] = next[ret];
    if (next[ret] !== -1) prev[next[ret]] = prev[ret];
  };
  const unlift = (call: number): void => {
    const ret = call + 1;
    next[prev[ret]] = ret;
    if (next[ret] !== -1) prev[next[ret]] = ret;
    next[prev[call]] = call;
    prev[next[call]] = call;
  };

  // The linearized set as a bitset; the hash covers the required ops only (Zobrist,
  // incremental) so that configurations differing only in optional ops share a bucket.
  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  const knownMask = new Uint32Array(words);
  const zobrist = new Int32Array(n);
  const rnd = mulberry32(0x5eed ^ n);
  let unknownLeft = 0; // optional ops still in the list
  for (let i = 0; i < n; i++) {
    if (m.known[i] === 1) {
      knownMask[i >>> 5] |= 1 << (i & 31);
      zobrist[i] = (rnd() * 4294967296) | 0;
    } else unknownLeft++;
  }
  const isSet = (i: number): boolean => (bits[i >>> 5] & (1 << (i & 31))) !== 0;

  // Optional ops with the same effect and check (kind, value, expected output) are
  // interchangeable once called: only the earliest-called pending one of each class is
  // linearized, so the linearized ones of a class are always a prefix of it in call order.
  // sameBefore[i]: the previous op of i's class, or -1.
  const sameBefore = new Int32Array(n).fill(-1);
  {
    const lastOfClass = new Map<string, number>();
    for (const e of m.order) {
      const i = e >>> 1;
      if ((e & 1) !== 0 || m.known[i] === 1) continue;
      const cls = `${m.kind[i]}:${m.param[i]}:${ops[i].value ?? ''}`;
      sameBefore[i] = lastOfClass.get(cls) ?? -1;
      lastOfClass.set(cls, i);
    }
  }

  const cache = new Map<number, CacheNode>();
  let memoWords = 0;
  /**
   * Whether a visited configuration (same state) subsumes the current one: the same required
   * ops linearized, and a subset of the current optional ones (so at least as many still
   * available; an optional op may always be left out, so whatever the current configuration
   * can still do, the visited one could too). Equality is Porcupine's memo.
   */
  const subsumed = (e: Uint32Array): boolean => {
    for (let w = 0; w < words; w++) {
      const c = bits[w];
      const v = e[w];
      if ((v & ~c) !== 0 || (c & ~v & knownMask[w]) !== 0) return false;
    }
    return true;
  };
  /** Adds (bits, state) to the cache; false if a visited configuration subsumes it. */
  const remember = (zob: number, state: number): boolean => {
    const h = (zob ^ Math.imul(state + 1, 0x9e3779b1)) | 0;
    const first = cache.get(h);
    for (let c: CacheNode | null | undefined = first; c; c = c.next) if (c.state === state && subsumed(c.bits)) return false;
    if (memoWords < MAX_MEMO_WORDS) {
      // (past the bound, configurations may be explored again: slower, still exact)
      cache.set(h, { bits: bits.slice(), state, next: first ?? null });
      memoWords += words + 8;
    }
    return true;
  };

  // For the explanation: per required op, up to FAILED_KEPT distinct states it did not fit
  // in, and whether it was ever linearized.
  const failed = new Int32Array(n * FAILED_KEPT);
  const failedCount = new Uint8Array(n);
  const everLifted = new Uint8Array(n);
  const noteFailure = (i: number, s: number): void => {
    const c = failedCount[i];
    if (c > FAILED_KEPT) return;
    const base = i * FAILED_KEPT;
    for (let k = 0; k < c; k++) if (failed[base + k] === s) return;
    if (c === FAILED_KEPT) failedCount[i] = c + 1; // more than we keep
    else {
      failed[base + c] = s;
      failedCount[i] = c + 1;
    }
  };

  /**
   * Pruning for optional ops. They are linearized (phase 1) only after every required
   * candidate was tried in the current configuration C; what follows a run of optional ops is
   * one of those same required candidates X (optional ops never change which required ops may
   * go next). If X is a put or an unchecked delete, or a get or checked delete that already
   * fitted in C's state, the configuration after X is subsumed by the one X reached from C
   * directly, so only the other X can make the run worth it (and for a checked delete, only
   * the op that changes whether the key exists). Placing optional op `u` (giving
   * state t) is therefore skipped when no such X may fit after a further run of the
   * remaining optional appends (see mayFit).
   */
  const chainMayHelp = (t: number, u: number): boolean => {
    let d = sp;
    while (d > 0 && m.known[stackEntry[d - 1] >>> 1] === 0) d--;
    const s0 = d === sp ? state : stackState[d]; // the state where the run began
    // The run can only go on with appends (a put or delete is only ever its first op).
    const rApps: number[] = [];
    const knownCands: number[] = [];
    for (let e = next[head]; e !== -1 && (e & 1) === 0; e = next[e]) {
      const j = e >>> 1;
      if (m.known[j] === 1) knownCands.push(j);
      else if (j !== u && m.kind[j] === APPEND) rApps.push(j);
    }
    for (const x of knownCands) {
      const k = m.kind[x];
      if (k === PUT || (k === DELETE && m.param[x] < 0)) continue;
      if (k !== APPEND && m.step(x, s0) >= 0) continue;
      if (k === DELETE) {
        // A delete ends with null whatever the run did: only whether the key exists matters,
        // so only the op that makes it exist (or absent) is worth placing.
        if (m.param[x] === 1 ? state === ABSENT && t !== ABSENT : t === ABSENT) return true;
        continue;
      }
      if (mayFit(m, x, t, NONE, rApps, false)) return true;
    }
    return false;
  };

  /**
   * Lookahead. The first return entry in the list belongs to the blocker B: B must be
   * linearized before anything called after it returned, so from the current configuration
   * B's output has to be reachable using only the ops called before that (the candidates, in
   * any order: they are all concurrent with one another), required ones included. Returns -1
   * if B may still fit, else B's return entry (the configuration is a dead end).
   */
  const blockerDeadEnd = (t: number): number => {
    let e = next[head];
    while (e !== -1 && (e & 1) === 0) e = next[e];
    if (e === -1) return -1;
    const b = e >>> 1;
    if (m.kind[b] === PUT || m.param[b] < 0 || m.step(b, t) >= 0) return -1;
    const rPuts: number[] = [];
    const rApps: number[] = [];
    let rDelete = false;
    for (let c = next[head]; c !== e; c = next[c]) {
      const j = c >>> 1;
      const kj = m.kind[j];
      if (kj === PUT) rPuts.push(j);
      else if (kj === APPEND) rApps.push(j);
      else if (kj === DELETE) rDelete = true;
    }
    return mayFit(m, b, t, rPuts, rApps, rDelete) ? -1 : e;
  };

  const firstReturn = (): number => {
    let e = next[head];
    while (e !== -1 && (e & 1) === 0) e = next[e];
    return e;
  };

  // Sources of each required get's value (non-null, concrete): the puts whose value is a
  // prefix of it, and whether appends alone (from null) might build it. Once the state is no
  // prefix of it and no source can still come before the get returns, the get can never fit.
  const sources: number[][] = [];
  const fromNothing = new Uint8Array(n);
  {
    const putsByValue = new Map<string, number[]>();
    const appendValues = new Set<string>();
    for (let i = 0; i < n; i++) {
      const v = ops[i].value as string;
      if (m.kind[i] === PUT) {
        const list = putsByValue.get(v);
        if (list) list.push(i);
        else putsByValue.set(v, [i]);
      } else if (m.kind[i] === APPEND && v.length > 0) appendValues.add(v);
    }
    const putLengths = Array.from(new Set(Array.from(putsByValue.keys(), (v) => v.length)));
    const appendLengths = Array.from(new Set(Array.from(appendValues, (v) => v.length)));
    for (let j = 0; j < n; j++) {
      sources.push(NONE);
      const want = m.param[j];
      if (m.known[j] !== 1 || m.kind[j] !== GET || want === ABSENT) continue;
      const v = m.states.strs[want] as string;
      const src: number[] = [];
      for (const l of putLengths) if (l <= v.length) src.push(...(putsByValue.get(v.slice(0, l)) ?? NONE));
      sources[j] = src;
      // can appends alone spell v? (values reused freely: an over-approximation)
      const reach = new Uint8Array(v.length + 1);
      reach[0] = 1;
      for (let p = 0; p < v.length && reach[v.length] === 0; p++) {
        if (reach[p] === 0) continue;
        for (const l of appendLengths) if (p + l <= v.length && appendValues.has(v.slice(p, p + l))) reach[p + l] = 1;
      }
      fromNothing[j] = v.length === 0 || reach[v.length] === 1 ? 1 : 0;
    }
  }
  /** A called, required get whose value can no longer be produced before it returns, or -1. */
  const unreachableGet = (t: number): number => {
    if (m.states.sym[t] !== CONCRETE) return -1;
    const cur = m.states.strs[t];
    for (let e = next[head]; e !== -1 && (e & 1) === 0; e = next[e]) {
      const j = e >>> 1;
      const want = m.param[j];
      if (m.known[j] !== 1 || m.kind[j] !== GET || want === ABSENT || want === t || fromNothing[j] === 1) continue;
      if (cur !== null && (m.states.strs[want] as string).startsWith(cur)) continue;
      const deadline = ops[j].ret as number;
      let ok = false;
      for (const p of sources[j]) {
        if (!isSet(p) && ops[p].call <= deadline) {
          ok = true;
          break;
        }
      }
      if (!ok) return j;
    }
    return -1;
  };

  // Every required get's value, sorted: "might this state ever be read?" (by a prefix).
  const readValues: string[] = [];
  for (let j = 0; j < n; j++) if (m.known[j] === 1 && m.kind[j] === GET && m.param[j] !== ABSENT) readValues.push(m.states.strs[m.param[j]] as string);
  readValues.sort();
  const mayBeRead = (t: number): boolean => {
    const v = m.states.strs[t];
    if (m.states.sym[t] === SYM_ANY || v === null) return true;
    if (m.states.sym[t] === SYM_SUFFIX) return readValues.some((r) => r.includes(v));
    let lo = 0;
    let hi = readValues.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (readValues[mid] < v) lo = mid + 1;
      else hi = mid;
    }
    return lo < readValues.length && readValues[lo].startsWith(v);
  };
  const callPos = new Int32Array(n);
  m.order.forEach((e, p) => {
    if ((e & 1) === 0) callPos[e >>> 1] = p;
  });
  /**
   * Optional appends in a run go in call order (as within a class, see sameBefore), unless
   * the content they build may be read: if no get ever reads a value starting with the
   * state, no get is linearized until it is overwritten, and later ops only see its length,
   * the same in any order (barring lone surrogates at the seams).
   */
  const outOfOrderUnseen = (top: number, i: number, t: number): boolean => {
    if (m.known[top] === 1 || m.kind[top] !== APPEND || callPos[top] < callPos[i]) return false;
    const a = ops[i].value as string;
    const b = ops[top].value as string;
    if (a.length === 0 || b.length === 0 || isSurrogate(a.charCodeAt(0)) || isSurrogate(a.charCodeAt(a.length - 1)) || isSurrogate(b.charCodeAt(0)) || isSurrogate(b.charCodeAt(b.length - 1))) return false;
    return !mayBeRead(t);
  };

  const stackEntry = new Int32Array(n);
  const stackState = new Int32Array(n);
  // Loop state, kept here between runs.
  let sp = 0;
  let state = initialState;
  let zob = 0;
  let bestDepth = -1; // in required ops linearized
  let bestPrefix: Int32Array = new Int32Array(0);
  let bestBlocked = -1;
  let iterations = 0;
  // Candidates are tried required ops first (phase 0), then optional ones (phase 1): an
  // optional op is linearized only when going on without it fails, which keeps the search
  // near the recorded order and lets the memo prune the rest.
  let phase = 0;
  let entry = next[head];
  let outcome: 'ok' | 'violation' | null = knownLeft === 0 ? 'ok' : null;

  const run = (deadline: number): 'ok' | 'violation' | null => {
    if (outcome !== null) return outcome;
    for (;;) {
      if ((++iterations & 1023) === 0 && (performance.now() > deadline || m.states.chars > MAX_STATE_CHARS)) return null;
      if ((entry & 1) === 0) {
        const i = entry >>> 1;
        const known = m.known[i];
        if (known !== 1 - phase) {
          entry = next[entry];
          continue;
        }
        // Optional ops: only the earliest pending one of its class; and no put or delete right
        // after another optional op, which it would make pointless (the same put / delete
        // without it, tried from the start of the run, subsumes it).
        if (known === 0 && ((sameBefore[i] >= 0 && !isSet(sameBefore[i])) || (m.kind[i] !== APPEND && sp > 0 && m.known[stackEntry[sp - 1] >>> 1] === 0))) {
          entry = next[entry];
          continue;
        }
        const ns = m.step(i, state);
        if (
          ns >= 0 &&
          (known === 1 || (chainMayHelp(ns, i) && !(m.kind[i] === APPEND && sp > 0 && outOfOrderUnseen(stackEntry[sp - 1] >>> 1, i, ns))))
        ) {
          const w = i >>> 5;
          const bit = 1 << (i & 31);
          bits[w] |= bit;
          if (remember(zob ^ zobrist[i], ns)) {
            zob ^= zobrist[i];
            stackEntry[sp] = entry;
            stackState[sp] = state;
            sp++;
            state = ns;
            lift(entry);
            everLifted[i] = 1;
            if (known === 1) {
              if (--knownLeft === 0) return (outcome = 'ok');
            } else unknownLeft--;
            phase = 0;
            entry = next[head];
            const lost = unreachableGet(state);
            const dead = lost >= 0 ? firstReturn() : blockerDeadEnd(state);
            if (dead >= 0) {
              if (lost >= 0) {
                noteFailure(lost, state);
                if (totalKnown - knownLeft > bestDepth) {
                  bestDepth = totalKnown - knownLeft;
                  bestPrefix = stackEntry.slice(0, sp);
                  bestBlocked = lost;
                }
              }
              phase = 1; // straight to the dead end
              entry = dead;
            }
            continue;
          }
          bits[w] &= ~bit;
        } else if (known === 1) noteFailure(i, state);
        entry = next[entry];
      } else {
        // A return entry: every op called before it has been tried.
        if (phase === 0 && unknownLeft > 0) {
          phase = 1;
          entry = next[head];
          continue;
        }
        // Dead end: this op had to be linearized by now and could not be.
        if (totalKnown - knownLeft > bestDepth) {
          bestDepth = totalKnown - knownLeft;
          bestPrefix = stackEntry.slice(0, sp);
          bestBlocked = entry >>> 1;
        }
        if (sp === 0) return (outcome = 'violation');
        sp--;
        entry = stackEntry[sp];
        state = stackState[sp];
        const i = entry >>> 1;
        bits[i >>> 5] &= ~(1 << (i & 31));
        zob ^= zobrist[i];
        unlift(entry);
        if (m.known[i] === 1) {
          knownLeft++;
          phase = 0;
        } else {
          unknownLeft++;
          phase = 1;
        }
        entry = next[entry];
      }
    }
  };

  return {
    run,
    blockedOp: () => (bestBlocked >= 0 ? ops[bestBlocked] : null),
    explain: (key, totalOps, note) => {
      const b = bestBlocked;
      const failedStates = Array.from(failed.subarray(b * FAILED_KEPT, b * FAILED_KEPT + Math.min(failedCount[b], FAILED_KEPT)));
      return explain(key, m, totalOps, initialState, bestPrefix, b, failedStates, failedCount[b] > FAILED_KEPT, everLifted[b] === 1, note);
    },
  };
}

/**
 * Whether op x's output may fit after some run, from state t, of the given puts, appends
 * (each at most once, any order) and deletes. An over-approximation: gets by tiling the
 * expected value with a base and distinct append values, appends by reachable byte lengths,
 * deletes by reachable existence.
 */
function mayFit(m: KeyModel, x: number, t: number, rPuts: number[], rApps: number[], rDelete: boolean): boolean {
  const k = m.kind[x];
  const want = m.param[x];
  if (k === PUT || want < 0 || m.step(x, t) >= 0) return true;
  if (k === GET) return want === ABSENT ? rDelete : canTile(m, m.states.strs[want] as string, t, rPuts, rApps, rDelete);
  if (k === DELETE) return want === 1 ? rPuts.length > 0 || rApps.length > 0 : rDelete;
  return canReachLength(m, want, x, t, rPuts, rApps, rDelete);
}

function canTile(m: KeyModel, v: string, t: number, rPuts: number[], rApps: number[], rDelete: boolean): boolean {
  const strs = m.states.strs;
  const sym = m.states.sym[t];
  if (sym === SYM_ANY) return true;
  let budget = 10_000;
  const used = new Uint8Array(rApps.length);
  const tile = (pos: number): boolean => {
    if (pos === v.length || --budget < 0) return true;
    for (let a = 0; a < rApps.length; a++) {
      const x = m.ops[rApps[a]].value as string;
      if (used[a] === 0 && x.length > 0 && v.startsWith(x, pos)) {
        used[a] = 1;
        const ok = tile(pos + x.length);
        used[a] = 0;
        if (ok) return true;
      }
    }
    return false;
  };
  if (sym === SYM_SUFFIX) {
    // "anything, then sfx": sfx may end anywhere in v
    const sfx = strs[t] as string;
    for (let p = v.indexOf(sfx); p >= 0; p = v.indexOf(sfx, p + 1)) if (tile(p + sfx.length)) return true;
  }
  if ((t === ABSENT || rDelete) && tile(0)) return true;
  if (sym === CONCRETE && t !== ABSENT && v.startsWith(strs[t] as string) && tile((strs[t] as string).length)) return true;
  for (const j of rPuts) {
    const b = strs[m.param[j]] as string;
    if (v.startsWith(b) && tile(b.length)) return true;
  }
  return false;
}

function canReachLength(m: KeyModel, want: number, x: number, t: number, rPuts: number[], rApps: number[], rDelete: boolean): boolean {
  const strs = m.states.strs;
  const bytes = m.states.bytes;
  if (bytes[t] < 0) return true; // anything, of unknown length
  // UTF-8 lengths add up unless a lone surrogate meets another one at a seam.
  const seamy = (s: string): boolean => s.length > 0 && (isSurrogate(s.charCodeAt(0)) || isSurrogate(s.charCodeAt(s.length - 1)));
  const xv = m.ops[x].value as string;
  if (seamy(xv) || (t !== ABSENT && seamy(strs[t] as string))) return true;
  const lens: number[] = [];
  for (const j of rApps) {
    const a = m.ops[j].value as string;
    if (seamy(a)) return true;
    lens.push(utf8Length(a));
  }
  const bases: number[] = [];
  if (t === ABSENT || rDelete) bases.push(0);
  if (t !== ABSENT) bases.push(bytes[t]);
  for (const j of rPuts) {
    if (seamy(strs[m.param[j]] as string)) return true;
    bases.push(bytes[m.param[j]]);
  }
  const target = want - utf8Length(xv);
  if (target < 0) return false;
  if (target > 1 << 20) return true;
  const reach = new Uint8Array(target + 1); // subset sums of the append lengths, up to target
  reach[0] = 1;
  for (const l of lens) for (let s = target - l; s >= 0; s--) if (reach[s] === 1) reach[s + l] = 1;
  for (const b of bases) if (b <= target && reach[target - b] === 1) return true;
  return false;
}

// ---------------------------------------------------------------------------------------
// Explanation of a violation

const MAX_PREFIX_LINES = 12;

function explain(
  key: string,
  m: KeyModel,
  totalOps: number,
  initialState: number,
  prefix: Int32Array,
  blocked: number,
  failedStates: number[],
  moreFailed: boolean,
  everPlaced: boolean,
  note?: string,
): string {
  const ops = m.ops;
  const lines: string[] = [];
  lines.push(`key ${quote(key)} is not linearizable (${totalOps} operations on it)${note ? `: ${note}` : ''}`);
  lines.push(`longest linearizable prefix found (${prefix.length} ops), each with the state after it:`);
  let state = initialState;
  const from = Math.max(0, prefix.length - MAX_PREFIX_LINES);
  if (from > 0) lines.push(`  … ${from} earlier ops`);
  for (let d = 0; d < prefix.length; d++) {
    const i = prefix[d] >>> 1;
    const before = state;
    state = m.step(i, state);
    const after = m.straddling[i] === 1 && before === ANY ? '(taken as done before that)' : showState(m, state);
    if (d >= from) lines.push(`  ${d + 1}. ${describe(ops[i])}  => ${after}`);
  }
  const withBytes = m.kind[blocked] === APPEND;
  failedStates.sort((a, b) => a - b); // null first, then in the order first met
  const shown = failedStates.map((s) => showState(m, s, withBytes)).join(', ') + (moreFailed ? ', …' : '');
  const b = describe(ops[blocked]);
  if (!everPlaced) {
    lines.push('could not place next:');
    lines.push(`  ${b},`);
    lines.push(`  but the only possible states were: ${shown}`);
  } else {
    lines.push('could not place next (it returned before the remaining ops were called):');
    lines.push(`  ${b};`);
    lines.push(`  it does not fit in ${shown || 'no state'}, and every other placement leads to a dead end later`);
  }
  return lines.join('\n');
}

function describe(o: HistoryOp): string {
  let s = `${o.op} ${quote(o.key)}`;
  if (o.value !== undefined) s += ` ${quote(o.value)}`;
  if (o.status === 'ok' && o.output !== undefined && o.op !== 'put') {
    s += ` -> ${typeof o.output === 'string' ? quote(o.output) : String(o.output)}`;
  }
  if (o.status !== 'ok') s += ` (${o.status})`;
  const ret = o.status === 'ok' && o.ret !== null ? o.ret.toFixed(1) : 'no reply';
  return `${s} at [${o.call.toFixed(1)}, ${ret}] by client ${o.client} (#${o.id})`;
}

function showState(m: KeyModel, s: number, withBytes = false): string {
  const v = m.states.strs[s];
  const sym = m.states.sym[s];
  if (sym === SYM_ANY) return '(any)';
  if (sym === SYM_SUFFIX) return `(any)+${quote(v as string)}${m.states.bytes[s] >= 0 ? ` (${m.states.bytes[s]} B)` : ''}`;
  if (v === null) return 'null';
  return v.length > 40 || withBytes ? `${quote(v)} (${m.states.bytes[s]} B)` : quote(v);
}

/** 'text' with JSON escapes, cut to 40 characters. */
function quote(v: string): string {
  const cut = v.length > 40 ? v.slice(0, 40) : v;
  const body = JSON.stringify(cut).slice(1, -1).replace(/\\"/g, '"').replace(/'/g, "\\'");
  return `'${body}${cut.length < v.length ? '…' : ''}'`;
}

function isSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdfff;
}

