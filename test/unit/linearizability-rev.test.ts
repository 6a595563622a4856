/**
 * The checker's model of SPEC §10's operations (test/support/linearizability-rev.ts):
 * getEntry, conditional put and delete, atomic commits over several keys. Each op kind has a
 * crafted non-linearizable history the checker must reject, and a close linearizable one it
 * must accept (so a rejection is not just "anything with that op").
 */
import { expect } from 'chai';
import { checkHistory, type HistoryOp } from '../support/linearizability';
import type { AtomicWrite, KvOutput } from '../support/history';
import { revisionGroups } from '../support/linearizability-rev';

class H {
  readonly ops: HistoryOp[] = [];
  private add(o: Omit<HistoryOp, 'id' | 'status'>, output: KvOutput | undefined): this {
    const status = o.ret === null ? 'unknown' : 'ok';
    this.ops.push({ id: this.ops.length, ...o, status, ...(status === 'ok' ? { output } : {}) });
    return this;
  }
  entry(client: number, key: string, value: string | null, revision: number, call: number, ret: number): this {
    return this.add({ client, op: 'getEntry', key, call, ret }, { value, revision });
  }
  get(client: number, key: string, value: string | null, call: number, ret: number): this {
    return this.add({ client, op: 'get', key, call, ret }, value);
  }
  put(client: number, key: string, value: string, call: number, ret: number | null): this {
    return this.add({ client, op: 'put', key, value, call, ret }, null);
  }
  /** A conditional put: conflict = the revision a CONFLICT reported, or undefined for ok. */
  cas(client: number, key: string, value: string, ifRevision: number, call: number, ret: number | null, conflict?: number): this {
    return this.add({ client, op: 'put', key, value, ifRevision, call, ret }, conflict === undefined ? null : { conflict });
  }
  casDelete(client: number, key: string, ifRevision: number, out: boolean | { conflict: number }, call: number, ret: number | null): this {
    return this.add({ client, op: 'delete', key, ifRevision, call, ret }, out);
  }
  atomic(client: number, checks: [string, number][], ops: AtomicWrite[], out: KvOutput | undefined, call: number, ret: number | null): this {
    const key = checks.length > 0 ? checks[0][0] : ops[0][1];
    return this.add({ client, op: 'atomic', key, checks, ops, call, ret }, out);
  }
}

function verdict(h: H): string {
  const r = checkHistory(h.ops, { timeoutMsPerKey: 5000 });
  if (r.verdict === 'violation') expect(r.explanation).to.be.a('string').and.include('could not place');
  return r.verdict;
}

