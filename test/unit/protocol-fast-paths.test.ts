/**
 * The fast paths of common/protocol/ (fast.ts).
 *
 * #decode reads the string-free per-operation messages (a successful reply to a put, append
 * or delete; fwdack) without JSON.parse: for every text it must answer exactly what the full
 * decode answers, which is what it answers for the same JSON with a leading space (valid JSON
 * that the fast path never takes).
 *
 * #encode: its hand-written paths (`res`, `fwdack`) must give exactly the
 * string JSON.stringify gives, for every string (quotes, backslashes, control characters,
 * non-ASCII, astral characters, lone surrogates), and must step aside (JSON.stringify) for any
 * object that is not exactly a protocol message: other key order, extra fields, undefined,
 * non-finite numbers, toJSON. `req` and `fwd` are checked too: any future fast path for them
 * must pass the same table.
 */
import { expect } from 'chai';
import { decode, encode } from '../../common/protocol';
import type { Message, ReqMsg } from '../../common/messages';
import { mulberry32 } from '../support/random';

/** Strings JSON treats specially, one kind each. */
const TRICKY: string[] = [
  '',
  'plain ascii',
  'a "quoted" word',
  'back\\slash \\" \\\\ \\u0041',
  'line\nfeed, carriage\rreturn, tab\t, form\ffeed, back\bspace',
  Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)).join(''), // every control character
  '\u007f DEL and \u0080 and \u009f',
  'non-ASCII: ключ ✓ é ß 中文',
  'astral: 😀 𝄞 (surrogate pairs)',
  'lone high \ud800 surrogate',
  'lone low \udc00 surrogate',
  '\udbff\udbff two highs, then a low first \udfff\ud800',
  'ends with a high \ud83d',
  '\udc00 starts with a low',
  'U+2028 \u2028 and U+2029 \u2029 (JSON.stringify leaves them raw)',
  '</script><!-- html-ish -->',
  '{"type":"req"} looks like JSON [1,2,{"a":[]}]',
  'x'.repeat(10_000),
  '\u0000',
  '\\',
  '"',
];

function same(m: unknown): void {
  const want = JSON.stringify(m);
  expect(encode(m as Message)).to.equal(want);
}

function req(client: string, key: string, value?: string, seq = 17, ack = 15): ReqMsg {
  const r: ReqMsg = { type: 'req', client, seq, ack, op: value === undefined ? 'get' : 'put', key };
  if (value !== undefined) r.value = value;
  return r;
}

/** A random string from a pool that mixes every kind of code unit JSON cares about. */
function randomString(rnd: () => number): string {
  const len = Math.floor(rnd() * 24);
  let s = '';
  for (let i = 0; i < len; i++) {
    const r = rnd();
    if (r < 0.3) s += String.fromCharCode(0x20 + Math.floor(rnd() * 95)); // printable ASCII, quote and backslash included
    else if (r < 0.45) s += String.fromCharCode(Math.floor(rnd() * 0x20)); // control
    else if (r < 0.55) s += rnd() < 0.5 ? '"' : '\\';
    else if (r < 0.7) s += String.fromCharCode(0x80 + Math.floor(rnd() * 0x7f80)); // BMP (surrogates included)
    else if (r < 0.8) s += String.fromCharCode(0xd800 + Math.floor(rnd() * 0x800)); // a lone surrogate, high or low
    else if (r < 0.9) s += String.fromCodePoint(0x10000 + Math.floor(rnd() * 0xfffff)); // astral: a pair
    else s += String.fromCharCode(0x7f + Math.floor(rnd() * 0x30));
  }
  return s;
}

