/**
 * Frames for the fuzz test (issue #5): a seeded PRNG and generators of random and mutated
 * frames — bad JSON, wrong types, huge and odd numbers, deep nesting, long strings near and
 * over the limits, binary frames, truncated and doubled frames, valid-looking messages with
 * wrong fields. Pure and reproducible: the same seed gives the same frames.
 *
 * Namespaces. A well-formed `req` from a fuzz client is a legitimate write, so every key the
 * client-route generators produce is in FUZZ_PREFIX and never in REAL_PREFIX (`safeKeys`),
 * and fuzz client ids never collide with real ones. Peer-route frames may name real keys:
 * the fuzzer is never a replica's primary, so any of them being applied is a bug the test
 * must see.
 */

import { mulberry32 } from './random';

export const FUZZ_PREFIX = 'fuzz:';
export const REAL_PREFIX = 'real:';

/** The seeded PRNG of the test tooling (test/support/random.ts). */
export const prng: (seed: number) => () => number = mulberry32;

export type Frame = { text: string } | { binary: Buffer };

export class Fuzz {
  readonly random: () => number;
  constructor(readonly seed: number) {
    this.random = prng(seed);
  }

  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }

  chance(p: number): boolean {
    return this.random() < p;
  }

  /** Random characters: ASCII, control, multi-byte, astral, lone surrogates. */
  string(maxLen: number): string {
    const n = this.int(maxLen + 1);
    let s = '';
    for (let i = 0; i < n; i++) {
      const r = this.random();
      if (r < 0.6) s += String.fromCharCode(32 + this.int(95));
      else if (r < 0.7) s += String.fromCharCode(this.int(32));
      else if (r < 0.8) s += String.fromCharCode(0x80 + this.int(0x780));
      else if (r < 0.9) s += String.fromCodePoint(0x10000 + this.int(0x1000));
      else s += String.fromCharCode(0xd800 + this.int(0x800)); // lone surrogate
    }
    return s;
  }

  bytes(maxLen: number): Buffer {
    const n = this.int(maxLen + 1);
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /** Values that break naive validators. Raw-text-only ones (NaN, 1e999) are in `rawNumbers`. */
  nasty(): unknown {
    const v: unknown[] = [
      1e308, -1e308, -1, -0, 0.5, 2 ** 53, 2 ** 53 + 2, 2 ** 53 - 1, Number.MAX_VALUE, Number.MIN_VALUE, 2 ** 31, -(2 ** 31),
      'NaN', 'Infinity', '-Infinity', '1e308', '0', '-1', '', ' ', '\u0000', '\ud800', '🙂'.repeat(300),
      'x'.repeat(1024), 'x'.repeat(1025), 'é'.repeat(513), '__proto__', 'constructor', 'toString',
      null, true, false, [], {}, [[[[]]]], { a: { b: { c: {} } } },
      [1, 'two', null], { viewnum: 1 }, { type: 'req' },
    ];
    const x = this.pick(v);
    return typeof x === 'string' ? safeKeys(x) : x;
  }

  /** A nested array or object `depth` deep, as text (JSON.stringify would recurse). */
  deep(depth: number): string {
    return this.chance(0.5) ? '['.repeat(depth) + ']'.repeat(depth) : '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  }

  /** Mutate one message: a field set to a nasty value, removed, renamed, or an extra field. */
  mutate(msg: Record<string, unknown>): Record<string, unknown> {
    const m: Record<string, unknown> = { ...msg };
    const keys = Object.keys(m);
    const k = this.pick(keys);
    switch (this.int(6)) {
      case 0: case 1: m[k] = this.nasty(); break;
      case 2: delete m[k]; break;
      case 3: m[this.pick(['extra', '__proto__', 'constructor', 'token', 'seq', 'view', 'holders'])] = this.nasty(); break;
      case 4: m.type = this.pick(['ping', 'subscribe', 'req', 'res', 'hello', 'peer', 'fwd', 'xfer-begin', 'xfer-data', 'xfer-end', 'fwdack', 'xferack', 'reject', 'view', 'error', 'watch', 'unwatch', 'event', 'synced', 'PING', '', 'nope']); break;
      default: for (const kk of keys) if (kk !== 'type' && this.chance(0.5)) m[kk] = this.nasty();
    }
    return m;
  }

  /** Turn a message into text in one of many broken or odd ways. */
  render(msg: unknown): Frame {
    const text = JSON.stringify(msg);
    switch (this.int(12)) {
      case 0: return { text: text.slice(0, this.int(text.length)) }; // truncated
      case 1: return { text: text + text }; // two messages in one frame
      case 2: return { text: rawNumbers(text, this) }; // NaN, 1e999, 0x10, 01
      case 3: return { binary: Buffer.from(text) }; // the right bytes in a binary frame
      case 4: { // a random byte flipped
        const i = this.int(Math.max(1, text.length));
        return { text: text.slice(0, i) + String.fromCharCode(this.int(128)) + text.slice(i + 1) };
      }
      case 5: return { text: `[${text}]` };
      case 6: return { text: text.replace('{', '{"__proto__":{"type":"ping","viewnum":1,"polluted":true},') }; // own __proto__ key
      default: return { text };
    }
  }
}

/** Never a real-namespace key: the fuzzer must not be able to write what the test checks. */
export function safeKeys(text: string): string {
  return text.split(REAL_PREFIX).join(FUZZ_PREFIX);
}

function rawNumbers(text: string, f: Fuzz): string {
  const bad = f.pick(['NaN', 'Infinity', '-Infinity', '1e999', '-1e999', '0x10', '01', '1.', '.5', '+1', '9'.repeat(400)]);
  const replaced = text.replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/, bad);
  return replaced === text ? text.replace('}', `,"n":${bad}}`) : replaced;
}

/**
 * SPEC §11: a hostile version of a valid JWT — a flipped character in any part, the header
 * swapped for alg "none" or HS512/RS256, the signature dropped or borrowed, segments
 * swapped, junk, huge, empty — none of which may verify.
 */
export function hostileToken(f: Fuzz, valid: string): string {
  const [h, p, s] = valid.split('.');
  const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
  const claims = (): Record<string, unknown> => ({ sub: f.pick(['bob', '*', 'bob:x', '{sub}', f.string(8)]), exp: f.pick([2e9, -1, 'never', 1e308]) });
  const flip = (x: string): string => {
    const i = f.int(Math.max(1, x.length));
    return x.slice(0, i) + f.pick(['A', 'b', '-', '_', '=', '.']) + x.slice(i + 1);
  };
  switch (f.int(11)) {
    case 0: return `${flip(h)}.${p}.${s}`;
    case 1: return `${h}.${flip(p)}.${s}`;
    case 2: return `${h}.${p}.${flip(s)}`;
    case 3: return `${b64({ alg: 'none', typ: 'JWT' })}.${b64(claims())}.`;
    case 4: return `${b64({ alg: f.pick(['HS512', 'RS256', 'ES256', 'none', 'NONE', 'nOnE', '']) })}.${b64(claims())}.${s}`;
    case 5: return `${h}.${b64(claims())}.${s}`; // someone else's claims under a valid signature
    case 6: return `${p}.${h}.${s}`;
    case 7: return f.string(200);
    case 8: return `${h}.${p}.${s}`.repeat(1 + f.int(50));
    case 9: return '';
    default: return `${h}.${p}`;
  }
}
