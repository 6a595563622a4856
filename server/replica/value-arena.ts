/**
 * Off-heap storage for the replica's values (memory goal: ≤ 2.5× the raw bytes of the data).
 * A `Map<string, string>` of 1M keys with 100-byte values costs ~180 MB of V8 heap for
 * ~110 MB of data: every value is a heap string with a header, and the GC has to trace and
 * move all of them. Here the values live in 1 MiB `Buffer` slabs outside the V8 heap, and
 * the store's Map holds small integer handles instead (Smis: no heap object per value).
 *
 * DETERMINISTIC and pure: no clock, no randomness, no I/O; the same puts and frees in the
 * same order return the same handles. It uses Node's global `Buffer` (no import).
 *
 *   put(value) → handle     tryPut(value) → handle or -1 when !fits(value)
 *   read(handle) → value    bytes(handle) → UTF-8 byte length, O(1)
 *   free(handle)            clear()
 *
 * Layout. A record is an 8-byte-aligned run inside one slab: a header word, then the value.
 * A handle is `slab << 17 | offset >> 3`, so it is below 2^30 (a Smi even with pointer
 * compression) and addresses 8192 slabs (8 GiB). Records come in size classes: every
 * multiple of 8 up to 1 KiB (a 100-byte ASCII value takes 104 bytes), then 8 steps per
 * doubling (≤ 12.5% waste). Each class has its own free list, threaded through the freed
 * records themselves (no heap array per class); a put takes the last freed record of its
 * class, else carves a new one at the end of the newest slab.
 *
 * Encodings, chosen per value so that every JS string round-trips exactly:
 *   ASCII   every code unit < 0x80: one byte per unit (latin1Write/latin1Slice: fastest);
 *   UTF-8   well-formed and smaller than UTF-16;
 *   UTF-16  otherwise: text that is mostly outside ASCII (CJK, emoji: as small as or smaller
 *           than UTF-8, and 5–10× faster to decode: Node 20 decodes such UTF-8 at ~7–10 ns a
 *           byte), and strings with lone surrogates, which UTF-8 cannot hold (it would turn
 *           them into U+FFFD). So every string fits, up to the size threshold.
 *
 * Memory is never returned to the system before clear(): freed records are reused by later
 * puts of the same class, and free lists do not coalesce, so reservedBytes is bounded by the
 * peak live bytes of each class (plus slab tails), not by the current live bytes. A workload
 * whose value sizes drift keeps the slabs of its old sizes until the next clear().
 *
 * Handles are raw addresses: reading or freeing a handle after its free() is a bug in the
 * caller. It is caught (RangeError) while the record stays free; once a later put reuses the
 * record, the stale handle reads the new value.
 */

/** Values above this many UTF-8 bytes are not stored here: the store keeps them as strings. */
export const ARENA_MAX_VALUE_BYTES = 64 * 1024;

/** Size of one slab. Records never straddle slabs. */
export const ARENA_SLAB_BYTES = 1 << 20;

/** Bits of a handle that address the 8-byte slot inside a slab. */
const SLOT_BITS = 17; // ARENA_SLAB_BYTES / 8 = 2^17
const SLOT_MASK = (1 << SLOT_BITS) - 1;
/** Slabs addressable with handles below 2^30. */
const MAX_SLABS = 1 << (30 - SLOT_BITS);

// Header word of a live record: the stored byte length, plus the encoding in bits 24–25.
// A free record's header is negative: −(class + 1); its second word is the next free handle.
const LEN_MASK = 0xffffff;
const ENC_SHIFT = 24;
const ENC_ASCII = 0;
const ENC_UTF8 = 1;
const ENC_UTF16 = 2; // header, then the UTF-8 byte length (for bytes()), then the code units

/** Largest record: a UTF-16 value of ARENA_MAX_VALUE_BYTES code units (lone surrogates + ASCII). */
const MAX_RECORD_BYTES = 8 + 2 * ARENA_MAX_VALUE_BYTES;

const roundUp8 = (n: number): number => (n + 7) & ~7;

/** The size classes, ascending: 8, 16, … 1024, then 1152, 1280, … 2048, 2304, … */
export const ARENA_SIZE_CLASSES: readonly number[] = Object.freeze(((): number[] => {
  const sizes: number[] = [];
  for (let s = 8; s <= 1024; s += 8) sizes.push(s);
  for (let base = 1024; sizes[sizes.length - 1] < MAX_RECORD_BYTES; base *= 2) {
    for (let k = 1; k <= 8 && sizes[sizes.length - 1] < MAX_RECORD_BYTES; k++) {
      sizes.push(Math.min(base + (k * base) / 8, roundUp8(MAX_RECORD_BYTES)));
    }
  }
  return sizes;
})());

