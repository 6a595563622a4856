/**
 * Starting points the replica suites share, so each scenario reads from its first step.
 */
import { expect } from 'chai';
import { ReplicaMachine } from '../../server/replica/replica-machine';
import { makeView } from '../../common/view';
import { SimNetwork } from './sim-network';
import { takeEffects } from './effects';

export const A = 'ws://a';
export const B = 'ws://b';
export const C = 'ws://c';

/** A simulated cluster: view {A, B} acknowledged by the real view service, C idle. */
export function clusterABC(): SimNetwork {
  const net = new SimNetwork({ vs: true, deadPings: 3 }).add(A);
  net.settle(2);
  net.add(B, C);
  net.settle(3);
  expect(net.vs?.view).to.deep.include({ primary: A, backup: B });
  expect(net.vs?.acked).to.equal(true);
  return net;
}

/** One machine: primary A of view 2 {A, B}, transfer acknowledged, so requests wait for fwdacks. */
export function primaryOfView2(): ReplicaMachine {
  const p = new ReplicaMachine({ me: A, incarnation: 'ia' });
  p.step({ kind: 'view', view: makeView(1, A, null), holders: { primary: 'ia', backup: null } });
  p.step({ kind: 'view', view: makeView(2, A, B), holders: { primary: 'ia', backup: 'ib' } });
  p.step({ kind: 'backupLinkUp' });
  p.step({ kind: 'fromBackup', msg: { type: 'xferack', viewnum: 2, index: 0 } });
  takeEffects(p);
  return p;
}
