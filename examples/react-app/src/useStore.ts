import { useEffect, useState } from 'react';
import { connect, type Store } from 'understudy/client';

/**
 * A store connected for as long as the component is mounted: null until `connect()`
 * resolves (the understudy/react hooks accept null and show their loading state), closed on
 * unmount. `error` says why connecting failed (e.g. no view service at `view`).
 */
export function useStore(view: string): { store: Store | null; error: Error | null } {
  const [store, setStore] = useState<Store | null>(null);
  const [error, setError] = useState<Error | null>(null);
  useEffect(() => {
    let closed = false;
    let opened: Store | null = null;
    connect({ view, timeoutMs: 5000 }).then((s) => {
      if (closed) { void s.close(); return; }
      opened = s;
      setStore(s);
    }, (err: Error) => { if (!closed) setError(err); });
    return () => {
      closed = true;
      setStore(null);
      void opened?.close();
    };
  }, [view]);
  return { store, error };
}