const CLASS_COUNT = ARENA_SIZE_CLASSES.length;
const CLASS_SIZE = Int32Array.from(ARENA_SIZE_CLASSES);

/** CLASS_OF[k]: the smallest class that holds 8k bytes (one table lookup per put). */
const CLASS_OF = ((): Uint8Array => {
  const t = new Uint8Array((roundUp8(MAX_RECORD_BYTES) >> 3) + 1);
  let c = 0;
  for (let k = 0; k < t.length; k++) {
    while (CLASS_SIZE[c] < k * 8) c++;
    t[k] = c;
  }
  return t;
})();

/**
 * Buffer's per-encoding methods, which buf.write() and buf.toString() call after checking
 * their arguments. Undocumented but present since Node 0.x; calling them directly saves
 * ~40% of a 100-byte write and ~30% of a read. Offsets and lengths here are always in range.
 */
interface RawBuffer extends Buffer {
  latin1Write(s: string, offset: number, length: number): number;
  utf8Write(s: string, offset: number, length: number): number;
  ucs2Write(s: string, offset: number, length: number): number;
  latin1Slice(start: number, end: number): string;
  utf8Slice(start: number, end: number): string;
  ucs2Slice(start: number, end: number): string;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** No lone surrogates. String.prototype.isWellFormed (V8 11.1+) is up to 10× faster than the regex. */
const isWellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === 'function'
    ? (s) => (s as string & { isWellFormed(): boolean }).isWellFormed()
    : (s) => !LONE_SURROGATE.test(s);

export class ValueArena {
  private slabs: RawBuffer[] = [];
  /** Int32 views of the slabs, for the header words. */
  private words: Int32Array[] = [];
  /** Head of each class's free list (a handle), −1 when empty. */
  private readonly heads = new Int32Array(CLASS_COUNT).fill(-1);
  /** Where the next carved record starts in the newest slab (ARENA_SLAB_BYTES: no room / no slab). */
  private bump = ARENA_SLAB_BYTES;
  private used = 0;
  private live = 0;

  /**
   * Whether `value` can be stored here: at most ARENA_MAX_VALUE_BYTES UTF-8 bytes (a lone
   * surrogate counts 3, as in utf8Length). Every string of that size fits, lone surrogates
   * included (they are stored as UTF-16).
   */
  static fits(value: string): boolean {
    return value.length <= ARENA_MAX_VALUE_BYTES && Buffer.byteLength(value, 'utf8') <= ARENA_MAX_VALUE_BYTES;
  }

  /** UTF-8 bytes of the live values (what the store accounts as the values' size). */
  get usedBytes(): number { return this.used; }
  /** Bytes of slabs held (off the V8 heap). */
  get reservedBytes(): number { return this.slabs.length * ARENA_SLAB_BYTES; }
  /** Live values. */
  get count(): number { return this.live; }

  /** Store `value`; returns its handle. Throws a RangeError when !ValueArena.fits(value). */
  put(value: string): number {
    const h = this.tryPut(value);
    if (h < 0) throw new RangeError(`ValueArena: a value of ${value.length} code units is over ${ARENA_MAX_VALUE_BYTES} UTF-8 bytes`);
    return h;
  }

  /** Store `value` and return its handle, or −1 when !ValueArena.fits(value) (one scan for both). */
  tryPut(value: string): number {
    const n = value.length;
    if (n > ARENA_MAX_VALUE_BYTES) return -1;
    const bytes = Buffer.byteLength(value, 'utf8'); // native; = n iff every unit is ASCII
    if (bytes > ARENA_MAX_VALUE_BYTES) return -1;
    let h: number;
    if (bytes === n) {
      h = this.alloc(4 + n);
      const off = (h & SLOT_MASK) << 3;
      this.slabs[h >>> SLOT_BITS].latin1Write(value, off + 4, n);
      this.words[h >>> SLOT_BITS][off >> 2] = n;
    } else if (bytes < 2 * n && isWellFormed(value)) {
      h = this.alloc(4 + bytes);
      const off = (h & SLOT_MASK) << 3;
      this.slabs[h >>> SLOT_BITS].utf8Write(value, off + 4, bytes);
      this.words[h >>> SLOT_BITS][off >> 2] = bytes | (ENC_UTF8 << ENC_SHIFT);
    } else {
      h = this.alloc(8 + 2 * n);
      const off = (h & SLOT_MASK) << 3;
      this.slabs[h >>> SLOT_BITS].ucs2Write(value, off + 8, 2 * n);
      const w = this.words[h >>> SLOT_BITS];
      w[off >> 2] = (2 * n) | (ENC_UTF16 << ENC_SHIFT);
      w[(off >> 2) + 1] = bytes;
    }
    this.used += bytes;
    this.live++;
    return h;
  }

