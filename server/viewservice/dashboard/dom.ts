/**
 * The page's DOM helpers. Everything that comes from the network (replica ids, keys and
 * values) goes into the page through textContent, never as HTML.
 */

/** The element with this id; the page's markup (dashboard.html) has every one used. */
export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`dashboard.html has no #${id}`);
  return e as T;
}

/** A new element with an optional class and text (as text, never HTML). */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string | null, text?: string | number | null): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text != null) e.textContent = String(text);
  return e;
}

/** How a pill reads: green, amber, red, or plain grey (''). */
export type PillKind = '' | 'ok' | 'warn' | 'bad';

export function setPill(node: HTMLElement, text: string, kind: PillKind = ''): void {
  node.textContent = text;
  node.className = 'pill' + (kind ? ' ' + kind : '');
}

/** The page's `?token=`: sent to the view service and the replicas (SPEC §6). */
export function pageToken(): string | null {
  return new URLSearchParams(location.search).get('token');
}

/** The view service's WebSocket origin: this page's host, ws or wss like the page. */
export function wsOrigin(): string {
  return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host;
}
