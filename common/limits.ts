/** Default size limits (SPEC §8), in UTF-8 bytes. */
export interface Limits {
  /** @default 1024 */
  readonly maxKeyBytes: number;
  /** @default 1048576 */
  readonly maxValueBytes: number;
  /** @default 2097152 */
  readonly maxMessageBytes: number;
}

export const DEFAULT_LIMITS: Limits = Object.freeze({
  maxKeyBytes: 1024,
  maxValueBytes: 1024 * 1024,
  maxMessageBytes: 2 * 1024 * 1024,
});

/** Any code unit outside ASCII. */
const NON_ASCII = /[^\x00-\x7f]/;

/** UTF-8 length of a JS string, without Buffer or TextEncoder (isomorphic, no allocation). */
export function utf8Length(s: string): number {
  // Fast path: a string with no code unit above 0x7f is one byte per unit. The regex scan is
  // native; the loop below cost a third of a replica's CPU at 10 KiB values (`npm run bench`).
  if (!NON_ASCII.test(s)) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) { n += 4; i++; } else n += 3;
    } else n += 3;
  }
  return n;
}

/** "1 MiB", "1 KiB" for exact multiples; otherwise the exact count, "1048577 bytes (1.0 MiB)". */
export function formatBytes(n: number): string {
  const MiB = 1024 * 1024;
  if (n >= MiB && n % MiB === 0) return `${n / MiB} MiB`;
  if (n >= 1024 && n % 1024 === 0) return `${n / 1024} KiB`;
  if (n >= MiB) return `${n} bytes (${(n / MiB).toFixed(1)} MiB)`;
  if (n >= 1024) return `${n} bytes (${(n / 1024).toFixed(1)} KiB)`;
  return `${n} bytes`;
}