describe('common/protocol #encode', () => {
  describe('equals JSON.stringify on tricky strings', () => {
    for (const [i, s] of TRICKY.entries()) {
      it(`string #${i} ${JSON.stringify(s.slice(0, 30))}`, () => {
        same(req(s, 'k', 'v'));
        same(req('c', s, 'v'));
        same(req('c', 'k', s));
        same(req('c', s)); // a get: no value field
        same({ type: 'res', seq: 3, ok: true, value: s, rev: 9 });
        same({ type: 'res', seq: 3, ok: true, value: s });
        same({ type: 'res', seq: 3, ok: false, code: 'TOO_LARGE', message: s });
        same({ type: 'res', seq: 3, ok: false, code: s, message: 'm' });
        same({ type: 'fwd', viewnum: 2, index: 40, ops: [req(s, s, s), req('c', s), req('c', 'k', s)] });
        // And the text decodes back to the same strings.
        expect(decode(encode(req('c', s.length <= 1024 ? s : 'k', s)))).to.deep.equal(req('c', s.length <= 1024 ? s : 'k', s));
      });
    }
  });

  it('equals JSON.stringify on random strings (seeded)', () => {
    const rnd = mulberry32(6);
    for (let i = 0; i < 2000; i++) {
      const [a, b, c] = [randomString(rnd), randomString(rnd), randomString(rnd)];
      same(req(a, b, c, i, Math.floor(i / 2)));
      same(req(a, b, undefined, i, i));
      same({ type: 'res', seq: i, ok: true, value: c, rev: i * 3 });
      same({ type: 'res', seq: i, ok: false, code: a, message: b });
      same({ type: 'fwd', viewnum: 1, index: i, ops: [req(a, b, c), req(c, a)] });
    }
  });

  it('equals JSON.stringify for every kind of result and number', () => {
    for (const value of [null, true, false, 0, 1, 42, 1031, Number.MAX_SAFE_INTEGER, -0, 1e21, 0.5, '', 'x']) {
      same({ type: 'res', seq: 1, ok: true, value, rev: 2 });
      same({ type: 'res', seq: 1, ok: true, value });
    }
    for (const n of [0, 1, 7, 2 ** 31, 2 ** 32 + 1, Number.MAX_SAFE_INTEGER, -0, -1, 1.5, 1e21, 1e-7]) {
      same(req('c', 'k', 'v', n, n));
      same({ type: 'fwdack', viewnum: n, index: n });
      same({ type: 'fwd', viewnum: n, index: n, ops: [] });
      same({ type: 'res', seq: n, ok: true, value: n, rev: n });
    }
  });

  it('equals JSON.stringify for objects that are not exactly a protocol message (it falls back)', () => {
    class WithToJSON { type = 'req'; client = 'c'; seq = 1; ack = 1; op = 'put'; key = 'k'; value = 'v'; toJSON(): unknown { return { replaced: true }; } }
    const cases: unknown[] = [
      { type: 'req', seq: 1, client: 'c', ack: 1, op: 'put', key: 'k', value: 'v' }, // another key order
      { type: 'req', client: 'c', seq: 1, ack: 1, op: 'put', key: 'k', value: 'v', extra: [1, { a: 2 }] },
      { type: 'req', client: 'c', seq: 1, ack: 1, op: 'put', key: 'k', value: undefined },
      { type: 'req', client: 'c', seq: 1, ack: 1, op: 'put', key: 'k' , value: 5 },
      { type: 'req', client: 'c', seq: NaN, ack: Infinity, op: 'put', key: 'k', value: 'v' },
      { type: 'req', client: 'c', seq: '1', ack: 1, op: 'put', key: 'k', value: 'v' },
      { type: 'req', client: new String('c'), seq: 1, ack: 1, op: 'put', key: 'k', value: 'v' },
      { type: 'req', client: 'c', seq: 1, ack: 1, op: 'put', key: 'k', value: 'v', toJSON: () => 'own toJSON' },
      new WithToJSON(),
      { type: 'req', client: 'c', seq: 1, ack: 1 },
      { type: 'res', seq: 1, ok: true, value: { nested: 1 } },
      { type: 'res', seq: 1, ok: true, value: undefined, rev: 3 },
      { type: 'res', seq: 1, ok: true, value: 1, rev: undefined },
      { type: 'res', seq: 1, ok: true, rev: 3, value: 1 },
      { type: 'res', seq: 1, ok: true, value: NaN },
      { type: 'res', seq: 1, ok: 'yes', value: 1 },
      { type: 'res', seq: 1, ok: false, code: 'NOT_PRIMARY', message: 'm', view: { viewnum: 3, primary: 'ws://a', backup: null } },
      { type: 'res', seq: 1, ok: false, message: 'm', code: 'X' },
      { type: 'res', seq: 1, ok: false, code: 'X' },
      { type: 'res', seq: 1, ok: false, code: 'X', message: 'm', extra: 1 },
      { type: 'fwd', viewnum: 1, index: 2, ops: [req('c', 'k', 'v'), { type: 'req', seq: 1, client: 'c', ack: 1, op: 'get', key: 'k' }] },
      { type: 'fwd', viewnum: 1, index: 2, ops: [req('c', 'k', 'v'), { type: 'other', n: 1 }] },
      { type: 'fwd', viewnum: 1, index: 2, ops: [req('c', 'k', 'v'), null] },
      // eslint-disable-next-line no-sparse-arrays
      { type: 'fwd', viewnum: 1, index: 2, ops: [req('c', 'k', 'v'), , req('c', 'k')] },
      { type: 'fwd', viewnum: 1, index: 2, ops: 'not an array' },
      { type: 'fwd', viewnum: 1, index: 2, ops: Object.assign([req('c', 'k')], { toJSON: () => 'array toJSON' }) },
      { type: 'fwd', index: 2, viewnum: 1, ops: [] },
      { type: 'fwdack', viewnum: 1, index: 2, extra: 'x' },
      { type: 'fwdack', index: 2, viewnum: 1 },
      { type: 'fwdack', viewnum: 1, index: -Infinity },
      { type: 'ping', id: 'ws://a', incarnation: 'i', viewnum: 1 },
      Object.freeze({ type: 'req', client: '#watch', seq: 0, ack: 0, op: 'get', key: '' }),
    ];
    for (const m of cases) same(m);
  });

  it('keeps inherited enumerable fields out, as JSON.stringify does', () => {
    const proto = { value: 'inherited' };
    const m = Object.assign(Object.create(proto) as object, { type: 'req', client: 'c', seq: 1, ack: 1, op: 'put', key: 'k' });
    same(m);
  });
});

