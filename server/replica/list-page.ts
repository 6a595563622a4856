/**
 * One page of `list` (SPEC §10): the keys with a prefix, after a key, in key order (UTF-16
 * code unit order, as Array.prototype.sort), at most `limit`. DETERMINISTIC and pure.
 *
 * The store keeps no sorted index (it would cost every write a tree insert), so a page scans
 * the keys once and keeps the `limit + 1` smallest in a bounded max-heap: O(n log limit) time
 * and O(limit) memory per page, never a sort of the whole key set. Measured in
 * test/unit/app-ops-list.test.ts (100k keys: a few ms a page).
 */
import type { ReqMsg, StoredResult, ListEntryWire } from '../../common/messages';
import { jsonStringBytes } from './snapshot';

/**
 * One page of `list` for the store (KvState.apply): the keys starting with `req.key` after
 * `req.after`, in key order, at most `req.limit`, and fewer when the reply would pass the
 * message limit (`more` says whether keys follow). A read: `rev` is the store's revision at it.
 */
export function listPage(
  req: ReqMsg, keys: Iterable<string>, valueOf: (key: string) => string, revs: Map<string, number>, maxMessageBytes: number, revision: number,
): StoredResult {
  const page = pageKeys(keys, req.key, req.after, req.limit ?? 1000);
  const entries: ListEntryWire[] = [];
  let bytes = 256;
  for (const k of page.keys) {
    const value = req.keysOnly === true ? undefined : valueOf(k);
    bytes += jsonStringBytes(k) + 24 + (value === undefined ? 0 : jsonStringBytes(value));
    if (bytes > maxMessageBytes && entries.length > 0) return { ok: true, value: null, rev: revision, entries, more: true };
    entries.push(value === undefined ? [k, revs.get(k) ?? 0] : [k, revs.get(k) ?? 0, value]);
  }
  return { ok: true, value: null, rev: revision, entries, more: page.more };
}

/** The keys of one page, sorted, and whether more follow. */
export function pageKeys(keys: Iterable<string>, prefix: string, after: string | undefined, limit: number): { keys: string[]; more: boolean } {
  const heap: string[] = []; // max-heap of the limit + 1 smallest keys seen
  const cap = limit + 1;
  for (const k of keys) {
    if ((after !== undefined && k <= after) || !k.startsWith(prefix)) continue;
    if (heap.length < cap) push(heap, k);
    else if (k < heap[0]) replaceTop(heap, k);
  }
  heap.sort();
  const more = heap.length > limit;
  if (more) heap.length = limit;
  return { keys: heap, more };
}

function push(h: string[], k: string): void {
  let i = h.length;
  h.push(k);
  while (i > 0) {
    const p = (i - 1) >> 1;
    if (h[p] >= k) break;
    h[i] = h[p];
    i = p;
  }
  h[i] = k;
}

function replaceTop(h: string[], k: string): void {
  const n = h.length;
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= n) break;
    const c = l + 1 < n && h[l + 1] > h[l] ? l + 1 : l;
    if (h[c] <= k) break;
    h[i] = h[c];
    i = c;
  }
  h[i] = k;
}
