import { useState, type FormEvent } from 'react';
import type { Store } from 'understudy/client';
import { useKey, useWatch, useView, useConnectionState } from 'understudy/react';
import { useStore } from './useStore';

export function App({ view }: { view: string }) {
  const { store, error } = useStore(view);
  return (
    <main>
      <h1>Understudy × React</h1>
      <Status store={store} view={view} error={error} />
      <Counter store={store} />
      <SharedList store={store} />
      <p className="hint">Open this page in a second window: both update live. Kill the primary (<code>kill -9</code>) and keep clicking: the counter fails over.</p>
    </main>
  );
}

function Status({ store, view, error }: { store: Store | null; view: string; error: Error | null }) {
  const state = useConnectionState(store);
  const v = useView(store);
  if (error) return <p className="status error" data-testid="status">cannot connect to {view}: {error.message}</p>;
  return (
    <p className={`status ${state}`} data-testid="status">
      {state} · view {v.viewnum} · primary {v.primary ?? 'none'} · backup {v.backup ?? 'none'}
    </p>
  );
}

/**
 * A shared counter. Each click appends one character to `counter` and the count is the
 * value's length: append is one atomic operation on the primary and exactly-once under
 * retries, so clicks from several windows at once are never lost (a get-then-put would
 * lose some; SPEC §10's `ifRevision` will allow a real compare-and-set). The value grows
 * by a byte per click: fine for a demo, not for a counter clicked a million times.
 */
function Counter({ store }: { store: Store | null }) {
  const { value, revision, loading, error } = useKey(store, 'counter');
  const [busy, setBusy] = useState(0);
  const add = () => {
    if (!store) return;
    setBusy((n) => n + 1);
    store.append('counter', '+').catch((err: Error) => console.warn('append failed:', err.message)).finally(() => setBusy((n) => n - 1));
  };
  return (
    <section>
      <h2>Shared counter</h2>
      <p className="count" data-testid="count">{loading ? '…' : (value ?? '').length}</p>
      <button type="button" onClick={add} disabled={!store} data-testid="increment">+1</button>
      <small> revision {revision}{busy > 0 ? ` · ${busy} in flight` : ''}{error ? ` · ${error.message}` : ''}</small>
    </section>
  );
}

/** A live shared list: one key per item under `todo:`, listed in key order by useWatch. */
function SharedList({ store }: { store: Store | null }) {
  const items = useWatch(store, 'todo:*');
  const [text, setText] = useState('');
  const add = (e: FormEvent) => {
    e.preventDefault();
    const item = text.trim();
    if (!store || !item) return;
    // Keys sort by creation time (base-36 milliseconds, fixed width), then a random tail.
    const key = `todo:${Date.now().toString(36).padStart(9, '0')}-${Math.random().toString(36).slice(2, 6)}`;
    void store.put(key, item);
    setText('');
  };
  return (
    <section>
      <h2>Shared list</h2>
      <form onSubmit={add}>
        <input value={text} onChange={(e) => setText(e.target.value)} placeholder="Add an item" data-testid="new-item" />
        <button type="submit" disabled={!store}>Add</button>
      </form>
      <ul data-testid="items">
        {items.map((item) => (
          <li key={item.key}>
            {item.value} <button type="button" onClick={() => void store?.delete(item.key)} aria-label={`remove ${item.value}`}>×</button>
          </li>
        ))}
      </ul>
    </section>
  );
}