  /** The value stored under a live handle (a new string on every call). */
  read(handle: number): string {
    const hdr = this.header(handle);
    const start = ((handle & SLOT_MASK) << 3) + 4;
    const slab = this.slabs[handle >>> SLOT_BITS];
    const len = hdr & LEN_MASK;
    switch (hdr >>> ENC_SHIFT) {
      case ENC_ASCII: return slab.latin1Slice(start, start + len);
      case ENC_UTF8: return slab.utf8Slice(start, start + len);
      default: return slab.ucs2Slice(start + 4, start + 4 + len);
    }
  }

  /** UTF-8 byte length of the value under a live handle. */
  bytes(handle: number): number {
    const hdr = this.header(handle);
    if (hdr >>> ENC_SHIFT !== ENC_UTF16) return hdr & LEN_MASK;
    return this.words[handle >>> SLOT_BITS][((handle & SLOT_MASK) << 1) + 1];
  }

  /** Release a live handle: its record goes to the free list of its class. */
  free(handle: number): void {
    const hdr = this.header(handle);
    const enc = hdr >>> ENC_SHIFT;
    const len = hdr & LEN_MASK;
    const w = this.words[handle >>> SLOT_BITS];
    const i = (handle & SLOT_MASK) << 1;
    const cls = CLASS_OF[(len + (enc === ENC_UTF16 ? 8 : 4) + 7) >> 3];
    this.used -= enc === ENC_UTF16 ? w[i + 1] : len;
    this.live--;
    w[i] = -(cls + 1);
    w[i + 1] = this.heads[cls];
    this.heads[cls] = handle;
  }

  /** Forget every value and drop the slabs (the GC returns their memory). Old handles are invalid. */
  clear(): void {
    this.slabs = [];
    this.words = [];
    this.heads.fill(-1);
    this.bump = ARENA_SLAB_BYTES;
    this.used = 0;
    this.live = 0;
  }

  /** The header word of a live record; a RangeError for anything else it can tell. */
  private header(handle: number): number {
    const s = handle >>> SLOT_BITS;
    if (handle !== (handle | 0) || handle < 0 || s >= this.slabs.length
      || (s === this.slabs.length - 1 && (handle & SLOT_MASK) << 3 >= this.bump)) {
      throw new RangeError(`ValueArena: ${handle} is not a handle`);
    }
    const hdr = this.words[s][(handle & SLOT_MASK) << 1];
    if (hdr < 0) throw new RangeError(`ValueArena: handle ${handle} was freed`);
    return hdr;
  }

  /** A record of at least `size` bytes: the last freed one of its class, else a new one. */
  private alloc(size: number): number {
    const cls = CLASS_OF[(size + 7) >> 3];
    const h = this.heads[cls];
    if (h >= 0) {
      this.heads[cls] = this.words[h >>> SLOT_BITS][((h & SLOT_MASK) << 1) + 1];
      return h;
    }
    const bytes = CLASS_SIZE[cls];
    if (this.bump + bytes > ARENA_SLAB_BYTES) this.addSlab();
    const handle = ((this.slabs.length - 1) << SLOT_BITS) | (this.bump >> 3);
    this.bump += bytes;
    return handle;
  }

  /** Start a new slab; the tail of the current one becomes free records of the largest classes that fit. */
  private addSlab(): void {
    const last = this.slabs.length - 1;
    while (last >= 0 && ARENA_SLAB_BYTES - this.bump >= CLASS_SIZE[0]) {
      const rest = ARENA_SLAB_BYTES - this.bump;
      let cls = CLASS_OF[rest >> 3];
      if (CLASS_SIZE[cls] > rest) cls--;
      const i = this.bump >> 2;
      this.words[last][i] = -(cls + 1);
      this.words[last][i + 1] = this.heads[cls];
      this.heads[cls] = (last << SLOT_BITS) | (this.bump >> 3);
      this.bump += CLASS_SIZE[cls];
    }
    if (this.slabs.length >= MAX_SLABS) throw new RangeError(`ValueArena: full (${MAX_SLABS} slabs of ${ARENA_SLAB_BYTES} bytes)`);
    // allocUnsafeSlow: its own ArrayBuffer, outside the V8 heap and the Buffer pool, not
    // zero-filled (every byte read is written first).
    const slab = Buffer.allocUnsafeSlow(ARENA_SLAB_BYTES) as RawBuffer;
    this.slabs.push(slab);
    this.words.push(new Int32Array(slab.buffer, slab.byteOffset, ARENA_SLAB_BYTES >> 2));
    this.bump = 0;
  }
}
