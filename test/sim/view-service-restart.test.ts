/**
 * The view service restarting, with the real ViewMachine and ReplicaMachines over the
 * simulated network (docs/VIEW-SERVICE-RESTART.md): replicas report what they know in their
 * pings, a view service without its state learns the view from them, one with its storage
 * resumes. Nothing acknowledged is lost, no view number is reused, the cluster serves again.
 */
import { expect } from 'chai';
import { SimNetwork, SimClient } from '../support/sim-network';
import { MemoryViewStorage } from '../../common/recovery';
import type { ResMsg } from '../../common/messages';
import type { View } from '../../common/view';

const A = 'ws://a';
const B = 'ws://b';
const C = 'ws://c';

const ok = (value: unknown) => (r: ResMsg | undefined) => r !== undefined && r.ok && r.value === value;

/** A, B, C joined in that order; view {A, B} acknowledged. */
function cluster(o: { storage?: MemoryViewStorage } = {}): SimNetwork {
  const net = new SimNetwork({ vs: true, reports: true, storage: o.storage });
  net.add(A);
  net.settle(8); // the recovery window of a fresh view service, then view 1
  net.add(B, C);
  net.settle(3);
  expect(net.vs?.view).to.deep.include({ primary: A, backup: B });
  expect(net.vs?.acked).to.equal(true);
  return net;
}

/** Put k=v at the view's primary and deliver; returns the reply. */
function put(net: SimNetwork, c: SimClient, key: string, value: string): ResMsg | undefined {
  const seq = c.send(net.vs?.view.primary as string, 'put', key, value);
  net.deliver();
  return c.reply(seq);
}

function get(net: SimNetwork, c: SimClient, key: string): ResMsg | undefined {
  const seq = c.send(net.vs?.view.primary as string, 'get', key);
  net.deliver();
  return c.reply(seq);
}

