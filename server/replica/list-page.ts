/**
 * One page of `list` (SPEC §10): the keys with a prefix, after a key, in key order (UTF-16
 * code unit order, as Array.prototype.sort), at most `limit`. DETERMINISTIC and pure.
 *
 * The keys come from the store's sorted key index (key-index.ts): O(log n + limit) a page,
 * whatever the number of keys. Measured in test/unit/app-ops-list.test.ts and
 * test/e2e/list-scale.test.ts.
 */
import type { ReqMsg, StoredResult, ListEntryWire } from '../../common/messages';
import { jsonStringBytes } from './snapshot';
import type { KeyIndex } from './key-index';

/** What KvState.apply returns for a list it was told not to answer (a backup's: nobody reads it). */
export const NOT_ANSWERED: StoredResult = Object.freeze({ ok: true, value: null }) as StoredResult;

/**
 * One page of `list` for the store (KvState.apply): the keys starting with `req.key` after
 * `req.after`, in key order, at most `req.limit`, and fewer when the reply would pass the
 * message limit (`more` says whether keys follow). A read: `rev` is the store's revision at it.
 */
export function listPage(
  req: ReqMsg, index: KeyIndex, valueOf: (key: string) => string, revs: Map<string, number>, maxMessageBytes: number, revision: number,
): StoredResult {
  const page = index.page(req.key, req.after, req.limit ?? 1000);
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
