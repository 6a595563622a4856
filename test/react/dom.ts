/**
 * A DOM for the React hook tests: happy-dom's window, put on globalThis for the suite and
 * taken off after it (other suites in the same mocha process see Node's globals only).
 * react-dom and @testing-library/react read the DOM when they load, so they are loaded
 * after install(), through `loadReactDom()`.
 */
import { Window } from 'happy-dom';

/** What react-dom and @testing-library need on globalThis. */
const NAMES = [
  'window', 'document', 'navigator', 'Node', 'Element', 'HTMLElement', 'HTMLIFrameElement', 'Text',
  'DocumentFragment', 'MutationObserver', 'getComputedStyle', 'requestAnimationFrame', 'cancelAnimationFrame',
] as const;

type Globals = Record<string, unknown>;

/** Install a fresh window; returns the function that restores the previous globals. */
export function installDom(): () => Promise<void> {
  const win = new Window({ url: 'http://localhost/' });
  const g = globalThis as unknown as Globals;
  const saved = new Map<string, PropertyDescriptor | undefined>();
  for (const name of NAMES) {
    saved.set(name, Object.getOwnPropertyDescriptor(g, name));
    const value = (win as unknown as Globals)[name];
    Object.defineProperty(g, name, {
      configurable: true, writable: true,
      value: typeof value === 'function' && /^[a-z]/.test(name) ? (value as (...a: unknown[]) => unknown).bind(win) : value,
    });
  }
  g.IS_REACT_ACT_ENVIRONMENT = true;
  return async () => {
    for (const [name, d] of saved) {
      if (d) Object.defineProperty(g, name, d);
      else delete g[name];
    }
    delete g.IS_REACT_ACT_ENVIRONMENT;
    await win.happyDOM.close();
  };
}

export type Rtl = typeof import('@testing-library/react');

/** @testing-library/react (and with it react-dom/client), loaded once the DOM is installed. */
export function loadRtl(): Rtl {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require('@testing-library/react') as Rtl;
}