describe('sim: view-service restarts (docs/VIEW-SERVICE-RESTART.md)', () => {
  it('without its state it recovers the view from the reports: same view, same primary, nothing lost', () => {
    const net = cluster();
    const c = net.client('c', 1);
    expect(put(net, c, 'k', 'v1')).to.satisfy(ok(null));
    const before = net.vs?.view as View;
    net.restartVs(null);
    expect(net.vs?.recovering).to.equal(true);
    net.settle(8);
    expect(net.vs?.recovering).to.equal(false);
    expect(net.vs?.view).to.deep.equal(before);
    expect(net.vs?.acked).to.equal(true);
    expect(get(net, c, 'k')).to.satisfy(ok('v1'));
    expect(put(net, c, 'k', 'v2')).to.satisfy(ok(null));
  });

  it('a fresh replica that pings first never becomes primary: the replicas with the data report within the window', () => {
    const net = cluster();
    const c = net.client('c', 1);
    put(net, c, 'k', 'v1');
    net.restartVs(null);
    net.restart(C); // a fresh process, and the first the view service hears
    net.cutVs(A);
    net.cutVs(B);
    net.settle(2);
    expect(net.vs?.view.viewnum).to.equal(0);
    net.heal();
    net.settle(8);
    expect(net.vs?.view).to.deep.include({ primary: A, backup: B });
    expect(get(net, c, 'k')).to.satisfy(ok('v1'));
  });

  it('replicas unreachable for the whole window: a fresh view forms, and when they report their newer view it is adopted again', () => {
    const net = cluster();
    const c = net.client('c', 1);
    put(net, c, 'k', 'v1');
    const before = net.vs?.view as View;
    net.restartVs(null);
    net.restart(C);
    net.cutVs(A);
    net.cutVs(B);
    net.settle(20);
    expect(net.vs?.view).to.deep.include({ viewnum: 1, primary: C }); // the documented limit
    net.heal();
    net.settle(8);
    expect(net.vs?.view.viewnum).to.be.at.least(before.viewnum);
    expect(net.vs?.view).to.deep.include({ primary: A, backup: B });
    expect(get(net, c, 'k')).to.satisfy(ok('v1'));
  });

  it('restarted right after a view change, the transfer pending: the view waits for the acknowledgement (SPEC §2.3)', () => {
    const net = cluster();
    const c = net.client('c', 1);
    put(net, c, 'k', 'v1');
    net.hold(A, C);
    net.crash(B); // view {A, C}: A's transfer to C is held
    net.tickVs();
    net.deliver();
    const pending = net.vs?.view as View;
    expect(pending).to.deep.include({ primary: A, backup: C });
    expect(net.vs?.acked).to.equal(false);
    const seq = c.send(A, 'put', 'k', 'v2'); // waits behind the transfer
    net.deliver();
    expect(c.reply(seq)).to.equal(undefined);
    net.restartVs(null);
    net.settle(8);
    expect(net.vs?.view).to.deep.equal(pending);
    expect(net.vs?.acked).to.equal(false);
    net.release(A, C);
    net.settle(2);
    expect(net.vs?.acked).to.equal(true);
    expect(c.reply(seq)).to.satisfy(ok(null));
    expect(get(net, c, 'k')).to.satisfy(ok('v2'));
  });

  it('the primary crashes while the view service is down: its backup takes over with every acknowledged write', () => {
    const net = cluster();
    const c = net.client('c', 1);
    put(net, c, 'k', 'v1');
    const before = net.vs?.view as View;
    net.restartVs(null);
    net.restart(A); // a new process: its state is gone
    net.settle(8);
    expect(net.vs?.view.viewnum).to.be.greaterThan(before.viewnum);
    expect(net.vs?.view.primary).to.equal(B);
    net.settle(3);
    expect(get(net, c, 'k')).to.satisfy(ok('v1'));
  });

  it('with its storage it resumes at once (no recovery) and numbers the next views on', () => {
    const storage = new MemoryViewStorage();
    const net = cluster({ storage });
    const c = net.client('c', 1);
    put(net, c, 'k', 'v1');
    const before = net.vs?.view as View;
    net.restartVs();
    expect(net.vs?.recovering).to.equal(false);
    expect(net.vs?.view).to.deep.equal(before);
    net.crash(A);
    net.settle(3);
    // B alone first (C has not pinged the new process yet), then C joins as backup.
    expect(net.vs?.view).to.deep.include({ viewnum: before.viewnum + 2, primary: B, backup: C });
    expect(get(net, c, 'k')).to.satisfy(ok('v1'));
  });

  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`random restarts of the view service (with and without storage) and of one replica at a time keep every acknowledged write (seed ${seed})`, () => {
      let s = seed;
      const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
      const storage = new MemoryViewStorage();
      const net = cluster({ storage });
      const c = net.client('c', 1);
      const acked = new Map<string, string>();
      const seen: number[] = [];
      for (let round = 0; round < 60; round++) {
        const key = `k${Math.floor(rand() * 5)}`;
        const value = `${round}`;
        const primary = net.vs?.view.primary;
        if (primary && net.nodes.has(primary)) {
          const seq = c.send(primary, 'put', key, value);
          net.deliver();
          const r = c.reply(seq);
          if (r?.ok) acked.set(key, value);
        }
        const x = rand();
        if (x < 0.15) net.restartVs(rand() < 0.5 ? storage : null);
        else if (x < 0.25) {
          // Restart one replica, but only when the view has a synced backup for its primary.
          const v = net.vs?.view;
          if (v && v.backup && net.vs?.acked && !net.vs?.recovering) net.restart([A, B, C][Math.floor(rand() * 3)]);
        }
        net.settle(8);
        const v = net.vs?.view as View;
        if (!net.vs?.recovering) seen.push(v.viewnum);
      }
      for (let i = 1; i < seen.length; i++) expect(seen[i], 'view numbers never go back').to.be.at.least(seen[i - 1]);
      net.settle(10);
      expect(net.vs?.recovering).to.equal(false);
      for (const [key, value] of acked) expect(get(net, c, key), `${key} was acknowledged as ${value}`).to.satisfy(ok(value));
    });
  }
});