describe('common/protocol #decode fast path', () => {
  /** The full decode of the same JSON: a leading space is never taken by the fast path. */
  const full = (t: string): unknown => decode(' ' + t);
  const sameAsFull = (t: string): void => {
    expect(decode(t), t).to.deep.equal(full(t));
  };

  const GOOD = [
    '{"type":"res","seq":17,"ok":true,"value":null,"rev":1031}',
    '{"type":"res","seq":0,"ok":true,"value":null}',
    '{"type":"res","seq":1,"ok":true,"value":true,"rev":0}',
    '{"type":"res","seq":1,"ok":true,"value":false}',
    '{"type":"res","seq":123456789012345,"ok":true,"value":999999999999999,"rev":100000000000000}',
    '{"type":"res","seq":3,"ok":true,"value":0,"rev":4}',
    '{"type":"fwdack","viewnum":5,"index":11}',
    '{"type":"fwdack","viewnum":0,"index":0}',
  ];

  it('decodes the fixed shapes to what the full decode gives', () => {
    for (const t of GOOD) {
      const got = decode(t);
      expect(got, t).to.deep.equal(full(t));
      expect(got, t).to.deep.equal(JSON.parse(t));
    }
    expect(decode(encode({ type: 'res', seq: 9, ok: true, value: 12, rev: 40 }))).to.deep.equal({ type: 'res', seq: 9, ok: true, value: 12, rev: 40 });
    expect(decode(encode({ type: 'fwdack', viewnum: 2, index: 77 }))).to.deep.equal({ type: 'fwdack', viewnum: 2, index: 77 });
  });

  it('answers like the full decode for near misses (numbers, spacing, order, extra fields, strings)', () => {
    const near = [
      '{"type":"res","seq":01,"ok":true,"value":null}',
      '{"type":"res","seq":00,"ok":true,"value":null}',
      '{"type":"res","seq":-1,"ok":true,"value":null}',
      '{"type":"res","seq":1.5,"ok":true,"value":null}',
      '{"type":"res","seq":1e3,"ok":true,"value":null}',
      '{"type":"res","seq":1.0,"ok":true,"value":null}',
      '{"type":"res","seq":9007199254740991,"ok":true,"value":null}',
      '{"type":"res","seq":9007199254740992,"ok":true,"value":null}',
      '{"type":"res","seq":1234567890123456,"ok":true,"value":null}',
      '{"type":"res","seq":1,"ok":true,"value":nul}',
      '{"type":"res","seq":1,"ok":true,"value":nullx}',
      '{"type":"res","seq":1,"ok":true,"value":truefalse}',
      '{"type":"res","seq":1,"ok":true,"value":-5}',
      '{"type":"res","seq":1,"ok":true,"value":5.5,"rev":2}',
      '{"type":"res","seq":1,"ok":true,"value":"s","rev":2}',
      '{"type":"res","seq":1,"ok":true,"value":null,"rev":-2}',
      '{"type":"res","seq":1,"ok":true,"value":null,"rev":2.5}',
      '{"type":"res","seq":1,"ok":true,"value":null,"rev":}',
      '{"type":"res","seq":1,"ok":true,"value":null,"rev":2,"x":1}',
      '{"type":"res","seq":1,"ok":true,"value":null,"rev":2}}',
      '{"type":"res","seq":1,"ok":true,"value":null,"rev":2',
      '{"type":"res","seq":1,"ok":true,"value":null,}',
      '{"type":"res","seq":1,"ok":true,"value":null',
      '{"type":"res","seq":1,"ok":true,"value":null} ',
      '{"type":"res","seq":1,"ok":true,"value":null,"value":7}',
      '{"type":"res","seq":1,"ok":true,"value":null,"token":5}',
      '{"type":"res","seq":1,"ok":true,"value":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}',
      '{"type":"res","seq":1,"ok":false,"code":"X","message":"m"}',
      '{"type":"res","seq":1, "ok":true,"value":null}',
      '{"type":"res","ok":true,"seq":1,"value":null}',
      '{"type":"res","seq":,"ok":true,"value":null}',
      '{"type":"res","seq":1,"ok":true,"value":}',
      '{"type":"res","seq":1,"ok":true,"value":1',
      '{"type":"res","seq":1,"ok":true,"value":1}x',
      '{"type":"fwdack","viewnum":1,"index":2,"x":3}',
      '{"type":"fwdack","viewnum":1,"index":02}',
      '{"type":"fwdack","viewnum":1,"index":-2}',
      '{"type":"fwdack","viewnum":1,"index":2.0}',
      '{"type":"fwdack","viewnum":1,"index":2',
      '{"type":"fwdack","viewnum":1,"index":}',
      '{"type":"fwdack","viewnum":1,"index":2}}',
      '{"type":"fwdack","index":2,"viewnum":1}',
      '{"type":"fwdack","viewnum":1,"index":2,"index":3}',
      '{"type":"fwdack","viewnum":1234567890123456,"index":2}',
      '{"type":"res","seq":1,"ok":true,"value":null}',
    ];
    for (const t of near) sameAsFull(t);
  });

  it('answers like the full decode for random mutations of the fixed shapes (seeded)', () => {
    const rnd = mulberry32(61);
    const alphabet = '0123456789{}[]",:.-+eEnultrsfa ';
    for (let i = 0; i < 20000; i++) {
      let t = GOOD[Math.floor(rnd() * GOOD.length)];
      for (let m = 1 + Math.floor(rnd() * 3); m > 0; m--) {
        const at = Math.floor(rnd() * (t.length + 1));
        const c = alphabet[Math.floor(rnd() * alphabet.length)];
        const r = rnd();
        if (r < 0.4) t = t.slice(0, at) + c + t.slice(at + 1); // replace
        else if (r < 0.7) t = t.slice(0, at) + c + t.slice(at); // insert
        else t = t.slice(0, at) + t.slice(at + 1); // delete
      }
      sameAsFull(t);
    }
  });

  it('still checks the size limit first', () => {
    const t = '{"type":"fwdack","viewnum":1,"index":2}';
    const got = decode(t, { maxKeyBytes: 1024, maxValueBytes: 1024, maxMessageBytes: 10 });
    expect(got).to.include({ code: 'TOO_LARGE' });
  });
});
