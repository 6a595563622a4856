/**
 * SPEC §10 through the client library against real replicas in-process (port 0):
 * getEntry, conditional put and delete, CONFLICT, and compare-and-set across a failover.
 */
import { expect } from 'chai';
import { connect, Store, UnderstudyError } from '../../client/node';
import { teardownAfterEach } from '../support/teardown';
import { inProcess } from '../support/in-process';
import { waitFor } from '../support/wait';
import type { ViewService } from '../../server/viewservice';
import type { Replica } from '../../server/replica';

const teardown = teardownAfterEach();
const cluster = inProcess(teardown);

async function client(vs: ViewService): Promise<Store> {
  const store = await connect({ view: vs.url, timeoutMs: 5000 });
  teardown.push(() => store.close());
  return store;
}

/** A primary and a backup in an acknowledged view. */
async function pair(vs: ViewService): Promise<[Replica, Replica]> {
  const a = await cluster.startRep(vs);
  const b = await cluster.startRep(vs);
  await waitFor('an acknowledged view with a backup', async () => {
    const v = await (await fetch(`${vs.url.replace(/^ws/, 'http')}/view`)).json() as { primary: string; backup: string; acked: boolean };
    return v.primary === a.id && v.backup === b.id && v.acked;
  }, 5000, 10);
  return [a, b];
}

async function rejection(p: Promise<unknown>): Promise<UnderstudyError> {
  try { await p; } catch (err) { expect(err).to.be.instanceOf(UnderstudyError); return err as UnderstudyError; }
  throw new Error('expected the promise to reject');
}

/** One compare-and-set increment: read, then write at the revision read, until it wins. */
async function increment(store: Store, key: string): Promise<void> {
  for (;;) {
    const e = await store.getEntry(key);
    try {
      await store.put(key, String(Number(e.value ?? '0') + 1), { ifRevision: e.revision });
      return;
    } catch (err) {
      if (!(err instanceof UnderstudyError) || err.code !== 'CONFLICT') throw err;
    }
  }
}

describe('integration: operations for applications (SPEC §10)', () => {
  it('getEntry returns { key, value, revision }; a missing key has value null and revision 0 (SPEC §10)', async () => {
    const vs = await cluster.startVs();
    await pair(vs);
    const store = await client(vs);
    expect(await store.getEntry('k')).to.deep.equal({ key: 'k', value: null, revision: 0 });
    await store.put('k', 'v');
    await store.put('other', 'x');
    expect(await store.getEntry('k')).to.deep.equal({ key: 'k', value: 'v', revision: 1 });
  });

  it('a stale ifRevision rejects CONFLICT with err.revision = the key\'s current one, nothing written (SPEC §10)', async () => {
    const vs = await cluster.startVs();
    await pair(vs);
    const store = await client(vs);
    await store.put('k', 'v1', { ifRevision: 0 });
    const err = await rejection(store.put('k', 'v2', { ifRevision: 0 }));
    expect([err.code, err.revision]).to.deep.equal(['CONFLICT', 1]);
    expect(await store.get('k')).to.equal('v1');
    const del = await rejection(store.delete('k', { ifRevision: 5 }));
    expect([del.code, del.revision]).to.deep.equal(['CONFLICT', 1]);
    expect(await store.delete('k', { ifRevision: 1 })).to.equal(true);
    expect(await store.getEntry('k')).to.deep.equal({ key: 'k', value: null, revision: 0 });
  });

  it('refuses a bad ifRevision with BAD_REQUEST before sending (SPEC §10)', async () => {
    const vs = await cluster.startVs();
    await pair(vs);
    const store = await client(vs);
    for (const bad of [-1, 1.5, NaN, '3' as unknown as number]) {
      expect((await rejection(store.put('k', 'v', { ifRevision: bad }))).code).to.equal('BAD_REQUEST');
    }
    expect((await rejection(store.append('k', 'v', { ifRevision: 0 } as never))).code).to.equal('BAD_REQUEST');
    expect(await store.get('k')).to.equal(null);
  });

  it('4 clients × 50 compare-and-set increments with the primary closed midway: exactly 200 (SPEC §10, §1)', async () => {
    const vs = await cluster.startVs();
    const [a] = await pair(vs);
    const stores = await Promise.all([0, 1, 2, 3].map(() => client(vs)));
    let done = 0;
    const runs = stores.map(async (s) => { for (let i = 0; i < 50; i++) { await increment(s, 'n'); done++; } });
    await waitFor('some increments', () => done >= 60, 10_000, 5);
    await a.close();
    await cluster.startRep(vs); // a new backup, so the run goes on replicated
    await Promise.all(runs);
    expect(await stores[0].get('n')).to.equal('200');
  });

  it('list pages a prefix in key order with limit and after; revision then watch(fromRevision) misses nothing (SPEC §10)', async () => {
    const vs = await cluster.startVs();
    await pair(vs);
    const store = await client(vs);
    for (let i = 0; i < 25; i++) await store.put(`u:${String(i).padStart(2, '0')}`, `v${i}`);
    await store.put('other', 'x');
    const keys: string[] = [];
    let page = await store.list('u:', { limit: 10 });
    expect(page.entries[0]).to.deep.equal({ key: 'u:00', value: 'v0', revision: 1 });
    for (;;) {
      keys.push(...page.entries.map((e) => e.key));
      if (!page.more) break;
      page = await store.list('u:', { limit: 10, after: keys[keys.length - 1], keysOnly: true });
      expect(page.entries[0]).to.not.have.property('value');
    }
    expect(keys).to.deep.equal(Array.from({ length: 25 }, (_, i) => `u:${String(i).padStart(2, '0')}`));
    expect(page.revision).to.equal(26);
    const seen: string[] = [];
    await store.put('u:99', 'late');
    store.watch('u:*', (e) => seen.push(e.key), { fromRevision: page.revision });
    await waitFor('the write after the page', () => seen.includes('u:99'), 5000, 5);
    expect((await rejection(store.list('u:', { limit: 0 }))).code).to.equal('BAD_REQUEST');
    expect((await rejection(store.list('u:', { limit: 10_001 }))).code).to.equal('BAD_REQUEST');
  });

  it('atomic(): one revision for all its writes, watchers get all its events; a failed check writes nothing (SPEC §10)', async () => {
    const vs = await cluster.startVs();
    await pair(vs);
    const store = await client(vs);
    await store.put('a', '3');
    const events: string[] = [];
    store.watch('*', (e) => events.push(`${e.key}=${e.value}@${e.revision}`), { fromRevision: 1 });
    const res = await store.atomic().check('a', 1).check('b', 0).put('a', '1').put('b', '2').append('d', '!').commit();
    expect(res).to.deep.equal({ ok: true, revision: 2 });
    const stale = await store.atomic().check('a', 1).put('a', 'never').commit();
    expect(stale).to.deep.equal({ ok: false, key: 'a', revision: 2 });
    expect(await store.get('a')).to.equal('1');
    await waitFor('the commit\'s events', () => events.length >= 3, 5000, 5);
    expect(events).to.deep.equal(['a=1@2', 'b=2@2', 'd=!@2']);
    const tooMany = store.atomic();
    for (let i = 0; i < 1001; i++) tooMany.put(`k${i}`, 'v');
    expect((await rejection(tooMany.commit())).code).to.equal('BAD_REQUEST');
    const big = store.atomic();
    for (let i = 0; i < 3; i++) big.put(`big${i}`, 'x'.repeat(900 * 1024));
    expect((await rejection(big.commit())).code).to.equal('TOO_LARGE');
    expect(await store.get('k0')).to.equal(null);
  });
});
