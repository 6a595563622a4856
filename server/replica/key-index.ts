/**
 * The store's keys in sorted order (UTF-16 code unit order, as Array.prototype.sort), so a
 * `list` page (SPEC §10) costs O(log n + page) instead of a scan of every key.
 * DETERMINISTIC and pure (a core: no I/O).
 *
 * A sorted array cut into chunks of at most CHUNK keys (a one-level B-tree): a lookup is a
 * binary search over the chunks' first keys, then one inside a chunk; an insert or delete
 * moves at most CHUNK pointers (a chunk splits when full, goes when empty). Only a key's
 * creation and deletion touch it; an overwrite of an existing key costs nothing. Measured
 * with `node -r ts-node/register bench/key-index.ts` (figures in README).
 */

/** Keys per chunk at most: small enough that a splice is a short memmove, large enough that the chunk list stays short (1M keys: ~8-16k chunks). */
const CHUNK = 128;

export class KeyIndex {
  /** Sorted chunks, each sorted and non-empty; every key of chunk i is below every key of chunk i + 1. */
  private chunks: string[][] = [];
  /** The first key of each chunk (the search runs over these). */
  private firsts: string[] = [];
  private _size = 0;

  get size(): number { return this._size; }

  /** Add `key` (the caller knows it is new: the store adds a key when it creates it). */
  add(key: string): void {
    if (this.chunks.length === 0) {
      this.chunks.push([key]);
      this.firsts.push(key);
      this._size = 1;
      return;
    }
    const c = Math.max(0, this.chunkOf(key));
    const chunk = this.chunks[c];
    const at = lowerBound(chunk, key);
    if (chunk[at] === key) return;
    chunk.push(key); // then shift the tail right by one (faster than splice, which allocates its result)
    for (let j = chunk.length - 1; j > at; j--) chunk[j] = chunk[j - 1];
    chunk[at] = key;
    this._size++;
    if (at === 0) this.firsts[c] = key;
    if (chunk.length > CHUNK) {
      const tail = chunk.splice(CHUNK >> 1);
      this.chunks.splice(c + 1, 0, tail);
      this.firsts.splice(c + 1, 0, tail[0]);
    }
  }

  /** Remove `key` if present. */
  delete(key: string): void {
    const c = this.chunkOf(key);
    if (c < 0) return;
    const chunk = this.chunks[c];
    const at = lowerBound(chunk, key);
    if (chunk[at] !== key) return;
    for (let j = at + 1; j < chunk.length; j++) chunk[j - 1] = chunk[j];
    chunk.pop();
    this._size--;
    if (chunk.length === 0) {
      this.chunks.splice(c, 1);
      this.firsts.splice(c, 1);
    } else if (at === 0) this.firsts[c] = chunk[0];
  }

  /**
   * Up to `limit` keys starting with `prefix` and above `after` (if given), in order, and
   * whether more such keys follow: O(log n + limit).
   */
  page(prefix: string, after: string | undefined, limit: number): { keys: string[]; more: boolean } {
    const from = after !== undefined && after >= prefix ? after : prefix;
    let c = Math.max(0, this.chunkOf(from));
    let i = c < this.chunks.length ? lowerBound(this.chunks[c], from) : 0;
    const keys: string[] = [];
    for (; c < this.chunks.length; c++, i = 0) {
      const chunk = this.chunks[c];
      for (; i < chunk.length; i++) {
        const k = chunk[i];
        if (k === after) continue;
        if (!k.startsWith(prefix)) return { keys, more: false };
        if (keys.length === limit) return { keys, more: true };
        keys.push(k);
      }
    }
    return { keys, more: false };
  }

  /** Every key, in order (tests, the digest). */
  *[Symbol.iterator](): IterableIterator<string> {
    for (const chunk of this.chunks) yield* chunk;
  }

  /** The chunk whose range holds `key`: the last chunk whose first key is ≤ key (-1: before every chunk). */
  private chunkOf(key: string): number {
    let lo = 0;
    let hi = this.firsts.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.firsts[mid] <= key) lo = mid + 1;
      else hi = mid;
    }
    return lo - 1;
  }
}

/** The first position in sorted `a` whose key is ≥ key. */
function lowerBound(a: string[], key: string): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid] < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
