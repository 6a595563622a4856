/**
 * The fast path of common/protocol.ts#decode: the string-free per-operation messages (a
 * successful reply to a put, append or delete; fwdack) are read without JSON.parse. For every
 * text it must answer exactly what the full decode answers, which is what it answers for the
 * same JSON with a leading space (valid JSON that the fast path never takes).
 */
import { expect } from 'chai';
import { decode, encode } from '../../common/protocol';
import { mulberry32 } from '../support/random';

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
