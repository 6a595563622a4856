/**
 * understudy/react under server-side rendering (SPEC §13: "safe under server-side
 * rendering"): react-dom/server renders every hook's loading state through
 * getServerSnapshot without touching the store or a WebSocket, and the page hydrates in a
 * DOM without a mismatch, then goes live.
 */
import { expect } from 'chai';
import * as React from 'react';
import { renderToString } from 'react-dom/server';
import { useKey, useWatch, useView, useConnectionState } from '../../client/react';
import type { Store } from '../../client/index';
import { FakeStore } from './fake-store';
import { installDom, loadRtl } from './dom';

const h = React.createElement;

function Page({ store }: { store: Store | null }): React.ReactElement {
  const counter = useKey(store, 'counter');
  const todos = useWatch(store, 'todo:*');
  const view = useView(store);
  const state = useConnectionState(store);
  return h('main', null,
    h('p', { id: 'counter' }, counter.loading ? 'loading' : `${counter.value}@${counter.revision}`),
    h('ul', null, ...todos.map((t) => h('li', { key: t.key }, t.value))),
    h('p', { id: 'status' }, `view ${view.viewnum} ${state}`));
}

const SERVER_HTML = '<main><p id="counter">loading</p><ul></ul><p id="status">view 0 connecting</p></main>';

describe('understudy/react under server-side rendering (SPEC §13)', () => {
  it('renderToString gives every hook\'s loading state and touches neither the store nor a WebSocket', () => {
    const touched: string[] = [];
    // Any use of the store (watch, get, on, view, state…) is recorded and throws.
    const store = new Proxy({}, {
      get(_t, prop) { touched.push(String(prop)); throw new Error(`the store's ${String(prop)} was used during SSR`); },
    }) as unknown as Store;
    const g = globalThis as { WebSocket?: unknown };
    const saved = Object.getOwnPropertyDescriptor(g, 'WebSocket');
    let sockets = 0;
    Object.defineProperty(g, 'WebSocket', { configurable: true, writable: true, value: class { constructor() { sockets++; throw new Error('no WebSocket on the server'); } } });
    try {
      expect(renderToString(h(Page, { store }))).to.equal(SERVER_HTML);
      expect(renderToString(h(Page, { store: null }))).to.equal(SERVER_HTML);
    } finally {
      if (saved) Object.defineProperty(g, 'WebSocket', saved);
      else delete g.WebSocket;
    }
    expect(touched).to.deep.equal([]);
    expect(sockets).to.equal(0);
  });

  describe('hydration', () => {
    let uninstall: () => Promise<void>;
    before(() => { uninstall = installDom(); });
    after(async () => { await uninstall(); });

    it('the server\'s HTML hydrates without a mismatch, then shows the live values', async () => {
      const { act } = loadRtl();
      const { hydrateRoot } = require('react-dom/client') as typeof import('react-dom/client');
      const fake = new FakeStore();
      fake.write('todo:1', 'milk');
      const rev = fake.write('counter', '7');
      const container = document.createElement('div');
      container.innerHTML = SERVER_HTML;
      document.body.appendChild(container);
      const problems: string[] = [];
      const errorsBefore = console.error;
      console.error = (...args: unknown[]) => { problems.push(args.map(String).join(' ')); };
      let root: ReturnType<typeof hydrateRoot> | undefined;
      try {
        await act(async () => {
          root = hydrateRoot(container, h(Page, { store: fake.asStore }), {
            onRecoverableError: (err) => { problems.push(`recoverable: ${(err as Error).message}`); },
          });
          await new Promise((resolve) => setImmediate(resolve));
        });
        expect(problems).to.deep.equal([]);
        expect(container.querySelector('#counter')!.textContent).to.equal(`7@${rev}`);
        expect(container.querySelector('li')!.textContent).to.equal('milk');
        expect(container.querySelector('#status')!.textContent).to.equal('view 1 connected');
      } finally {
        console.error = errorsBefore;
        await act(async () => root?.unmount());
        container.remove();
      }
    });
  });
});
