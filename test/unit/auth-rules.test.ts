/**
 * server/auth/core/rules.ts: SPEC §11's rules, pure (no ports, no clock). Each rule form,
 * placeholder substitution, first match, deny by default, watch patterns readable as a whole,
 * and rules files refused with the line and the problem.
 */
import { expect } from 'chai';
import { Rules, RulesError, Access, deniedRight } from '../../server/auth/core/rules';
import type { ReqMsg } from '../../common/messages';

function compile(rules: unknown[]): Rules {
  const r = Rules.parse(JSON.stringify({ rules }, null, 2));
  if (r instanceof RulesError) throw r;
  return r;
}

const CHAT = compile([
  { keys: 'user:{sub}:*', read: 'auth', write: 'auth' },
  { keys: 'room:*', read: 'auth', write: { claim: 'role', equals: 'admin' } },
  { keys: 'motd', read: 'anyone', write: 'nobody' },
]);

describe('auth rules (SPEC §11)', () => {
  it('"anyone", "auth", "nobody" and {claim, equals} each decide as named (SPEC §11)', () => {
    const anon = CHAT.bind(null);
    const alice = CHAT.bind({ sub: 'alice' });
    const admin = CHAT.bind({ sub: 'root', role: 'admin' });
    expect(anon.read('motd')).to.equal(true);
    expect(anon.write('motd')).to.equal(false);
    expect(alice.write('motd')).to.equal(false); // nobody
    expect(anon.read('room:1')).to.equal(false); // auth
    expect(alice.read('room:1')).to.equal(true);
    expect(alice.write('room:1')).to.equal(false); // claim role != admin
    expect(admin.write('room:1')).to.equal(true);
    expect(CHAT.bind({ sub: 'x', role: 'Admin' }).write('room:1')).to.equal(false);
  });

  it('{sub} is replaced by the token\'s claim: alice writes user:alice:*, not user:bob:* (SPEC §11)', () => {
    const alice = CHAT.bind({ sub: 'alice' });
    expect(alice.write('user:alice:name')).to.equal(true);
    expect(alice.read('user:alice:')).to.equal(true);
    expect(alice.write('user:bob:name')).to.equal(false);
    expect(alice.read('user:bob:name')).to.equal(false);
    expect(alice.read('user:alicex:name')).to.equal(false);
  });

  it('a claim containing *, :, { or }, missing, or not a string makes its rule match nothing (SPEC §11)', () => {
    for (const sub of ['*', 'alice:x', 'a{b', 'a}b', '{sub}', 'al*']) {
      const a = CHAT.bind({ sub });
      expect(a.write(`user:${sub}:k`), sub).to.equal(false);
      expect(a.read('user:alice:k'), sub).to.equal(false);
      expect(a.watch('user:*'), sub).to.equal(false);
      expect(a.read('room:1'), sub).to.equal(true); // the other rules still apply
    }
    for (const claims of [{}, { sub: 7 }, { sub: null }, { sub: ['alice'] }]) {
      expect(CHAT.bind(claims).write('user:alice:k')).to.equal(false);
    }
  });

  it('the first rule whose keys match decides, later ones are not consulted (SPEC §11)', () => {
    const r = compile([
      { keys: 'a:secret', read: 'nobody', write: 'nobody' },
      { keys: 'a:*', read: 'auth', write: 'auth' },
      { keys: 'a:secret', read: 'auth', write: 'auth' },
    ]).bind({ sub: 'u' });
    expect(r.read('a:secret')).to.equal(false);
    expect(r.read('a:other')).to.equal(true);
  });

  it('no matching rule: denied; an exact key matches only itself (SPEC §11)', () => {
    const a = CHAT.bind({ sub: 'alice', role: 'admin' });
    expect(a.read('other')).to.equal(false);
    expect(a.write('other')).to.equal(false);
    expect(a.read('motd2')).to.equal(false);
    expect(compile([]).bind({ sub: 'a' }).read('x')).to.equal(false);
  });

  it('a watch pattern must be readable as a whole (SPEC §11)', () => {
    const alice = CHAT.bind({ sub: 'alice' });
    expect(alice.watch('user:alice:*')).to.equal(true);
    expect(alice.watch('user:alice:inbox:*')).to.equal(true);
    expect(alice.watch('room:*')).to.equal(true);
    expect(alice.watch('user:*')).to.equal(false); // reaches bob's keys
    expect(alice.watch('*')).to.equal(false);
    expect(alice.watch('user:bob:*')).to.equal(false);
    expect(alice.watch('motd')).to.equal(true);
    const r = compile([
      { keys: 'p:a', read: 'auth', write: 'nobody' },
      { keys: 'p:*', read: 'auth', write: 'nobody' },
    ]).bind({ sub: 'x' });
    expect(r.watch('p*')).to.equal(false); // "p" and "pz" have no rule
    expect(r.watch('p:*')).to.equal(true);
    const hole = compile([
      { keys: 'p:secret', read: 'nobody', write: 'nobody' },
      { keys: 'p:*', read: 'auth', write: 'auth' },
    ]).bind({ sub: 'x' });
    expect(hole.watch('p:*')).to.equal(false);
    expect(hole.watch('p:s*')).to.equal(false);
    expect(hole.watch('p:t*')).to.equal(true);
  });

  it('every operation of SPEC §10 is checked on every key it touches: list reads its whole prefix, atomic reads its checks and writes its ops (SPEC §10, §11)', () => {
    const alice = CHAT.bind({ sub: 'alice' });
    const req = (r: Partial<ReqMsg>): ReqMsg => ({ type: 'req', client: 'c', seq: 1, ack: 0, op: 'get', key: '', ...r });
    expect(deniedRight(alice, req({ op: 'getEntry', key: 'user:alice:a' }))).to.equal(null);
    expect(deniedRight(alice, req({ op: 'getEntry', key: 'user:bob:a' }))).to.equal('read');
    expect(deniedRight(alice, req({ op: 'list', key: 'user:alice:' }))).to.equal(null);
    expect(deniedRight(alice, req({ op: 'list', key: 'user:' }))).to.equal('read'); // would show bob's keys
    expect(deniedRight(alice, req({ op: 'put', key: 'user:alice:a', value: 'x', ifRevision: 3 }))).to.equal(null);
    expect(deniedRight(alice, req({ op: 'delete', key: 'room:1' }))).to.equal('write');
    const mine = req({ op: 'atomic', checks: [['room:1', 2]], ops: [['put', 'user:alice:a', 'x'], ['delete', 'user:alice:b']] });
    expect(deniedRight(alice, mine)).to.equal(null);
    expect(deniedRight(alice, req({ op: 'atomic', checks: [['user:bob:x', 0]], ops: [] }))).to.equal('read');
    expect(deniedRight(alice, req({ op: 'atomic', ops: [['put', 'user:alice:a', 'x'], ['put', 'user:bob:a', 'x']] }))).to.equal('write');
    const reader = Rules.parse(JSON.stringify({ rules: [{ keys: 'pub:*', read: 'anyone', write: 'nobody' }, { keys: 'w:*', read: 'nobody', write: 'auth' }] }));
    if (reader instanceof RulesError) throw reader;
    expect(deniedRight(reader.bind({ sub: 'a' }), req({ op: 'put', key: 'w:1', value: 'v', ifRevision: 0 })), 'a CONFLICT would tell the revision').to.equal('read');
  });

  it('Access.all: a valid token without --rules may do everything; an expired one nothing', () => {
    expect(Access.all(true).write('any:key')).to.equal(true);
    expect(Access.all(true).watch('*')).to.equal(true);
    expect(Access.all(false).read('any')).to.equal(false);
    expect(Access.all(false).watch('*')).to.equal(false);
  });

  it('anyoneMay: a token is required unless some rule grants "anyone"', () => {
    expect(CHAT.anyoneMay).to.equal(true);
    expect(compile([{ keys: 'a*', read: 'auth', write: 'auth' }]).anyoneMay).to.equal(false);
  });

  it('a rules file that does not parse, or names an unknown right, is refused with its line and the problem (SPEC §11)', () => {
    const bad = (text: string): string => {
      const r = Rules.parse(text);
      expect(r).to.be.instanceOf(RulesError);
      return (r as RulesError).message;
    };
    expect(bad('{\n "rules": [\n  {"keys": "a",, }\n ]\n}')).to.match(/^line 3: not JSON/);
    expect(bad('{"rules": 3}')).to.match(/^line 1: expected \{"rules"/);
    const text = '{\n  "rules": [\n    {"keys": "a*", "read": "auth", "write": "auth"},\n    {"keys": "b*",\n     "read": "everyone", "write": "auth"}\n  ]\n}';
    expect(bad(text)).to.equal('line 4: rule 2: unknown right "everyone" for "read"; use "anyone", "auth", "nobody" or {"claim": NAME, "equals": VALUE}');
    expect(bad('{"rules":[{"keys":"a*b","read":"auth","write":"auth"}]}')).to.match(/"\*" may only end/);
    expect(bad('{"rules":[{"keys":"a{sub","read":"auth","write":"auth"}]}')).to.match(/placeholder/);
    expect(bad('{"rules":[{"keys":"a","read":"auth"}]}')).to.match(/unknown right missing for "write"/);
    expect(bad('{"rules":[{"keys":"a","read":"auth","write":"auth","x":1}]}')).to.match(/unknown field "x"/);
    expect(bad('{"rules":[{"keys":"a","read":{"claim":"role"},"write":"auth"}]}')).to.match(/unknown right/);
  });
});
