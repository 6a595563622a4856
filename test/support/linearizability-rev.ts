/**
 * The linearizability checker's model of SPEC §10's operations: getEntry (value and
 * revision), conditional put and delete (ok, or CONFLICT with the key's revision), and
 * atomic commits (checks and writes of several keys under one revision).
 *
 * An atomic commit ties its keys together, so P-compositionality works on GROUPS: the keys
 * joined by atomic commits (union-find) are one object, whose state is every key's
 * (value, revision). Keys with any op of §10 on them are checked here, with all their ops
 * (plain ones too); the rest stay with the per-key search of linearizability.ts.
 *
 * Revisions. A key's revision is that of its last write, a number the store chooses (one
 * counter for the whole store, advanced by writes to other groups too), so the model cannot
 * compute it. It keeps each key's revision as EXACT (0 for an absent key; an atomic commit's
 * reported revision; a revision some op observed: getEntry, CONFLICT, a passing check) or
 * UNKNOWN with a floor (after a write whose revision nobody reported: above every revision
 * the group held before it, since the counter only grows). An observation of an unknown
 * revision pins it (from then on, until the next write, every observation must agree); an
 * unknown one matches any number from its floor up. So the model only ever accepts more
 * than the store could do, never less: a verdict of violation is a real one. The floors
 * are what reject a lost update: two writes both passing ifRevision 5.
 *
 * The search is Wing & Gong / Lowe with Porcupine's memo (set of linearized ops, state),
 * required ops tried before ops of unknown outcome (as in linearizability.ts). Unknown ops
 * may take effect after their call or never; an unknown conditional write or commit, when
 * linearized, takes its success path (its failure path changes nothing, the same as never).
 */
import { performance } from 'perf_hooks';
import { utf8Length } from '../../common/limits';
import type { HistoryOp, EntryOutput, ConflictOutput, AtomicOutput } from './history';

/** Whether an op needs this model (an op of SPEC §10). */
export function isRevisioned(h: HistoryOp): boolean {
  return h.op === 'getEntry' || h.op === 'atomic' || h.ifRevision !== undefined;
}

/** Every key an op touches (an atomic commit: its checks' and writes' keys). */
export function keysOf(h: HistoryOp): string[] {
  if (h.op !== 'atomic') return [h.key];
  return [...(h.checks ?? []).map((c) => c[0]), ...(h.ops ?? []).map((o) => o[1])];
}

/**
 * The groups of keys to check with this model: keys with a §10 op, joined by atomic commits,
 * each with every op on its keys (in history order). Ops on other keys are not in any group.
 */
export function revisionGroups(history: readonly HistoryOp[]): { keys: string[]; ops: HistoryOp[] }[] {
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let r = k;
    while (parent.get(r) !== r) r = parent.get(r) as string;
    parent.set(k, r);
    return r;
  };
  for (const h of history) {
    if (!isRevisioned(h)) continue;
    const ks = keysOf(h);
    for (const k of ks) if (!parent.has(k)) parent.set(k, k);
    for (let i = 1; i < ks.length; i++) parent.set(find(ks[i]), find(ks[0]));
  }
  const groups = new Map<string, { keys: string[]; ops: HistoryOp[] }>();
  for (const k of parent.keys()) {
    const r = find(k);
    let g = groups.get(r);
    if (!g) groups.set(r, (g = { keys: [], ops: [] }));
    g.keys.push(k);
  }
  for (const h of history) {
    const k = keysOf(h)[0];
    if (k !== undefined && parent.has(k)) (groups.get(find(k)) as { ops: HistoryOp[] }).ops.push(h);
  }
  return [...groups.values()];
}

/** A group's state: per key (by index) its value (null: absent) and revision (≥ 0: exact; -m: unknown, at least m). */
type State = { values: (string | null)[]; revs: number[] };

export interface GroupResult {
  verdict: 'ok' | 'violation' | 'unknown';
  explanation?: string;
}

function relevant(h: HistoryOp): boolean {
  if (h.status === 'fail') return false;
  if ((h.op === 'get' || h.op === 'getEntry') && (h.status !== 'ok' || h.output === undefined)) return false;
  return true;
}

/** Checks one group: its ops linearizable from the all-absent state, within budgetMs. */
export function checkGroup(keys: string[], all: HistoryOp[], budgetMs: number): GroupResult {
  const ops = all.filter(relevant);
  const n = ops.length;
  const index = new Map(keys.map((k, i) => [k, i]));
  const required = ops.map((o) => o.status === 'ok');
  const states: State[] = [];
  const stateIds = new Map<string, number>();
  const intern = (s: State): number => {
    const k = JSON.stringify(s);
    let id = stateIds.get(k);
    if (id === undefined) {
      id = states.length;
      states.push(s);
      stateIds.set(k, id);
    }
    return id;
  };
  const initial = intern({ values: keys.map(() => null), revs: keys.map(() => 0) });
  const stepMemo = new Map<number, number>();
  const step = (i: number, s: number): number => {
    const mk = s * n + i;
    let r = stepMemo.get(mk);
    if (r === undefined) {
      const next = applyOp(ops[i], required[i], states[s], index);
      r = next === null ? -1 : intern(next);
      stepMemo.set(mk, r);
    }
    return r;
  };
  return search(ops, required, initial, step, budgetMs, (s) => showState(keys, states[s]));
}

