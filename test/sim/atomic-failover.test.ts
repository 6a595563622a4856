/**
 * SPEC §10: an atomic commit in flight when the primary dies is all or none after the
 * failover (it is one log entry, forwarded as one op), and a retry applies it once.
 */
import { expect } from 'chai';
import { SimNetwork } from '../support/sim-network';
import { makeView } from '../../common/view';
import type { ReqMsg } from '../../common/messages';

const A = 'ws://a';
const B = 'ws://b';
const C = 'ws://c';

function pairAB(): SimNetwork {
  const net = new SimNetwork();
  net.add(A, B, C);
  net.setView(makeView(1, A, null));
  net.setView(makeView(2, A, B));
  net.deliver();
  return net;
}

const commit: ReqMsg = {
  type: 'req', client: 'cl', seq: 1, ack: 1, op: 'atomic', key: '',
  checks: [['a', 0]], ops: [['put', 'a', '1'], ['put', 'b', '2'], ['append', 'c', '!']],
};
const keys = (net: SimNetwork, id: string) => ['a', 'b', 'c'].map((k) => net.m(id).store.get(k) ?? null);

describe('sim: an atomic commit across a failover (SPEC §10)', () => {
  it('the primary dies before the forward reaches the backup: none of it is visible; the retry applies all of it once', () => {
    const net = pairAB();
    net.hold(A, B);
    net.clientOp(A, commit);
    net.flushAll();
    net.crash(A);
    net.setView(makeView(3, B, C));
    net.deliver();
    expect(keys(net, B)).to.deep.equal([null, null, null]);
    net.clientOp(B, commit, 1);
    net.deliver();
    const rev = net.m(B).store.revision;
    expect(keys(net, B)).to.deep.equal(['1', '2', '!']);
    expect(['a', 'b', 'c'].map((k) => net.m(B).store.revisionOf(k))).to.deep.equal([rev, rev, rev]);
    net.clientOp(B, commit, 1); // a second retry: the recorded result, nothing applied again
    net.deliver();
    expect(net.m(B).store.revision).to.equal(rev);
    expect(keys(net, C)).to.deep.equal(['1', '2', '!']);
  });

  it('the primary dies after the backup applied the forward: all of it is visible, and the retry answers the first result', () => {
    const net = pairAB();
    net.clientOp(A, commit);
    net.deliver();
    const first = net.repliesOn(0).find((r) => r.seq === 1);
    expect(first).to.include({ ok: true });
    net.crash(A);
    net.setView(makeView(3, B, C));
    net.deliver();
    expect(keys(net, B)).to.deep.equal(['1', '2', '!']);
    net.clientOp(B, commit, 1);
    net.deliver();
    expect(net.repliesOn(1).find((r) => r.seq === 1)).to.deep.equal(first);
  });
});
