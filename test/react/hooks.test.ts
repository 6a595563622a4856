/**
 * understudy/react (SPEC §13) against an in-memory store with the client's guarantees
 * (test/react/fake-store.ts), in happy-dom with @testing-library/react: what each hook
 * returns, that a component re-renders only when what it reads changes, no tearing, one
 * shared watch per key, and that unmounting stops it.
 */
import { expect } from 'chai';
import * as React from 'react';
import { useKey, useWatch, useWatchState, useView, useConnectionState } from '../../client/react';
import type { Store } from '../../client/index';
import { FakeStore } from './fake-store';
import { installDom, loadRtl, type Rtl } from './dom';

const h = React.createElement;
/** Let queued microtasks and I/O callbacks run (the fake store answers in microtasks). */
/** Turns until `done()` holds (at most 1000). */
async function until(done: () => unknown): Promise<void> {
  for (let i = 0; i < 1000 && !done(); i++) await turn();
  if (!done()) throw new Error('condition not reached');
}
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('understudy/react hooks (SPEC §13)', () => {
  let uninstall: () => Promise<void>;
  let rtl: Rtl;
  before(() => {
    uninstall = installDom();
    rtl = loadRtl();
  });
  afterEach(() => rtl.cleanup());
  after(async () => { await uninstall(); });

  /** Render, then let the first reads complete. */
  async function mount(ui: React.ReactElement): Promise<ReturnType<Rtl['render']>> {
    const r = rtl.render(ui);
    await rtl.act(turn);
    return r;
  }
  const act = (fn: () => void): Promise<void> => rtl.act(async () => { fn(); await turn(); });

  function KeyText({ store, k, renders }: { store: Store | null; k: string; renders?: string[] }): React.ReactElement {
    const s = useKey(store, k);
    renders?.push(k);
    const text = s.error ? `error ${s.error.message}` : s.loading ? 'loading' : `${s.value}@${s.revision}`;
    return h('span', { 'data-testid': k }, text);
  }

  it('useKey gives { value, revision, loading, error }: loading first, then the value and revision, then each write live (SPEC §13)', async () => {
    const fake = new FakeStore();
    fake.write('other', 'x');
    const rev = fake.write('greeting', 'hello');
    const r = rtl.render(h(KeyText, { store: fake.asStore, k: 'greeting' }));
    expect(r.getByTestId('greeting').textContent).to.equal('loading');
    await rtl.act(turn);
    expect(r.getByTestId('greeting').textContent).to.equal(`hello@${rev}`);
    let rev2 = 0;
    await act(() => { rev2 = fake.write('greeting', 'hi'); });
    expect(r.getByTestId('greeting').textContent).to.equal(`hi@${rev2}`);
    let rev3 = 0;
    await act(() => { rev3 = fake.write('greeting', null); });
    expect(r.getByTestId('greeting').textContent).to.equal(`null@${rev3}`);
  });

  it('useKey of a key never written: value null, revision 0, not loading once read (SPEC §10: revision 0 = never written)', async () => {
    const fake = new FakeStore();
    const r = await mount(h(KeyText, { store: fake.asStore, k: 'nothing' }));
    expect(r.getByTestId('nothing').textContent).to.equal('null@0');
  });

  it('a component re-renders only when its own key changes (SPEC §13)', async () => {
    const fake = new FakeStore();
    fake.write('a', '1');
    fake.write('b', '1');
    const renders: string[] = [];
    const r = await mount(h('div', null, h(KeyText, { store: fake.asStore, k: 'a', renders }), h(KeyText, { store: fake.asStore, k: 'b', renders })));
    const count = (k: string): number => renders.filter((x) => x === k).length;
    const [a0, b0] = [count('a'), count('b')];
    for (let i = 2; i <= 5; i++) await act(() => { fake.write('b', String(i)); });
    expect(count('a')).to.equal(a0);
    expect(count('b')).to.equal(b0 + 4);
    await act(() => { fake.write('c', 'unrelated'); });
    expect(count('a')).to.equal(a0);
    expect(count('b')).to.equal(b0 + 4);
    expect(r.getByTestId('b').textContent).to.match(/^5@/);
  });

  it('a long history replays as one render, not one per write (loading ends once)', async () => {
    const fake = new FakeStore();
    const renders: string[] = [];
    rtl.render(h(KeyText, { store: fake.asStore, k: 'n', renders }));
    // Writes land while the first read is in flight: folded in without a render each.
    for (let i = 0; i < 50; i++) fake.write('n', String(i));
    await rtl.act(turn);
    expect(renders.length).to.be.at.most(3);
  });

  it('no tearing: two components reading one key show the same revision in every commit, even when it changes during a render (useSyncExternalStore)', async () => {
    const fake = new FakeStore();
    fake.write('k', 'v0');
    const commits: [string, string][] = [];
    let writeDuringRender = false;
    function Middle(): React.ReactElement {
      // A slow component: React yields to the event loop after it (time slicing), and the
      // write scheduled here lands then, between rendering the first reader and the second.
      if (writeDuringRender) { writeDuringRender = false; setImmediate(() => fake.write('k', 'changed mid-render')); }
      const end = performance.now() + 10;
      while (performance.now() < end) { /* busy: a slow render */ }
      return h('i');
    }
    /** What each reader rendered, in render order (renders, not commits). */
    const rendered: string[] = [];
    function Reader({ id }: { id: string }): React.ReactElement {
      const s = useKey(fake.asStore, 'k');
      const text = s.loading ? 'loading' : `${s.value}@${s.revision}`;
      rendered.push(`${id} ${text}`);
      return h('span', { 'data-testid': id }, text);
    }
    const texts = (): [string, string] => [document.querySelector('[data-testid=k1]')!.textContent!, document.querySelector('[data-testid=k2]')!.textContent!];
    function App({ tick }: { tick: number }): React.ReactElement {
      React.useLayoutEffect(() => { commits.push(texts()); });
      return h('div', { 'data-tick': tick }, h(Reader, { id: 'k1' }), h(Middle), h(Middle), h(Middle), h(Reader, { id: 'k2' }));
    }
    // Outside act(): React's own scheduler, so the transition renders concurrently, the
    // mode in which a store can change in the middle of a render.
    const { createRoot } = require('react-dom/client') as typeof import('react-dom/client');
    const g = globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean };
    g.IS_REACT_ACT_ENVIRONMENT = false;
    const container = document.createElement('div');
    document.body.appendChild(container);
    const root = createRoot(container);
    try {
      root.render(h(App, { tick: 0 }));
      await until(() => commits.length > 0 && container.textContent === 'v0@1v0@1' || undefined);
      writeDuringRender = true;
      React.startTransition(() => root.render(h(App, { tick: 1 })));
      await until(() => fake.revision === 2 || undefined);
      expect(fake.activeWatches, 'one watch shared by both readers').to.equal(1);
      await until(() => container.querySelector('[data-tick="1"]') && container.textContent?.startsWith('changed') || undefined);
    } finally {
      root.unmount();
      container.remove();
      g.IS_REACT_ACT_ENVIRONMENT = true;
    }
    // The write did land mid-render: k1 was rendered with the old value in the render
    // where k2 got the new one; React rendered again before committing.
    expect(rendered).to.include('k1 v0@1').and.to.include('k2 changed mid-render@2');
    expect(commits.length).to.be.at.least(2);
    for (const [one, two] of commits) expect(one, 'the readers in one commit').to.equal(two);
    expect(commits[commits.length - 1]).to.deep.equal(['changed mid-render@2', 'changed mid-render@2']);
  });

  it('components reading one key share one watch; unmounting the last stops it (SPEC §13)', async () => {
    const fake = new FakeStore();
    fake.write('k', 'v');
    function Both({ n }: { n: number }): React.ReactElement {
      return h('div', null, ...Array.from({ length: n }, (_, i) => h(KeyText, { key: i, store: fake.asStore, k: 'k' })));
    }
    const r = await mount(h(Both, { n: 3 }));
    expect(fake.activeWatches).to.equal(1);
    expect(fake.gets).to.equal(1);
    await act(() => r.rerender(h(Both, { n: 1 })));
    expect(fake.activeWatches).to.equal(1);
    r.unmount();
    expect(fake.activeWatches).to.equal(0);
    // A later write reaches nobody, and a new reader starts a new watch with the current value.
    const rev = fake.write('k', 'later');
    const r2 = await mount(h(KeyText, { store: fake.asStore, k: 'k' }));
    expect(r2.getByTestId('k').textContent).to.equal(`later@${rev}`);
    expect(fake.watched).to.deep.equal(['k', 'k']);
  });

  it('useWatch gives the matching entries in key order, live, deletions included (SPEC §13)', async () => {
    const fake = new FakeStore();
    fake.write('todo:b', 'B');
    fake.write('todo:a', 'A');
    fake.write('other', 'x');
    function List(): React.ReactElement {
      const entries = useWatch(fake.asStore, 'todo:*');
      return h('ul', null, ...entries.map((e) => h('li', { key: e.key }, `${e.key}=${e.value}`)));
    }
    const r = await mount(h(List));
    const items = (): string[] => Array.from(r.container.querySelectorAll('li')).map((li) => li.textContent ?? '');
    expect(items()).to.deep.equal(['todo:a=A', 'todo:b=B']);
    await act(() => { fake.write('todo:0', 'zero'); fake.write('todo:c', 'C'); fake.write('nottodo', 'n'); });
    expect(items()).to.deep.equal(['todo:0=zero', 'todo:a=A', 'todo:b=B', 'todo:c=C']);
    await act(() => { fake.write('todo:a', null); fake.write('todo:b', 'B2'); });
    expect(items()).to.deep.equal(['todo:0=zero', 'todo:b=B2', 'todo:c=C']);
    expect(fake.watched).to.deep.equal(['todo:*']);
  });

  it('useWatchState reports loading, then entries with the prefix revision; a component not reading the prefix does not re-render', async () => {
    const fake = new FakeStore();
    const seen: { loading: boolean; n: number; revision: number }[] = [];
    const renders: string[] = [];
    function State(): React.ReactElement {
      const s = useWatchState(fake.asStore, 'p:*');
      seen.push({ loading: s.loading, n: s.entries.length, revision: s.revision });
      return h('b');
    }
    await mount(h('div', null, h(State), h(KeyText, { store: fake.asStore, k: 'q', renders })));
    const before = renders.length;
    const rev = await (async () => { let r = 0; await act(() => { r = fake.write('p:1', 'x'); }); return r; })();
    expect(seen[0]).to.deep.equal({ loading: true, n: 0, revision: 0 });
    expect(seen[seen.length - 1]).to.deep.equal({ loading: false, n: 1, revision: rev });
    expect(renders.length).to.equal(before);
  });

  it('useView and useConnectionState follow the store\'s view and state events, and stop listening on unmount (SPEC §13)', async () => {
    const fake = new FakeStore();
    function Status(): React.ReactElement {
      const view = useView(fake.asStore);
      const state = useConnectionState(fake.asStore);
      return h('p', null, `${view.viewnum} ${view.primary} ${state}`);
    }
    const r = await mount(h(Status));
    expect(r.container.textContent).to.equal('1 ws://p connected');
    await act(() => { fake.setState('reconnecting'); fake.setView({ viewnum: 2, primary: 'ws://b', backup: null }); });
    expect(r.container.textContent).to.equal('2 ws://b reconnecting');
    expect(fake.listeners('view')).to.equal(1);
    expect(fake.listeners('state')).to.equal(1);
    r.unmount();
    expect(fake.listeners('view')).to.equal(0);
    expect(fake.listeners('state')).to.equal(0);
  });

  it('without a store (connect() still pending) every hook returns its loading state', async () => {
    function All(): React.ReactElement {
      const k = useKey(null, 'k');
      const list = useWatch(undefined, 'x*');
      const view = useView(null);
      const state = useConnectionState(null);
      return h('p', null, `${k.loading} ${list.length} ${view.viewnum} ${state}`);
    }
    const r = await mount(h(All));
    expect(r.container.textContent).to.equal('true 0 0 connecting');
  });

  it('a watch the store refuses (watch() throws) is reported as error, not thrown into React', async () => {
    const fake = new FakeStore();
    fake.watch = () => { throw Object.assign(new Error('the store is closed; connect() again to watch'), { code: 'CLOSED' }); };
    const r = await mount(h(KeyText, { store: fake.asStore, k: 'k' }));
    expect(r.getByTestId('k').textContent).to.equal('error the store is closed; connect() again to watch');
  });
});