describe('linearizability checker: getEntry, conditional writes and atomic commits (SPEC §10)', () => {
  it('groups the keys joined by atomic commits; keys without §10 ops stay with the per-key search', () => {
    const h = new H().entry(0, 'x', null, 0, 0, 1).atomic(0, [['a', 0]], [['put', 'b', '1']], { ok: true, revision: 1 }, 2, 3).put(0, 'plain', 'v', 4, 5);
    const groups = revisionGroups(h.ops).map((g) => g.keys.sort().join('+')).sort();
    expect(groups).to.deep.equal(['a+b', 'x']);
  });

  describe('getEntry', () => {
    it('accepts a value and revision that follow the writes', () => {
      expect(verdict(new H().entry(0, 'k', null, 0, 0, 1).put(0, 'k', 'a', 2, 3).entry(1, 'k', 'a', 4, 4, 5).entry(0, 'k', 'a', 4, 6, 7))).to.equal('ok');
    });
    it('rejects a stale value after a completed put', () => {
      expect(verdict(new H().put(0, 'k', 'a', 0, 1).entry(1, 'k', null, 0, 2, 3))).to.equal('violation');
    });
    it('rejects two revisions of one write (no write between them)', () => {
      expect(verdict(new H().put(0, 'k', 'a', 0, 1).entry(1, 'k', 'a', 3, 2, 3).entry(0, 'k', 'a', 4, 4, 5))).to.equal('violation');
    });
    it('rejects a revision that goes back after a later write', () => {
      expect(verdict(new H().put(0, 'k', 'a', 0, 1).entry(1, 'k', 'a', 5, 2, 3).put(0, 'k', 'b', 4, 5).entry(1, 'k', 'b', 5, 6, 7))).to.equal('violation');
    });
  });

  describe('conditional put', () => {
    it('accepts two racing puts at one revision: one ok, the other CONFLICT with the winner\'s revision', () => {
      const h = new H().put(9, 'k', 'v', -2, -1).entry(0, 'k', 'v', 5, 0, 1).entry(1, 'k', 'v', 5, 0, 1)
        .cas(0, 'k', 'a', 5, 2, 4).cas(1, 'k', 'b', 5, 2, 5, 6).entry(0, 'k', 'a', 6, 6, 7);
      expect(verdict(h)).to.equal('ok');
    });
    it('rejects a lost update: two puts both passing ifRevision 5', () => {
      const h = new H().put(9, 'k', 'v', -2, -1).entry(0, 'k', 'v', 5, 0, 1).cas(0, 'k', 'a', 5, 2, 4).cas(1, 'k', 'b', 5, 2, 5);
      expect(verdict(h)).to.equal('violation');
    });
    it('rejects a put with ifRevision 0 on a key that exists', () => {
      expect(verdict(new H().put(0, 'k', 'a', 0, 1).cas(1, 'k', 'b', 0, 2, 3))).to.equal('violation');
    });
    it('rejects a CONFLICT whose revision is the one the put asked for, or not the key\'s', () => {
      expect(verdict(new H().put(9, 'k', 'v', -2, -1).entry(0, 'k', 'v', 5, 0, 1).cas(0, 'k', 'a', 5, 2, 3, 5))).to.equal('violation');
      expect(verdict(new H().put(9, 'k', 'v', -2, -1).entry(0, 'k', 'v', 5, 0, 1).cas(0, 'k', 'a', 4, 2, 3, 7))).to.equal('violation');
      expect(verdict(new H().put(9, 'k', 'v', -2, -1).entry(0, 'k', 'v', 5, 0, 1).cas(0, 'k', 'a', 4, 2, 3, 5))).to.equal('ok');
    });
    it('accepts a put of unknown outcome whose value a later getEntry sees, and rejects its effect before its call', () => {
      expect(verdict(new H().entry(0, 'k', null, 0, 0, 1).cas(0, 'k', 'a', 0, 2, null).entry(1, 'k', 'a', 9, 5, 6))).to.equal('ok');
      expect(verdict(new H().entry(1, 'k', 'a', 9, 0, 1).cas(0, 'k', 'a', 0, 2, null))).to.equal('violation');
    });
  });

  describe('conditional delete', () => {
    it('accepts a delete at the key\'s revision', () => {
      expect(verdict(new H().put(9, 'k', 'v', -2, -1).entry(0, 'k', 'v', 3, 0, 1).casDelete(0, 'k', 3, true, 2, 3).entry(1, 'k', null, 0, 4, 5))).to.equal('ok');
    });
    it('rejects a delete passing a revision the key was not at, and one that leaves the key visible', () => {
      expect(verdict(new H().put(9, 'k', 'v', -2, -1).entry(0, 'k', 'v', 3, 0, 1).casDelete(0, 'k', 2, true, 2, 3))).to.equal('violation');
      expect(verdict(new H().put(9, 'k', 'v', -2, -1).entry(0, 'k', 'v', 3, 0, 1).casDelete(0, 'k', 3, true, 2, 3).entry(1, 'k', 'v', 3, 4, 5))).to.equal('violation');
    });
    it('rejects a CONFLICT on a delete reporting a revision other than the key\'s', () => {
      expect(verdict(new H().put(9, 'k', 'v', -2, -1).entry(0, 'k', 'v', 3, 0, 1).casDelete(0, 'k', 2, { conflict: 4 }, 2, 3))).to.equal('violation');
    });
  });

  describe('atomic commits (a multi-key model)', () => {
    const commit = (h: H, rev: number, call = 2, ret: number | null = 3) => h.atomic(0, [['a', 0], ['b', 0]], [['put', 'a', '1'], ['put', 'b', '1']], ret === null ? undefined : { ok: true, revision: rev }, call, ret);
    it('accepts a commit seen whole, at its revision, on both keys', () => {
      expect(verdict(commit(new H(), 7).entry(1, 'a', '1', 7, 4, 5).entry(1, 'b', '1', 7, 6, 7))).to.equal('ok');
    });
    it('rejects a commit seen in part: one key written, the other still absent after it returned', () => {
      expect(verdict(commit(new H(), 7).entry(1, 'a', '1', 7, 4, 5).get(1, 'b', null, 6, 7))).to.equal('violation');
    });
    it('rejects a commit of unknown outcome seen in part (one key written, the other not, read after both)', () => {
      expect(verdict(commit(new H(), 0, 2, null).entry(1, 'a', '1', 7, 4, 5).entry(1, 'b', null, 0, 6, 7))).to.equal('violation');
      expect(verdict(commit(new H(), 0, 2, null).entry(1, 'a', '1', 7, 4, 5).entry(1, 'b', '1', 7, 6, 7))).to.equal('ok');
    });
    it('rejects a commit whose check passed at a revision the key was not at', () => {
      const h = new H().put(1, 'a', 'x', 0, 1).entry(1, 'a', 'x', 4, 1, 2)
        .atomic(0, [['a', 3]], [['put', 'b', '1']], { ok: true, revision: 9 }, 3, 4);
      expect(verdict(h)).to.equal('violation');
    });
    it('rejects a failed check that names a key whose check would pass, and accepts one that names the stale key', () => {
      const base = () => new H().entry(1, 'a', null, 0, 0, 1).put(1, 'b', 'x', 0, 1).entry(1, 'b', 'x', 4, 1, 2);
      const checks: [string, number][] = [['a', 0], ['b', 3]];
      expect(verdict(base().atomic(0, checks, [['put', 'a', '1']], { ok: false, key: 'a', revision: 0 }, 3, 4))).to.equal('violation');
      expect(verdict(base().atomic(0, checks, [['put', 'a', '1']], { ok: false, key: 'b', revision: 4 }, 3, 4).get(0, 'a', null, 5, 6))).to.equal('ok');
    });
    it('rejects a commit whose revision is below one already seen in the group', () => {
      const h = new H().put(1, 'a', 'x', 0, 1).entry(1, 'a', 'x', 8, 1, 2)
        .atomic(0, [], [['put', 'a', 'y'], ['put', 'b', 'y']], { ok: true, revision: 5 }, 3, 4);
      expect(verdict(h)).to.equal('violation');
    });
  });
});