/** The state after op o from s, or null if o's output is impossible in s (o required: its output is checked). */
export function applyOp(o: HistoryOp, checked: boolean, s: State, index: Map<string, number>): State | null {
  const k = index.get(o.key) as number;
  const cur = s.values[k] ?? null;
  const rev = s.revs[k];
  const out = checked ? o.output : undefined;
  switch (o.op) {
    case 'get':
      return out === cur ? s : null;
    case 'getEntry': {
      const e = out as EntryOutput;
      return e.value === cur && revFits(rev, e.revision) ? withKey(s, k, cur, e.revision) : null;
    }
    case 'put':
    case 'delete': {
      if (o.ifRevision !== undefined) {
        if (out !== undefined && out !== null && typeof out === 'object') {
          const c = (out as ConflictOutput).conflict; // refused: the key was at c, not ifRevision
          return c !== o.ifRevision && revFits(rev, c) ? withKey(s, k, cur, c) : null;
        }
        if (!revFits(rev, o.ifRevision)) return null;
      }
      if (o.op === 'put') return withKey(s, k, o.value as string, nextUnknown(s));
      if (out !== undefined && out !== (cur !== null)) return null;
      return withKey(s, k, null, 0);
    }
    case 'append': {
      const v = (cur ?? '') + (o.value as string);
      if (out !== undefined && out !== utf8Length(v)) return null;
      return withKey(s, k, v, nextUnknown(s));
    }
    default:
      return applyCommit(o, out as AtomicOutput | undefined, s, index);
  }
}

function applyCommit(o: HistoryOp, out: AtomicOutput | undefined, s: State, index: Map<string, number>): State | null {
  const checks = o.checks ?? [];
  if (out !== undefined && !out.ok) {
    // the first failing check is out.key's, which was at out.revision
    for (const [key, want] of checks) {
      const k = index.get(key) as number;
      if (key === out.key) return out.revision !== want && revFits(s.revs[k], out.revision) ? withKey(s, k, s.values[k], out.revision) : null;
      if (!revFits(s.revs[k], want)) return null;
    }
    return null;
  }
  const values = s.values.slice();
  const revs = s.revs.slice();
  for (const [key, want] of checks) {
    const k = index.get(key) as number;
    if (!revFits(revs[k], want)) return null;
    revs[k] = want;
  }
  const q = out === undefined ? nextUnknown({ values, revs }) : out.revision;
  if (out !== undefined && revs.some((r) => floorOf(r) >= q)) return null; // earlier writes got smaller revisions
  const written = new Set<number>();
  for (const w of o.ops ?? []) {
    const k = index.get(w[1]) as number;
    values[k] = w[0] === 'delete' ? null : (w[0] === 'append' ? values[k] ?? '' : '') + w[2];
    written.add(k);
  }
  for (const k of written) revs[k] = values[k] === null ? 0 : q;
  return { values, revs };
}

/** Whether a key whose revision is `rev` (exact, or unknown: -m = "at least m") can be at `seen`. */
function revFits(rev: number, seen: number): boolean {
  return rev >= 0 ? rev === seen : seen >= -rev;
}

/** The least revision `rev` can be. */
function floorOf(rev: number): number {
  return rev >= 0 ? rev : -rev;
}

/**
 * The revision of a write whose revision nobody reported: unknown, but above every revision
 * the group's state holds (those writes and observations were linearized before it).
 */
function nextUnknown(s: State): number {
  let m = 0;
  for (const r of s.revs) m = Math.max(m, floorOf(r));
  return -(m + 1);
}

function withKey(s: State, k: number, value: string | null, rev: number): State {
  if (s.values[k] === value && s.revs[k] === rev) return s;
  const values = s.values.slice();
  const revs = s.revs.slice();
  values[k] = value;
  revs[k] = rev;
  return { values, revs };
}

/**
 * WGL search over the ops' call/return entries (an op of unknown outcome has no return: it
 * may be linearized any time after its call, or never). Memo: (linearized set, state).
 */
