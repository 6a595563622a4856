/**
 * understudy/react against real servers (SPEC §13 with SPEC §7's watch guarantees): the
 * hooks on a real client, first with an in-process view service and replicas (port 0),
 * then with real processes and `kill -9` of the primary: the revisions a component renders
 * never go backwards, and the last write shows.
 *
 * Rendering here is outside act(): the updates come from sockets, and the test waits on
 * conditions, like the other integration suites.
 */
import { expect } from 'chai';
import * as React from 'react';
import { useKey, useWatch } from '../../client/react';
import { connect, type Store } from '../../client/node';
import { inProcess } from '../support/in-process';
import { waitForView, getJson, type ViewStatus } from '../support/processes';
import { startCluster } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';
import { waitFor } from '../support/wait';
import { installDom } from './dom';

const h = React.createElement;

interface Mounted { container: HTMLElement; unmount(): void }

describe('understudy/react on a real cluster (SPEC §13, §7)', function () {
  this.timeout(60_000);
  let uninstall: () => Promise<void>;
  const mounted: Mounted[] = [];
  before(() => {
    uninstall = installDom();
    (globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = false;
  });
  afterEach(() => { for (const m of mounted.splice(0)) m.unmount(); });
  after(async () => { await uninstall(); });

  function mount(ui: React.ReactElement): Mounted {
    const { createRoot } = require('react-dom/client') as typeof import('react-dom/client');
    const container = document.createElement('div');
    document.body.appendChild(container);
    const root = createRoot(container);
    root.render(ui);
    const m = { container, unmount: () => { root.unmount(); container.remove(); } };
    mounted.push(m);
    return m;
  }

  /** Renders `key` and records every (value, revision) it rendered once loaded. */
  function KeyProbe({ store, k, seen }: { store: Store; k: string; seen: { value: string | null; revision: number }[] }): React.ReactElement {
    const s = useKey(store, k);
    if (!s.loading) seen.push({ value: s.value, revision: s.revision });
    return h('span', null, s.loading ? 'loading' : `${s.value}@${s.revision}`);
  }

  describe('in-process view service and replicas', () => {
    const teardown = teardownAfterEach();
    const { startVs, startRep } = inProcess(teardown);

    async function store(url: string): Promise<Store> {
      const s = await connect({ view: url, timeoutMs: 5000 });
      teardown.push(() => s.close());
      return s;
    }

    it('useKey\'s first loaded render already has the key\'s value and the revision of its last write, then follows writes live (SPEC §13)', async () => {
      const vs = await startVs();
      await startRep(vs);
      await startRep(vs);
      const writer = await store(vs.url);
      await writer.put('greeting', 'hello');
      const rev1 = writer.revision;
      await writer.put('unrelated', 'x');
      const reader = await store(vs.url);
      const seen: { value: string | null; revision: number }[] = [];
      const m = mount(h(KeyProbe, { store: reader, k: 'greeting', seen }));
      await waitFor('loaded', () => seen.length > 0);
      expect(seen[0]).to.deep.equal({ value: 'hello', revision: rev1 });
      await writer.put('greeting', 'hi');
      const rev2 = writer.revision;
      await waitFor('the write shown', () => m.container.textContent === `hi@${rev2}`);
      expect(seen.every((x) => x.value !== null), 'never null once loaded').to.equal(true);
    });

    it('useWatch lists a prefix in key order and follows puts and deletes (SPEC §13)', async () => {
      const vs = await startVs();
      await startRep(vs);
      const s = await store(vs.url);
      await s.put('todo:2', 'bread');
      await s.put('todo:1', 'milk');
      function List(): React.ReactElement {
        const entries = useWatch(s, 'todo:*');
        return h('ul', null, ...entries.map((e) => h('li', { key: e.key }, `${e.key}=${e.value}`)));
      }
      const m = mount(h(List));
      const items = (): string => Array.from(m.container.querySelectorAll('li')).map((li) => li.textContent).join(',');
      await waitFor('listed', () => items() === 'todo:1=milk,todo:2=bread');
      await s.put('todo:0', 'eggs');
      await s.delete('todo:2');
      await waitFor('updated', () => items() === 'todo:0=eggs,todo:1=milk');
    });
  });

  describe('real processes', () => {
    const teardown = teardownAfterEach();

    it('the revisions useKey renders never go backwards across kill -9 of the primary, and the last write shows (SPEC §13, §7)', async () => {
      const c = await startCluster(3, { teardown });
      const writer = await connect({ view: c.vs.url, timeoutMs: 10_000 });
      const reader = await connect({ view: c.vs.url, timeoutMs: 10_000 });
      teardown.push(() => writer.close(), () => reader.close());
      const seen: { value: string | null; revision: number }[] = [];
      const m = mount(h(KeyProbe, { store: reader, k: 'n', seen }));
      await waitFor('loaded', () => seen.length > 0);
      const v = await getJson<ViewStatus>(`${c.vs.http}/view`);
      const LAST = 60;
      for (let i = 1; i <= LAST; i++) {
        if (i === 20) await c.byId(v.primary).kill('SIGKILL');
        await writer.put('n', String(i));
      }
      await waitForView(c.vs, (x) => x.viewnum > v.viewnum && x.primary !== v.primary);
      await waitFor('the last write shown', () => m.container.textContent?.startsWith(`${LAST}@`));
      for (let i = 1; i < seen.length; i++) {
        expect(seen[i].revision, `render ${i} of ${seen.length}`).to.be.at.least(seen[i - 1].revision);
        if (seen[i].revision > seen[i - 1].revision) expect(Number(seen[i].value)).to.be.greaterThan(Number(seen[i - 1].value ?? 0));
      }
      expect(new Set(seen.map((x) => x.value)).size, 'values rendered before and after the failover').to.be.greaterThan(2);
    });
  });
});
