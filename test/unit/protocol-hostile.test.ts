/**
 * common/protocol/decode.ts against hostile input (issue #5, SPEC §1 and §8): literal frames that
 * the fuzz test throws at a running cluster, here one by one. `decode` never throws, and
 * what it returns carries only the protocol's fields.
 */
import { expect } from 'chai';
import { decode, isProtocolError, ProtocolError, nestingTooDeep, MAX_DEPTH, TRUSTED } from '../../common/protocol';

const MiB = 1024 * 1024;

function refused(text: string, code: 'BAD_REQUEST' | 'TOO_LARGE' = 'BAD_REQUEST'): ProtocolError {
  let got: unknown;
  expect(() => { got = decode(text); }, `decode must not throw on ${text.slice(0, 80)}`).to.not.throw();
  expect(isProtocolError(got), `expected a ProtocolError for ${text.slice(0, 80)}, got ${JSON.stringify(got)?.slice(0, 120)}`).to.equal(true);
  expect((got as ProtocolError).code).to.equal(code);
  return got as ProtocolError;
}

describe('common/protocol: hostile frames (issue #5)', () => {
  describe('#decode: numbers', () => {
    const table: [string, string][] = [
      ['viewnum 1e308', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":1e308}'],
      ['viewnum 1e999 (parses to Infinity)', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":1e999}'],
      ['viewnum NaN (not JSON)', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":NaN}'],
      ['viewnum "NaN"', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":"NaN"}'],
      ['viewnum 2^53 + 2', `{"type":"ping","id":"ws://a","incarnation":"i","viewnum":${2 ** 53 + 2}}`],
      ['seq 2^53', `{"type":"req","client":"c","seq":${2 ** 53},"ack":0,"op":"get","key":"k"}`],
      ['seq -1', '{"type":"req","client":"c","seq":-1,"ack":0,"op":"get","key":"k"}'],
      ['ack 0.5', '{"type":"req","client":"c","seq":1,"ack":0.5,"op":"get","key":"k"}'],
      ['fwd index -1', '{"type":"fwd","viewnum":1,"index":-1,"ops":[]}'],
      ['xfer-begin revision 1e308', '{"type":"xfer-begin","view":{"viewnum":1,"primary":"ws://a","backup":"ws://b"},"holders":{"primary":"i","backup":null},"index":0,"revision":1e308}'],
      ['hex number', '{"type":"fwdack","viewnum":0x10,"index":1}'],
      ['leading zero', '{"type":"fwdack","viewnum":01,"index":1}'],
    ];
    for (const [name, text] of table) it(`refuses ${name} with BAD_REQUEST`, () => { refused(text); });

    it('accepts the largest safe integer, 2^53 − 1, as a seq', () => {
      const got = decode(`{"type":"req","client":"c","seq":${2 ** 53 - 1},"ack":0,"op":"get","key":"k"}`);
      expect(isProtocolError(got)).to.equal(false);
    });
  });

  describe('#decode: shapes', () => {
    it(`refuses nesting deeper than MAX_DEPTH (${MAX_DEPTH}) before parsing it: 2 MiB of "[" costs no parse time`, () => {
      const started = Date.now();
      expect(refused('['.repeat(MiB) + ']'.repeat(MiB - 1)).message).to.contain(`deeper than ${MAX_DEPTH}`);
      refused('{"a":'.repeat(200_000) + '1' + '}'.repeat(200_000));
      refused(`{"type":"fwd","viewnum":1,"index":1,"ops":[${'['.repeat(100_000)}${']'.repeat(100_000)}]}`);
      expect(Date.now() - started, 'ms to refuse three deep frames').to.be.below(200);
    });

    it('counts brackets outside strings only, and knows escaped quotes', () => {
      expect(nestingTooDeep('['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH))).to.equal(false);
      expect(nestingTooDeep('['.repeat(MAX_DEPTH + 1) + ']'.repeat(MAX_DEPTH + 1))).to.equal(true);
      const value = `"${'['.repeat(1000)}\\"`; // a string of brackets ending in an escaped backslash
      expect(nestingTooDeep(`{"type":"req","value":${value}}`)).to.equal(false);
      expect(nestingTooDeep(`{"v":"\\\"${'['.repeat(100)}"}`)).to.equal(false); // \\\" is an escaped quote inside
      const req = decode(JSON.stringify({ type: 'req', client: 'c', seq: 1, ack: 0, op: 'put', key: 'k', value: '[{'.repeat(50_000) + '"\\' }));
      expect(isProtocolError(req), 'a value full of brackets and quotes is just a value').to.equal(false);
    });

    it('skips the depth scan for trusted frames (a replica\'s own links): their deep frames fail in validation', () => {
      const got = decode('['.repeat(64) + ']'.repeat(64), undefined, TRUSTED);
      expect((got as ProtocolError).message).to.equal('message must be a JSON object');
    });

    it('refuses truncated, doubled and wrapped frames', () => {
      const ok = '{"type":"subscribe"}';
      refused(ok.slice(0, 10));
      refused(ok + ok);
      refused(`[${ok}]`);
      refused('');
      refused('\u0000');
    });

    it('ignores an own "__proto__" member: the message keeps its own type and no prototype changes', () => {
      const got = decode('{"__proto__":{"type":"ping","viewnum":1,"polluted":true},"type":"subscribe"}');
      expect(got).to.deep.equal({ type: 'subscribe' });
      expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
      refused('{"__proto__":{"type":"subscribe"}}'); // no own type
    });

    it('keeps only protocol fields: extra members of a view, holders or reply are dropped', () => {
      const view = decode('{"type":"view","view":{"viewnum":2,"primary":"ws://a","backup":null,"evil":1},"holders":{"primary":"i","backup":null,"x":[1]}}');
      expect(view).to.deep.equal({ type: 'view', view: { viewnum: 2, primary: 'ws://a', backup: null }, holders: { primary: 'i', backup: null } });
      const res = decode('{"type":"res","seq":1,"ok":false,"code":"NOT_PRIMARY","message":"m","view":{"viewnum":3,"primary":null,"backup":null,"x":1},"extra":{"big":true}}');
      expect(res).to.deep.equal({ type: 'res', seq: 1, ok: false, code: 'NOT_PRIMARY', message: 'm', view: { viewnum: 3, primary: null, backup: null } });
      expect(decode('{"type":"res","seq":1,"ok":true,"value":"v","rev":2,"junk":[]}')).to.deep.equal({ type: 'res', seq: 1, ok: true, value: 'v', rev: 2 });
      const reject = decode('{"type":"reject","view":{"viewnum":3,"primary":"ws://b","backup":null,"x":1},"reason":"r"}');
      expect(reject).to.deep.equal({ type: 'reject', view: { viewnum: 3, primary: 'ws://b', backup: null }, reason: 'r' });
    });

    it('refuses holders that are not short ids (incarnations are nanoids)', () => {
      refused(`{"type":"view","view":{"viewnum":1,"primary":"ws://a","backup":null},"holders":{"primary":"${'i'.repeat(513)}","backup":null}}`);
      refused('{"type":"view","view":{"viewnum":1,"primary":"ws://a","backup":null},"holders":{"primary":"","backup":null}}');
    });

    it('refuses messages of wrong types in every field it reads', () => {
      refused('{"type":["ping"]}');
      refused('{"type":"ping","id":{"x":1},"incarnation":"i","viewnum":1}');
      refused('{"type":"req","client":"c","seq":1,"ack":0,"op":"put","key":"k","value":{"toString":"x"}}');
      refused('{"type":"fwd","viewnum":1,"index":1,"ops":{"length":1,"0":{}}}');
      refused('{"type":"xfer-data","viewnum":1,"data":[["k",1]],"dedup":[]}');
      refused('{"type":"subscribe","token":{"x":1}}');
    });
  });

  describe('#decode: sizes (SPEC §8)', () => {
    it('refuses a key over maxKeyBytes inside an xfer-data chunk with TOO_LARGE', () => {
      refused(JSON.stringify({ type: 'xfer-data', viewnum: 1, data: [['k'.repeat(1025), 'v']], dedup: [] }), 'TOO_LARGE');
      expect(isProtocolError(decode(JSON.stringify({ type: 'xfer-data', viewnum: 1, data: [['k'.repeat(1024), 'v']], dedup: [] })))).to.equal(false);
    });

    it('refuses a client id or replica id over 512 characters', () => {
      refused(JSON.stringify({ type: 'req', client: 'c'.repeat(513), seq: 1, ack: 0, op: 'get', key: 'k' }));
      refused(JSON.stringify({ type: 'peer', id: 'ws://'.padEnd(513, 'x'), incarnation: 'i' }));
    });

    it('refuses a frame of 2 MiB + 1 before parsing it, whatever it holds', () => {
      refused('['.repeat(2 * MiB + 1), 'TOO_LARGE');
    });
  });
});
