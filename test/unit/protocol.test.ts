/**
 * common/protocol/ (decode.ts, encode.ts): literal frames in, Message or ProtocolError out (STYLE §5), the
 * way ws's receiver tests feed hex frames. Sizes follow SPEC §8.
 */
import { expect } from 'chai';
import { decode, encode, ProtocolError, isProtocolError, checkReq } from '../../common/protocol';
import type { Message } from '../../common/messages';
import { DEFAULT_LIMITS } from '../../common/limits';

const KiB = 1024;
const MiB = 1024 * 1024;

function req(extra: Record<string, unknown>): string {
  return JSON.stringify({ type: 'req', client: 'c1', seq: 1, ack: 1, op: 'put', key: 'k', value: 'v', ...extra });
}

function expectError(text: string, code: 'BAD_REQUEST' | 'TOO_LARGE', contains?: string): ProtocolError {
  const got = decode(text);
  expect(isProtocolError(got), `expected a ProtocolError for ${text.slice(0, 120)}, got ${JSON.stringify(got).slice(0, 120)}`).to.equal(true);
  const err = got as ProtocolError;
  expect(err.code).to.equal(code);
  if (contains) expect(err.message).to.contain(contains);
  return err;
}

describe('common/protocol', () => {
  describe('#decode: good frames', () => {
    const table: [string, string, Message][] = [
      ['ping', '{"type":"ping","id":"ws://127.0.0.1:7101","incarnation":"inc1","viewnum":3}',
        { type: 'ping', id: 'ws://127.0.0.1:7101', incarnation: 'inc1', viewnum: 3 }],
      ['ping with token', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":0,"token":"t"}',
        { type: 'ping', id: 'ws://a', incarnation: 'i', viewnum: 0, token: 't' }],
      ['ping with a report (docs/VIEW-SERVICE-RESTART.md)',
        '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":3,"view":{"viewnum":4,"primary":"ws://a","backup":"ws://b"},"holders":{"primary":"i","backup":"j"},"role":"primary","initialised":true}',
        { type: 'ping', id: 'ws://a', incarnation: 'i', viewnum: 3, view: { viewnum: 4, primary: 'ws://a', backup: 'ws://b' }, holders: { primary: 'i', backup: 'j' }, role: 'primary', initialised: true }],
      ['ping with a report, holders unknown',
        '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":0,"view":{"viewnum":9,"primary":"ws://b","backup":null},"holders":null,"role":"idle","initialised":false}',
        { type: 'ping', id: 'ws://a', incarnation: 'i', viewnum: 0, view: { viewnum: 9, primary: 'ws://b', backup: null }, holders: null, role: 'idle', initialised: false }],
      ['leave', '{"type":"leave","id":"ws://a","incarnation":"i","token":"t"}',
        { type: 'leave', id: 'ws://a', incarnation: 'i', token: 't' }],
      ['subscribe', '{"type":"subscribe"}', { type: 'subscribe' }],
      ['subscribe with token', '{"type":"subscribe","token":"s3cret"}', { type: 'subscribe', token: 's3cret' }],
      ['view', '{"type":"view","view":{"viewnum":0,"primary":null,"backup":null}}',
        { type: 'view', view: { viewnum: 0, primary: null, backup: null } }],
      ['view with holders', '{"type":"view","view":{"viewnum":2,"primary":"ws://a","backup":"ws://b"},"holders":{"primary":"i1","backup":null}}',
        { type: 'view', view: { viewnum: 2, primary: 'ws://a', backup: 'ws://b' }, holders: { primary: 'i1', backup: null } }],
      ['view with the leader hint (SPEC §12)', '{"type":"view","view":{"viewnum":2,"primary":"ws://a","backup":null},"holders":{"primary":"i1","backup":null},"leader":"ws://vs2:7000"}',
        { type: 'view', view: { viewnum: 2, primary: 'ws://a', backup: null }, holders: { primary: 'i1', backup: null }, leader: 'ws://vs2:7000' }],
      ['error', '{"type":"error","code":"BAD_REQUEST","message":"no"}', { type: 'error', code: 'BAD_REQUEST', message: 'no' }],
      ['req put', '{"type":"req","client":"Zk3","seq":17,"ack":15,"op":"put","key":"cart:1","value":"x"}',
        { type: 'req', client: 'Zk3', seq: 17, ack: 15, op: 'put', key: 'cart:1', value: 'x' }],
      ['req get', '{"type":"req","client":"Zk3","seq":0,"ack":0,"op":"get","key":""}',
        { type: 'req', client: 'Zk3', seq: 0, ack: 0, op: 'get', key: '' }],
      ['res ok', '{"type":"res","seq":17,"ok":true,"value":42,"rev":1031}', { type: 'res', seq: 17, ok: true, value: 42, rev: 1031 }],
      ['res ok null', '{"type":"res","seq":1,"ok":true,"value":null}', { type: 'res', seq: 1, ok: true, value: null }],
      ['res NOT_PRIMARY', '{"type":"res","seq":18,"ok":false,"code":"NOT_PRIMARY","message":"m","view":{"viewnum":4,"primary":"ws://b","backup":null}}',
        { type: 'res', seq: 18, ok: false, code: 'NOT_PRIMARY', message: 'm', view: { viewnum: 4, primary: 'ws://b', backup: null } }],
      ['hello', '{"type":"hello","token":"t"}', { type: 'hello', token: 't' }],
      ['peer', '{"type":"peer","id":"ws://a","incarnation":"i"}', { type: 'peer', id: 'ws://a', incarnation: 'i' }],
      ['xfer-begin', '{"type":"xfer-begin","view":{"viewnum":5,"primary":"ws://a","backup":"ws://b"},"holders":{"primary":"i","backup":"j"},"index":10,"revision":7}',
        { type: 'xfer-begin', view: { viewnum: 5, primary: 'ws://a', backup: 'ws://b' }, holders: { primary: 'i', backup: 'j' }, index: 10, revision: 7 }],
      ['xfer-data', '{"type":"xfer-data","viewnum":5,"data":[["k","v"]],"dedup":[["c1",3,[[3,{"ok":true,"value":1,"rev":2}],[4,{"ok":false,"code":"TOO_LARGE","message":"m"}]]]]}',
        { type: 'xfer-data', viewnum: 5, data: [['k', 'v']], dedup: [['c1', 3, [[3, { ok: true, value: 1, rev: 2 }], [4, { ok: false, code: 'TOO_LARGE', message: 'm' }]]]] }],
      ['xfer-end', '{"type":"xfer-end","viewnum":5}', { type: 'xfer-end', viewnum: 5 }],
      ['fwd', '{"type":"fwd","viewnum":5,"index":11,"ops":[{"type":"req","client":"c","seq":1,"ack":1,"op":"delete","key":"k"}]}',
        { type: 'fwd', viewnum: 5, index: 11, ops: [{ type: 'req', client: 'c', seq: 1, ack: 1, op: 'delete', key: 'k' }] }],
      ['xferack', '{"type":"xferack","viewnum":5,"index":10}', { type: 'xferack', viewnum: 5, index: 10 }],
      ['fwdack', '{"type":"fwdack","viewnum":5,"index":11}', { type: 'fwdack', viewnum: 5, index: 11 }],
      ['reject', '{"type":"reject","view":{"viewnum":6,"primary":"ws://b","backup":null},"reason":"stale"}',
        { type: 'reject', view: { viewnum: 6, primary: 'ws://b', backup: null }, reason: 'stale' }],
      ['watch of a key', '{"type":"watch","id":1,"pattern":"cart:1"}', { type: 'watch', id: 1, pattern: 'cart:1' }],
      ['watch of a prefix from a revision', '{"type":"watch","id":2,"pattern":"user:*","from":1031}', { type: 'watch', id: 2, pattern: 'user:*', from: 1031 }],
      ['watch of every key from 0', '{"type":"watch","id":0,"pattern":"*","from":0}', { type: 'watch', id: 0, pattern: '*', from: 0 }],
      ['unwatch', '{"type":"unwatch","id":2}', { type: 'unwatch', id: 2 }],
      ['event', '{"type":"event","id":2,"key":"user:7","value":"Ada","rev":1032}', { type: 'event', id: 2, key: 'user:7', value: 'Ada', rev: 1032 }],
      ['event of a delete', '{"type":"event","id":2,"key":"user:7","value":null,"rev":1033}', { type: 'event', id: 2, key: 'user:7', value: null, rev: 1033 }],
      ['resync event', '{"type":"event","id":2,"key":"user:8","value":"Bo","rev":1040,"resync":true}',
        { type: 'event', id: 2, key: 'user:8', value: 'Bo', rev: 1040, resync: true }],
      ['synced', '{"type":"synced","id":2,"rev":1040}', { type: 'synced', id: 2, rev: 1040 }],
      ['error ending a watch', '{"type":"error","code":"NOT_PRIMARY","message":"m","id":2,"view":{"viewnum":4,"primary":"ws://b","backup":null}}',
        { type: 'error', code: 'NOT_PRIMARY', message: 'm', id: 2, view: { viewnum: 4, primary: 'ws://b', backup: null } }],
      ['xfer-data with history', '{"type":"xfer-data","viewnum":5,"data":[],"dedup":[],"events":[[7,"k","v"],[8,"k",null]]}',
        { type: 'xfer-data', viewnum: 5, data: [], dedup: [], events: [[7, 'k', 'v'], [8, 'k', null]] }],
    ];
    for (const [name, text, want] of table) {
      it(`decodes ${name}`, () => {
        expect(decode(text)).to.deep.equal(want);
      });
    }

    it('drops unknown fields of a req (only the protocol fields pass)', () => {
      expect(decode(req({ extra: 1, op: 'get', value: undefined }))).to.deep.equal({ type: 'req', client: 'c1', seq: 1, ack: 1, op: 'get', key: 'k' });
    });
  });

  describe('#encode/#decode round trips', () => {
    const messages: Message[] = [
      { type: 'ping', id: 'ws://a', incarnation: 'i', viewnum: 1, token: 't' },
      { type: 'ping', id: 'ws://a', incarnation: 'i', viewnum: 1, view: { viewnum: 2, primary: 'ws://a', backup: null }, holders: { primary: 'i', backup: null }, role: 'primary', initialised: true },
      { type: 'leave', id: 'ws://a', incarnation: 'i' },
      { type: 'subscribe' },
      { type: 'view', view: { viewnum: 1, primary: 'ws://a', backup: null } },
      { type: 'view', view: { viewnum: 1, primary: 'ws://a', backup: null }, holders: { primary: 'i', backup: null } },
      { type: 'error', code: 'TOO_LARGE', message: 'too big' },
      { type: 'req', client: 'c', seq: 2, ack: 1, op: 'append', key: 'ключ', value: '✓ 😀' },
      { type: 'req', client: 'c', seq: 3, ack: 1, op: 'get', key: 'k' },
      { type: 'res', seq: 2, ok: true, value: 'x', rev: 9 },
      { type: 'res', seq: 2, ok: true, value: false },
      { type: 'res', seq: 2, ok: false, code: 'NOT_PRIMARY', message: 'm', view: { viewnum: 3, primary: null, backup: null } },
      { type: 'hello', token: 't' },
      { type: 'peer', id: 'ws://a', incarnation: 'i', token: 't' },
      { type: 'xfer-begin', view: { viewnum: 2, primary: 'ws://a', backup: 'ws://b' }, holders: { primary: 'i', backup: 'j' }, index: 0, revision: 0 },
      { type: 'xfer-data', viewnum: 2, data: [['a', '1'], ['b', '']], dedup: [['c', 0, []]] },
      { type: 'xfer-end', viewnum: 2 },
      { type: 'fwd', viewnum: 2, index: 1, ops: [{ type: 'req', client: 'c', seq: 1, ack: 1, op: 'put', key: 'k', value: 'v' }] },
      { type: 'xferack', viewnum: 2, index: 0 },
      { type: 'fwdack', viewnum: 2, index: 1 },
      { type: 'reject', view: { viewnum: 3, primary: 'ws://b', backup: null }, reason: 'not your backup' },
      { type: 'watch', id: 3, pattern: 'ключ:*', from: 12 },
      { type: 'watch', id: 4, pattern: 'k' },
      { type: 'unwatch', id: 3 },
      { type: 'event', id: 3, key: 'ключ:1', value: '✓ 😀', rev: 13 },
      { type: 'event', id: 3, key: 'ключ:2', value: null, rev: 14, resync: true },
      { type: 'synced', id: 3, rev: 14 },
      { type: 'error', code: 'TOO_LARGE', message: 'too many watches', id: 5 },
      { type: 'xfer-data', viewnum: 2, data: [], dedup: [], events: [[1, 'a', '1'], [2, 'a', null]] },
    ];
    const types = new Set(messages.map((m) => m.type));
    it('covers every message type', () => {
      expect([...types].sort()).to.deep.equal([
        'error', 'event', 'fwd', 'fwdack', 'hello', 'leave', 'peer', 'ping', 'reject', 'req', 'res', 'subscribe', 'synced',
        'unwatch', 'view', 'watch', 'xfer-begin', 'xfer-data', 'xfer-end', 'xferack',
      ]);
    });
    for (const m of messages) {
      it(`round-trips ${m.type} ${JSON.stringify(m).slice(0, 60)}`, () => {
        expect(decode(encode(m))).to.deep.equal(m);
      });
    }
  });

  describe('#decode: bad frames → BAD_REQUEST', () => {
    const table: [string, string, string][] = [
      ['not JSON', '{"type":', 'not valid JSON'],
      ['empty', '', 'not valid JSON'],
      ['an array', '[1,2]', 'JSON object'],
      ['a string', '"ping"', 'JSON object'],
      ['null', 'null', 'JSON object'],
      ['no type', '{"seq":1}', 'type must be a string'],
      ['numeric type', '{"type":7}', 'type must be a string'],
      ['unknown type', '{"type":"frobnicate"}', 'unknown message type "frobnicate"'],
      ['non-string token', '{"type":"subscribe","token":5}', 'token must be a string'],
      ['ping without id', '{"type":"ping","incarnation":"i","viewnum":1}', 'ping.id'],
      ['ping without incarnation', '{"type":"ping","id":"ws://a","viewnum":1}', 'ping.incarnation'],
      ['ping negative viewnum', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":-1}', 'ping.viewnum must be a non-negative integer'],
      ['ping fractional viewnum', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":1.5}', 'ping.viewnum must be a non-negative integer'],
      ['ping string viewnum', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":"1"}', 'ping.viewnum'],
      ['ping huge viewnum', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":1e300}', 'ping.viewnum'],
      ['ping with half a report', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":1,"role":"idle"}', 'ping.view must be'],
      ['ping report with a bad role', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":1,"view":{"viewnum":1,"primary":null,"backup":null},"holders":null,"role":"boss","initialised":false}', 'ping.role'],
      ['ping report with bad holders', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":1,"view":{"viewnum":1,"primary":null,"backup":null},"holders":[],"role":"idle","initialised":false}', 'ping.holders'],
      ['ping report without initialised', '{"type":"ping","id":"ws://a","incarnation":"i","viewnum":1,"view":{"viewnum":1,"primary":null,"backup":null},"holders":null,"role":"idle"}', 'ping.initialised'],
      ['leave without incarnation', '{"type":"leave","id":"ws://a"}', 'leave.incarnation'],
      ['view negative viewnum', '{"type":"view","view":{"viewnum":-2,"primary":null,"backup":null}}', 'view.view'],
      ['view fractional viewnum', '{"type":"view","view":{"viewnum":0.5,"primary":null,"backup":null}}', 'view.view'],
      ['view missing backup', '{"type":"view","view":{"viewnum":1,"primary":"ws://a"}}', 'view.view'],
      ['view empty primary', '{"type":"view","view":{"viewnum":1,"primary":"","backup":null}}', 'view.view'],
      ['view bad holders', '{"type":"view","view":{"viewnum":1,"primary":null,"backup":null},"holders":{"primary":1,"backup":null}}', 'view.holders'],
      ['view bad leader hint', '{"type":"view","view":{"viewnum":1,"primary":null,"backup":null},"leader":7}', 'view.leader'],
      ['req without client', '{"type":"req","seq":1,"ack":1,"op":"get","key":"k"}', 'req.client'],
      ['req negative seq', '{"type":"req","client":"c","seq":-1,"ack":1,"op":"get","key":"k"}', 'req.seq'],
      ['req fractional ack', '{"type":"req","client":"c","seq":1,"ack":0.5,"op":"get","key":"k"}', 'req.ack'],
      ['req unknown op', '{"type":"req","client":"c","seq":1,"ack":1,"op":"incr","key":"k"}', 'req.op must be one of'],
      ['req numeric key', '{"type":"req","client":"c","seq":1,"ack":1,"op":"get","key":1}', 'req.key'],
      ['put without value', '{"type":"req","client":"c","seq":1,"ack":1,"op":"put","key":"k"}', 'req.value must be a string for put'],
      ['append numeric value', '{"type":"req","client":"c","seq":1,"ack":1,"op":"append","key":"k","value":3}', 'req.value must be a string for append'],
      ['get with value', '{"type":"req","client":"c","seq":1,"ack":1,"op":"get","key":"k","value":"v"}', 'req.value is not allowed for get'],
      ['res negative seq', '{"type":"res","seq":-1,"ok":true,"value":null}', 'res.seq'],
      ['res object value', '{"type":"res","seq":1,"ok":true,"value":{}}', 'res.value'],
      ['res fractional rev', '{"type":"res","seq":1,"ok":true,"value":null,"rev":1.5}', 'res.rev'],
      ['res error without message', '{"type":"res","seq":1,"ok":false,"code":"BAD_REQUEST"}', 'res must be'],
      ['res error with bad view', '{"type":"res","seq":1,"ok":false,"code":"NOT_PRIMARY","message":"m","view":{"viewnum":-1,"primary":null,"backup":null}}', 'res must be'],
      ['error without message', '{"type":"error","code":"BAD_REQUEST"}', 'error needs'],
      ['peer without incarnation', '{"type":"peer","id":"ws://a"}', 'peer needs'],
      ['xfer-begin without index', '{"type":"xfer-begin","view":{"viewnum":1,"primary":null,"backup":null},"holders":{"primary":null,"backup":null},"revision":0}', 'xfer-begin'],
      ['xfer-data bad pair', '{"type":"xfer-data","viewnum":1,"data":[["k"]],"dedup":[]}', 'xfer-data.data'],
      ['xfer-data bad dedup', '{"type":"xfer-data","viewnum":1,"data":[],"dedup":[["c",-1,[]]]}', 'xfer-data needs'],
      ['xfer-end negative viewnum', '{"type":"xfer-end","viewnum":-1}', 'xfer-end.viewnum'],
      ['fwd with a bad op', '{"type":"fwd","viewnum":1,"index":1,"ops":[{"type":"req","client":"c","seq":1,"ack":1,"op":"nope","key":"k"}]}', 'fwd op: req.op'],
      ['fwd ops not objects', '{"type":"fwd","viewnum":1,"index":1,"ops":[1]}', 'fwd.ops'],
      ['fwdack fractional index', '{"type":"fwdack","viewnum":1,"index":0.5}', 'fwdack needs'],
      ['xferack without viewnum', '{"type":"xferack","index":1}', 'xferack needs'],
      ['reject without reason', '{"type":"reject","view":{"viewnum":1,"primary":null,"backup":null}}', 'reject needs'],
      ['watch without id', '{"type":"watch","pattern":"k"}', 'watch.id must be a non-negative integer'],
      ['watch negative id', '{"type":"watch","id":-1,"pattern":"k"}', 'watch.id'],
      ['watch numeric pattern', '{"type":"watch","id":1,"pattern":5}', 'watch.pattern must be a string'],
      ['watch fractional from', '{"type":"watch","id":1,"pattern":"k","from":1.5}', 'watch.from must be a non-negative integer'],
      ['watch string from', '{"type":"watch","id":1,"pattern":"k","from":"3"}', 'watch.from'],
      ['unwatch without id', '{"type":"unwatch"}', 'unwatch.id'],
      ['event without rev', '{"type":"event","id":1,"key":"k","value":"v"}', 'event needs'],
      ['event numeric value', '{"type":"event","id":1,"key":"k","value":1,"rev":1}', 'event needs'],
      ['event resync false', '{"type":"event","id":1,"key":"k","value":"v","rev":1,"resync":false}', 'event.resync must be true'],
      ['synced without rev', '{"type":"synced","id":1}', 'synced needs'],
      ['error with a bad watch id', '{"type":"error","code":"BAD_REQUEST","message":"m","id":"w"}', 'error.id'],
      ['error with a bad view', '{"type":"error","code":"NOT_PRIMARY","message":"m","view":{"viewnum":-1,"primary":null,"backup":null}}', 'error.view'],
      ['xfer-data bad history', '{"type":"xfer-data","viewnum":1,"data":[],"dedup":[],"events":[[1,"k"]]}', 'xfer-data.events'],
    ];
    for (const [name, text, contains] of table) {
      it(`refuses ${name}`, () => {
        expectError(text, 'BAD_REQUEST', contains);
      });
    }

    it('keeps the id of a watch that is otherwise unreadable, so the error can name it', () => {
      expect(expectError('{"type":"watch","id":7,"pattern":null}', 'BAD_REQUEST').id).to.equal(7);
    });

    it('keeps the seq of a req that is otherwise unreadable, so the reply can name it', () => {
      expect(expectError('{"type":"req","client":"c","seq":9,"ack":1,"op":"incr","key":"k"}', 'BAD_REQUEST').seq).to.equal(9);
      expect(expectError('{"type":"req","client":"c","seq":"9","ack":1,"op":"get","key":"k"}', 'BAD_REQUEST').seq).to.equal(undefined);
    });
  });

  describe('#decode: sizes (SPEC §8)', () => {
    it('accepts a key of exactly 1 KiB', () => {
      const got = decode(req({ key: 'k'.repeat(KiB) }));
      expect(isProtocolError(got)).to.equal(false);
    });

    it('refuses a key of 1 KiB + 1 byte with TOO_LARGE, naming maxKeyBytes', () => {
      const err = expectError(req({ seq: 4, key: 'k'.repeat(KiB + 1) }), 'TOO_LARGE', 'maxKeyBytes');
      expect(err.message).to.match(/^key is /);
      expect(err.seq).to.equal(4);
    });

    it('counts key bytes in UTF-8: 512 × "é" is 1 KiB, 342 × "€" is 1026 bytes', () => {
      expect(isProtocolError(decode(req({ key: 'é'.repeat(512) })))).to.equal(false);
      expectError(req({ key: '€'.repeat(342) }), 'TOO_LARGE', 'maxKeyBytes');
    });

    it('accepts a value of exactly 1 MiB', () => {
      const got = decode(req({ value: 'v'.repeat(MiB) }));
      expect(isProtocolError(got)).to.equal(false);
      expect((got as { value: string }).value).to.have.length(MiB);
    });

    it('refuses a value of 1 MiB + 1 byte with TOO_LARGE, naming maxValueBytes', () => {
      expectError(req({ op: 'append', value: 'v'.repeat(MiB + 1) }), 'TOO_LARGE', 'maxValueBytes = 1 MiB');
    });

    it('counts value bytes in UTF-8: 2-byte characters over 1 MiB are TOO_LARGE', () => {
      expect(isProtocolError(decode(req({ value: 'é'.repeat(MiB / 2) })))).to.equal(false);
      expectError(req({ value: 'é'.repeat(MiB / 2 + 1) }), 'TOO_LARGE', 'maxValueBytes');
    });

    it('refuses a frame longer than maxMessageBytes before parsing it', () => {
      expectError('x'.repeat(2 * MiB + 1), 'TOO_LARGE', 'maxMessageBytes');
    });

    it('accepts a watch pattern whose key part is exactly 1 KiB (the "*" is not counted)', () => {
      const got = decode(JSON.stringify({ type: 'watch', id: 1, pattern: `${'k'.repeat(KiB)}*` }));
      expect(got).to.deep.include({ type: 'watch', id: 1 });
    });

    it('refuses a watch pattern over maxKeyBytes with TOO_LARGE, naming the watch id', () => {
      const err = expectError(JSON.stringify({ type: 'watch', id: 9, pattern: 'é'.repeat(513) }), 'TOO_LARGE', 'maxKeyBytes');
      expect(err.id).to.equal(9);
    });

    it('applies the key and value limits inside fwd ops too', () => {
      const big = { type: 'req', client: 'c', seq: 1, ack: 1, op: 'put', key: 'k'.repeat(KiB + 1), value: 'v' };
      expectError(JSON.stringify({ type: 'fwd', viewnum: 1, index: 1, ops: [big] }), 'BAD_REQUEST', 'fwd op: key is');
    });

    it('takes the limits as a parameter', () => {
      const small = { ...DEFAULT_LIMITS, maxKeyBytes: 4 };
      expect(checkReq({ client: 'c', seq: 1, ack: 1, op: 'get', key: 'four' }, small)).to.not.be.instanceOf(ProtocolError);
      expect((checkReq({ client: 'c', seq: 1, ack: 1, op: 'get', key: 'five!' }, small) as ProtocolError).code).to.equal('TOO_LARGE');
    });
  });
});