function search(ops: HistoryOp[], required: boolean[], initial: number, step: (i: number, s: number) => number, budgetMs: number, show: (s: number) => string): GroupResult {
  const n = ops.length;
  const deadline = performance.now() + budgetMs;
  const entries: number[] = [];
  for (let i = 0; i < n; i++) {
    entries.push(2 * i);
    if (required[i]) entries.push(2 * i + 1);
  }
  const time = (e: number) => ((e & 1) === 0 ? ops[e >>> 1].call : (ops[e >>> 1].ret as number));
  entries.sort((a, b) => time(a) - time(b) || (a & 1) - (b & 1) || a - b);
  const head = 2 * n;
  const next = new Int32Array(2 * n + 1).fill(-1);
  const prev = new Int32Array(2 * n + 1).fill(-1);
  let last = head;
  for (const e of entries) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  const unlink = (e: number) => {
    next[prev[e]] = next[e];
    if (next[e] !== -1) prev[next[e]] = prev[e];
  };
  const relink = (e: number) => {
    next[prev[e]] = e;
    if (next[e] !== -1) prev[next[e]] = e;
  };
  const bits = new Uint32Array((n + 31) >>> 5);
  const zobrist = Array.from({ length: n }, (_, i) => (Math.imul(i + 1, 0x9e3779b1) ^ Math.imul(i + 7, 0x85ebca6b)) | 0);
  const memo = new Map<number, { bits: Uint32Array; state: number }[]>();
  let zob = 0;
  const remember = (z: number, s: number): boolean => {
    const h = (z ^ Math.imul(s + 1, 0x27d4eb2d)) | 0;
    let list = memo.get(h);
    if (!list) memo.set(h, (list = []));
    for (const c of list) if (c.state === s && c.bits.every((w, j) => w === bits[j])) return false;
    list.push({ bits: bits.slice(), state: s });
    return true;
  };
  let knownLeft = required.filter(Boolean).length;
  let unknownLeft = n - knownLeft;
  const stack: { entry: number; state: number }[] = [];
  let state = initial;
  let phase = 0;
  let entry = next[head];
  let best = { depth: -1, blocked: -1, state: initial };
  let iterations = 0;
  while (knownLeft > 0) {
    if ((++iterations & 1023) === 0 && performance.now() > deadline) return { verdict: 'unknown' };
    if (entry !== -1 && (entry & 1) === 0) {
      const i = entry >>> 1;
      if (required[i] !== (phase === 0)) {
        entry = next[entry];
        continue;
      }
      const ns = step(i, state);
      if (ns >= 0) {
        bits[i >>> 5] |= 1 << (i & 31);
        if (remember(zob ^ zobrist[i], ns)) {
          zob ^= zobrist[i];
          stack.push({ entry, state });
          state = ns;
          unlink(entry);
          if (required[i]) {
            unlink(entry + 1);
            knownLeft--;
          } else unknownLeft--;
          phase = 0;
          entry = next[head];
          continue;
        }
        bits[i >>> 5] &= ~(1 << (i & 31));
      }
      entry = next[entry];
      continue;
    }
    // A return entry (or the end): every op called before it has been tried.
    if (phase === 0 && unknownLeft > 0) {
      phase = 1;
      entry = next[head];
      continue;
    }
    if (entry !== -1 && stack.length > best.depth) best = { depth: stack.length, blocked: entry >>> 1, state };
    const top = stack.pop();
    if (top === undefined) return { verdict: 'violation', explanation: explain(ops, best, show) };
    const i = top.entry >>> 1;
    state = top.state;
    bits[i >>> 5] &= ~(1 << (i & 31));
    zob ^= zobrist[i];
    if (required[i]) {
      relink(top.entry + 1);
      knownLeft++;
    } else unknownLeft++;
    relink(top.entry);
    phase = required[i] ? 0 : 1;
    entry = next[top.entry];
  }
  return { verdict: 'ok' };
}

function explain(ops: HistoryOp[], best: { depth: number; blocked: number; state: number }, show: (s: number) => string): string {
  const o = ops[best.blocked];
  if (o === undefined) return 'no linearization';
  const ret = o.ret === null ? 'no reply' : o.ret.toFixed(1);
  const what = o.op === 'atomic' ? `atomic checks ${JSON.stringify(o.checks)} ops ${JSON.stringify(o.ops)}` : `${o.op} '${o.key}'${o.value !== undefined ? ` '${o.value}'` : ''}${o.ifRevision !== undefined ? ` ifRevision ${o.ifRevision}` : ''}`;
  return [
    `keys ${show(-1)} are not linearizable (${ops.length} operations on them): after ${best.depth} linearized operations, in state ${show(best.state)},`,
    `could not place ${what} -> ${JSON.stringify(o.output)} at [${o.call.toFixed(1)}, ${ret}] by client ${o.client} (#${o.id})`,
  ].join('\n');
}

function showState(keys: string[], s: State | undefined): string {
  if (s === undefined) return keys.map((k) => `'${k}'`).join(', ');
  return keys.map((k, i) => `${k}=${s.values[i] === null ? 'null' : JSON.stringify(s.values[i])}@${s.revs[i] >= 0 ? s.revs[i] : `≥${-s.revs[i]}`}`).join(' ');
}
