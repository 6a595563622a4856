/**
 * ReplicaMachine#pendingBytes (issue #5): the memory the requests waiting for the backup
 * hold, so the shell can bound it in bytes as well as in number.
 */
import { expect } from 'chai';
import { makeView } from '../../common/view';
import type { ReqMsg } from '../../common/messages';
import { B, primaryOfView2 } from '../support/replica-fixtures';

function put(seq: number, value: string): ReqMsg {
  return { type: 'req', client: 'c', seq, ack: 1, op: 'put', key: 'k', value };
}


describe('ReplicaMachine#pendingBytes', () => {
  it('grows with each waiting request by about its size, and falls as the backup acknowledges', () => {
    const p = primaryOfView2();
    expect(p.pendingBytes()).to.equal(0);
    p.step({ kind: 'clientOp', conn: 1, req: put(1, 'v'.repeat(100_000)) });
    p.step({ kind: 'clientOp', conn: 1, req: put(2, 'v'.repeat(50_000)) });
    expect(p.pendingCount()).to.equal(2);
    expect(p.pendingBytes()).to.be.within(150_000, 150_000 + 2 * 200);
    p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 1 } });
    expect(p.pendingBytes()).to.be.within(50_000, 50_000 + 200);
    p.step({ kind: 'fromBackup', msg: { type: 'fwdack', viewnum: 2, index: 2 } });
    expect(p.pendingBytes()).to.equal(0);
  });

  it('is 0 once the primary steps down (every waiting request answered NOT_PRIMARY)', () => {
    const p = primaryOfView2();
    p.step({ kind: 'clientOp', conn: 1, req: put(1, 'v'.repeat(1000)) });
    expect(p.pendingBytes()).to.be.greaterThan(1000);
    p.step({ kind: 'view', view: makeView(3, B, null), holders: { primary: 'ib', backup: null } });
    expect(p.pendingCount()).to.equal(0);
    expect(p.pendingBytes()).to.equal(0);
  });
});
