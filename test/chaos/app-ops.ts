/**
 * The chaos workload's part for SPEC §10 (issue #12): getEntry, conditional put and delete,
 * and atomic commits over two of three keys, recorded for the checker's multi-key model
 * (test/support/linearizability-rev.ts). Values are unique (`c<client>.<n>`), like the rest
 * of the workload. Each client remembers the last revision it saw per key and uses it as
 * its ifRevision / check, so both outcomes (ok and CONFLICT) happen under contention.
 */
import type { Store } from '../../client/store';
import type { HistoryRecorder, AtomicWrite, KvOutput } from '../support/history';

/** Keys of conditional writes (each its own group) and of atomic commits (one group of three). */
export const CAS_KEYS = ['r0', 'r1'];
export const ATOMIC_KEYS = ['a0', 'a1', 'a2'];

/** One §10 operation by client c (its n-th), recorded; true if it completed (ok or an answer). */
export async function appOp(s: Store, c: number, n: number, r: () => number, rec: HistoryRecorder, seen: Map<string, number>): Promise<boolean> {
  const x = r();
  const value = `c${c}.${n}`;
  if (x < 0.35) {
    const all = [...CAS_KEYS, ...ATOMIC_KEYS];
    const key = all[Math.floor(r() * all.length)];
    return record(rec, rec.invoke(c, 'getEntry', key), async () => {
      const e = await s.getEntry(key);
      seen.set(key, e.revision);
      return { value: e.value, revision: e.revision };
    }, key, seen);
  }
  if (x < 0.7) {
    const key = CAS_KEYS[Math.floor(r() * CAS_KEYS.length)];
    const ifRevision = seen.get(key) ?? 0;
    const del = x >= 0.6;
    const id = rec.invoke(c, del ? 'delete' : 'put', key, del ? undefined : value, { ifRevision });
    return record(rec, id, async () => (del ? s.delete(key, { ifRevision }) : s.put(key, value, { ifRevision }).then(() => null)), key, seen);
  }
  const i = Math.floor(r() * ATOMIC_KEYS.length);
  const [k1, k2] = [ATOMIC_KEYS[i], ATOMIC_KEYS[(i + 1 + Math.floor(r() * 2)) % ATOMIC_KEYS.length]];
  const checks: [string, number][] = [[k1, seen.get(k1) ?? 0], [k2, seen.get(k2) ?? 0]];
  const ops: AtomicWrite[] = [['put', k1, value], r() < 0.2 ? ['delete', k2] : ['put', k2, value]];
  const id = rec.invoke(c, 'atomic', k1, undefined, { checks, ops });
  return record(rec, id, async () => {
    let t = s.atomic();
    for (const [k, rev] of checks) t = t.check(k, rev);
    for (const o of ops) t = o[0] === 'delete' ? t.delete(o[1]) : t.put(o[1], o[2]);
    const res = await t.commit();
    if (res.ok) for (const o of ops) seen.set(o[1], o[0] === 'delete' ? 0 : res.revision);
    else seen.set(res.key, res.revision);
    return res;
  }, k1, seen);
}

/** Run it: ok with its output; a CONFLICT is an answer (ok, {conflict}); BAD_REQUEST / TOO_LARGE wrote nothing; anything else unknown. */
async function record(rec: HistoryRecorder, id: number, run: () => Promise<KvOutput>, key: string, seen: Map<string, number>): Promise<boolean> {
  try {
    rec.ok(id, await run());
    return true;
  } catch (e) {
    const err = e as { code?: string; revision?: number };
    if (err.code === 'CONFLICT' && typeof err.revision === 'number') {
      seen.set(key, err.revision);
      rec.ok(id, { conflict: err.revision });
      return true;
    }
    if (err.code === 'BAD_REQUEST' || err.code === 'TOO_LARGE') rec.fail(id);
    else rec.unknown(id);
    return false;
  }
}
