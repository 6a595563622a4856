/** server/replica/value-arena.ts: values in off-heap slabs, behind integer handles. */
import { expect } from 'chai';
import { ValueArena, ARENA_MAX_VALUE_BYTES, ARENA_SLAB_BYTES, ARENA_SIZE_CLASSES } from '../../server/replica/value-arena';
import { utf8Length } from '../../common/limits';
import { mulberry32 } from '../support/random';

const MAX = ARENA_MAX_VALUE_BYTES;

/** Put, then check the value reads back identically and its byte length is utf8Length's. */
function roundTrip(a: ValueArena, v: string): number {
  const h = a.put(v);
  expect(a.read(h) === v, `round trip of ${JSON.stringify(v.slice(0, 40))}… (${v.length} units)`).to.equal(true);
  expect(a.bytes(h)).to.equal(utf8Length(v));
  return h;
}

/** `n` code units cycling through `alphabet` (distinct neighbours make overlapping records visible). */
function text(alphabet: string, n: number, shift = 0): string {
  const k = shift % alphabet.length;
  const period = alphabet.slice(k) + alphabet.slice(0, k);
  return period.repeat(Math.ceil(n / period.length)).slice(0, n);
}

describe('server/replica/value-arena', () => {
  describe('round trips', () => {
    it('ASCII, multi-byte, emoji (surrogate pairs), the empty string, control characters', () => {
      const a = new ValueArena();
      const values = ['', 'a', 'hello, world', 'x'.repeat(100), '\0\x01\n"\\\x7f', 'café', 'é'.repeat(50),
        '漢字かな交じり文', '😀', '👩‍👩‍👧‍👦 family', '😀'.repeat(25), 'a€b𝄞c', '\u0080\u07ff\u0800\uffff', '\ud83d\ude00x'];
      const handles = values.map((v) => roundTrip(a, v));
      // All still intact once every record is written.
      handles.forEach((h, i) => expect(a.read(h)).to.equal(values[i]));
      expect(new Set(handles).size).to.equal(values.length);
      expect(a.count).to.equal(values.length);
      expect(a.usedBytes).to.equal(values.reduce((n, v) => n + utf8Length(v), 0));
    });

    it('lone surrogates round-trip exactly (stored as UTF-16), counted 3 bytes each like utf8Length', () => {
      const a = new ValueArena();
      for (const v of ['\ud800', '\udc00', 'a\ud800b', 'x\udfff', '\udc00\ud800', '\ud83d\ud83d', '😀\ud800😀', 'x'.repeat(200) + '\udbff']) {
        expect(ValueArena.fits(v)).to.equal(true);
        roundTrip(a, v);
      }
      expect(a.bytes(a.put('a\ud800b'))).to.equal(5);
    });

    it('values at every size-class boundary, in each encoding, without overlapping their neighbours', () => {
      const a = new ValueArena();
      const values: string[] = [];
      for (const size of ARENA_SIZE_CLASSES) {
        for (const d of [-1, 0, 1]) {
          // A record is a 4-byte header + ASCII or UTF-8 bytes, or an 8-byte header + UTF-16 units.
          const ascii = size - 4 + d;
          if (ascii >= 0 && ascii <= MAX) values.push(text('abcdefghij', ascii, size));
          const utf8 = size - 4 + d; // 'é' is 2 bytes, ASCII 1: mostly ASCII stays UTF-8
          if (utf8 >= 2 && utf8 <= MAX) values.push('é' + text('0123456789', utf8 - 2, size));
          const units = (size - 8) / 2 + d; // all CJK: UTF-16 is smaller than UTF-8
          if (units >= 0 && units * 3 <= MAX) values.push(text('漢字仮名', units, size));
        }
      }
      const handles = values.map((v) => roundTrip(a, v));
      handles.forEach((h, i) => expect(a.read(h) === values[i], `value ${i} (${values[i].length} units)`).to.equal(true));
    });
  });

  describe('the size threshold', () => {
    it('takes values of exactly ARENA_MAX_VALUE_BYTES UTF-8 bytes, in any encoding', () => {
      const a = new ValueArena();
      const atMax = [
        'x'.repeat(MAX),
        '€'.repeat(Math.floor(MAX / 3)) + 'x'.repeat(MAX % 3),
        '😀'.repeat(MAX / 4),
        '\ud800'.repeat(Math.floor(MAX / 3)) + 'x'.repeat(MAX % 3),
        'x'.repeat(MAX - 3) + '\udc00', // the largest record: MAX − 2 UTF-16 units
      ];
      for (const v of atMax) {
        expect(utf8Length(v)).to.equal(MAX);
        expect(ValueArena.fits(v)).to.equal(true);
        roundTrip(a, v);
      }
    });

    it('refuses values over it: fits() is false, tryPut() returns −1, put() throws, nothing changes', () => {
      const a = new ValueArena();
      a.put('kept');
      const before = { used: a.usedBytes, reserved: a.reservedBytes, count: a.count };
      for (const v of ['x'.repeat(MAX + 1), '€'.repeat(Math.floor(MAX / 3)) + 'xx', '😀'.repeat(MAX / 4) + 'x', 'é'.repeat(MAX), 'x'.repeat(10 * MAX)]) {
        expect(utf8Length(v)).to.be.above(MAX);
        expect(ValueArena.fits(v)).to.equal(false);
        expect(a.tryPut(v)).to.equal(-1);
        expect(() => a.put(v)).to.throw(RangeError);
      }
      expect({ used: a.usedBytes, reserved: a.reservedBytes, count: a.count }).to.deep.equal(before);
    });
  });

  describe('handles', () => {
    it('are non-negative integers below 2^30 (Smis), and the same operations give the same handles', () => {
      const run = (): number[] => {
        const a = new ValueArena();
        const rnd = mulberry32(7);
        const live: number[] = [];
        const out: number[] = [];
        for (let i = 0; i < 20_000; i++) {
          if (live.length > 0 && rnd() < 0.4) a.free(live.splice(Math.floor(rnd() * live.length), 1)[0]);
          else {
            const h = a.put('v'.repeat(Math.floor(rnd() * 3000)));
            expect(Number.isInteger(h) && h >= 0 && h < 2 ** 30).to.equal(true);
            live.push(h);
            out.push(h);
          }
        }
        return out;
      };
      expect(run()).to.deep.equal(run());
    });

    it('reading or freeing a freed handle, or something that is not a handle, throws a RangeError', () => {
      const a = new ValueArena();
      const h = a.put('one');
      const k = a.put('two');
      a.free(h);
      expect(() => a.read(h)).to.throw(RangeError, /freed/);
      expect(() => a.bytes(h)).to.throw(RangeError, /freed/);
      expect(() => a.free(h)).to.throw(RangeError, /freed/);
      for (const bad of [-1, 0.5, 2 ** 31, 2 ** 17, k + 1000, NaN]) expect(() => a.read(bad), String(bad)).to.throw(RangeError);
      expect(a.read(k)).to.equal('two');
      expect(a.count).to.equal(1);
      expect(a.usedBytes).to.equal(3);
    });
  });

  describe('against a Map model', () => {
    /** A value of a random kind and a skewed random length (mostly short, sometimes large). */
    function randomValue(rnd: () => number): string {
      const r = rnd();
      const len = r < 0.6 ? Math.floor(rnd() * 130) : r < 0.95 ? Math.floor(rnd() * 3000) : Math.floor(rnd() * 20_000);
      const kind = rnd();
      if (kind < 0.6) return text('abcdefghijklmnopqrstuvwxyz0123456789', len, Math.floor(rnd() * 36));
      const alphabet = kind < 0.75 ? 'aébç€' : kind < 0.85 ? '漢字😀x' : kind < 0.95 ? 'ab\ud800' : '😀';
      let chunk = ''; // random units, repeated: may split a pair (lone surrogates)
      for (let i = 0; i < 64; i++) chunk += alphabet[Math.floor(rnd() * alphabet.length)];
      return chunk.repeat(Math.ceil(len / 64)).slice(0, len);
    }

    it('100k random put / free / read operations: every read, bytes(), usedBytes and count agree', () => {
      const rnd = mulberry32(20251126);
      const a = new ValueArena();
      const model = new Map<number, string>();
      const live: number[] = [];
      let used = 0;
      for (let op = 0; op < 100_000; op++) {
        const r = rnd();
        if (r < 0.45 || live.length === 0) {
          const v = randomValue(rnd);
          const h = a.put(v);
          if (model.has(h)) expect.fail(`op ${op}: handle ${h} is live already`);
          model.set(h, v);
          live.push(h);
          used += utf8Length(v);
        } else if (r < 0.7) {
          const i = Math.floor(rnd() * live.length);
          const h = live[i];
          live[i] = live[live.length - 1];
          live.pop();
          used -= utf8Length(model.get(h) as string);
          model.delete(h);
          a.free(h);
        } else {
          const h = live[Math.floor(rnd() * live.length)];
          const want = model.get(h) as string;
          if (a.read(h) !== want) expect.fail(`op ${op}: read(${h}) is not what was put`);
          if (a.bytes(h) !== utf8Length(want)) expect(a.bytes(h), `op ${op}: bytes(${h})`).to.equal(utf8Length(want));
        }
        // Plain comparisons first: 100k chai assertions would dominate the test's time.
        if (a.usedBytes !== used) expect(a.usedBytes, `op ${op}: usedBytes`).to.equal(used);
        if (a.count !== model.size) expect(a.count, `op ${op}: count`).to.equal(model.size);
      }
      for (const [h, v] of model) expect(a.read(h) === v).to.equal(true);
      for (const h of live) a.free(h);
      expect(a.usedBytes).to.equal(0);
      expect(a.count).to.equal(0);
    });
  });

  describe('reuse of freed space', () => {
    it('freeing everything and putting the same values again reuses every record: no new slab', () => {
      const a = new ValueArena();
      const rnd = mulberry32(3);
      const values = Array.from({ length: 5000 }, () => 'z'.repeat(Math.floor(rnd() * 1500)));
      const first = values.map((v) => a.put(v));
      const reserved = a.reservedBytes;
      expect(reserved).to.be.above(ARENA_SLAB_BYTES);
      for (const h of first) a.free(h);
      const second = values.map((v) => a.put(v));
      expect(a.reservedBytes).to.equal(reserved);
      expect([...second].sort((x, y) => x - y)).to.deep.equal([...first].sort((x, y) => x - y));
    });

    it('reservedBytes stays bounded under churn of a steady size mix (replace 200k values among 20k live)', () => {
      const a = new ValueArena();
      const rnd = mulberry32(11);
      const size = (): number => (rnd() < 0.9 ? 80 + Math.floor(rnd() * 60) : Math.floor(rnd() * 4000));
      const live = Array.from({ length: 20_000 }, () => a.put('q'.repeat(size())));
      let peakLive = 0;
      const churn = (n: number): void => {
        for (let i = 0; i < n; i++) {
          const j = Math.floor(rnd() * live.length);
          a.free(live[j]);
          live[j] = a.put('q'.repeat(size()));
          peakLive = Math.max(peakLive, a.usedBytes);
        }
      };
      churn(20_000);
      const warm = a.reservedBytes;
      churn(200_000);
      expect(a.reservedBytes).to.be.at.most(warm + 2 * ARENA_SLAB_BYTES); // 7 MiB → 8 MiB here
      // Size classes waste ≤ 12.5% (plus headers); per-class free lists cost a little more.
      expect(a.reservedBytes).to.be.below(1.5 * peakLive + 2 * ARENA_SLAB_BYTES);
    });

    it("a slab's tail, too small for the next record, serves smaller records later", () => {
      const a = new ValueArena();
      const big = 57_344 - 4; // 18 records of 57344 bytes leave 16384 bytes of the first slab
      for (let i = 0; i < 18; i++) a.put('b'.repeat(big));
      expect(a.reservedBytes).to.equal(ARENA_SLAB_BYTES);
      a.put('b'.repeat(big));
      expect(a.reservedBytes).to.equal(2 * ARENA_SLAB_BYTES);
      const h = a.put('s'.repeat(16_384 - 4));
      expect(h >>> 17, 'in the first slab (a handle is slab << 17 | offset >> 3)').to.equal(0);
      expect(a.read(h)).to.equal('s'.repeat(16_380));
    });
  });

  describe('#clear', () => {
    it('forgets every value and slab; old handles are invalid; the arena is usable again', () => {
      const a = new ValueArena();
      const hs = Array.from({ length: 100 }, (_, i) => a.put(`v${i}`.repeat(100)));
      a.clear();
      expect({ used: a.usedBytes, reserved: a.reservedBytes, count: a.count }).to.deep.equal({ used: 0, reserved: 0, count: 0 });
      expect(() => a.read(hs[50])).to.throw(RangeError);
      const h = roundTrip(a, 'again');
      expect(h).to.equal(hs[0]); // deterministic: a cleared arena is a new arena
    });
  });
});
