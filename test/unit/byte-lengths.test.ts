/**
 * The byte counters the limits and frame sizes rely on, against Node's own encoder, on
 * ASCII (their fast path), escapes, multi-byte characters and lone surrogates.
 */
import { expect } from 'chai';
import { utf8Length } from '../../common/limits';
import { jsonStringBytes } from '../../server/replica/kv-state';
import { mulberry32 } from '../support/random';

const ALPHABET = ['a', 'Z', '0', ' ', '~', '"', '\\', '\n', '\t', '\x01', '\x7f', 'é', 'ß', '€', '日', '😀', '\ud800', '\udc00'];

function randomString(r: () => number, n: number, asciiOnly: boolean): string {
  let s = '';
  const pool = asciiOnly ? ALPHABET.slice(0, 5) : ALPHABET;
  for (let i = 0; i < n; i++) s += pool[Math.floor(r() * pool.length)];
  return s;
}

describe('byte lengths', () => {
  it('utf8Length equals Buffer.byteLength for ASCII, multi-byte and surrogate strings', () => {
    const r = mulberry32(7);
    for (let i = 0; i < 2000; i++) {
      const s = randomString(r, Math.floor(r() * 40), i % 2 === 0);
      expect(utf8Length(s), JSON.stringify(s)).to.equal(Buffer.byteLength(s, 'utf8'));
    }
    expect(utf8Length('x'.repeat(10240))).to.equal(10240);
  });

  it('jsonStringBytes equals the UTF-8 length of JSON.stringify without its quotes', () => {
    const r = mulberry32(8);
    for (let i = 0; i < 2000; i++) {
      const s = randomString(r, Math.floor(r() * 40), i % 2 === 0);
      expect(jsonStringBytes(s), JSON.stringify(s)).to.equal(Buffer.byteLength(JSON.stringify(s), 'utf8') - 2);
    }
    expect(jsonStringBytes('y'.repeat(10240))).to.equal(10240);
  });
});
