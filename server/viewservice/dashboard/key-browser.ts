/**
 * The key browser (issue #4): the browser client itself, imported at run time as an ES
 * module from this view service's `/understudy.js` (not bundled into the page, so the
 * page works without it). It pages through the keys with a prefix with `list` (SPEC §10:
 * PAGE_SIZE keys a page, next and previous), keeps the page live with a watch from the
 * page's revision (values change live, highlighted; keys created or deleted inside the
 * page's key range appear or go), and puts, gets and deletes. It talks to the replicas directly, so the CSP allows WebSocket
 * connections to any host. Without the bundle (not built) or without `store.watch` (an
 * older client), the rest of the page works and the key browser says what is missing.
 * Keys and values only ever reach the page through textContent.
 */
import { byId, el, setPill, pageToken, wsOrigin, type PillKind } from './dom';

/** A watch event: value null means the key was deleted. */
interface KeyEvent { key: string; value: string | null; revision: number }

/** One page of `list` (SPEC §10). */
interface KeyPage { entries: { key: string; value?: string; revision: number }[]; revision: number; more: boolean }

/** What the key browser uses of a Store. An older client has no `list`, `watch`, `revision` or `state`. */
interface KeyStore {
  list?(prefix: string, opts: { limit: number; after?: string }): Promise<KeyPage>;
  get(key: string): Promise<string | null>;
  put(key: string, value: string): Promise<unknown>;
  delete(key: string): Promise<boolean>;
  watch?(pattern: string, cb: (e: KeyEvent) => void, opts: { fromRevision: number }): () => void;
  readonly revision?: number;
  readonly state?: string;
  readonly status?: string;
  on(event: 'state' | 'status', fn: (s: string) => void): unknown;
  on(event: 'error', fn: (e: Error & { code?: string }) => void): unknown;
}

/** The client module as the page uses it (type-checked against client/index.ts: tsconfig.dashboard.json maps the path). */
interface ClientModule {
  connect(o: { view: string; timeoutMs: number; token?: string }): Promise<KeyStore>;
}

declare global {
  interface Window { understudyStore?: KeyStore }
}

interface Row { tr: HTMLTableRowElement; value: string | null; rev: number; timer: ReturnType<typeof setTimeout> | undefined }

/** Keys a page (a `list` limit). */
const PAGE_SIZE = 100;
const rows = new Map<string, Row>();
let store: KeyStore | null = null;
let stopWatch: (() => void) | null = null;
/** The prefix listed; null before the first page. */
let watching: string | null = null;
/** The page shown: the keys after `after` (undefined: from the first), up to `last` when `more` keys follow. */
let page: { after: string | undefined; last: string | undefined; more: boolean } = { after: undefined, last: undefined, more: false };
/** The `after` of each earlier page, for Previous. */
const earlier: (string | undefined)[] = [];
let lastRev = 0;
let baseRev = 0;
let watchGen = 0;
let fallbackTimer: ReturnType<typeof setInterval> | undefined;

const hasWatch = (): boolean => store !== null && typeof store.watch === 'function' && typeof store.list === 'function';
/** Whether `key` belongs to the page shown (its key range; the last page has no upper end). */
const inPage = (key: string): boolean => (page.after === undefined || key > page.after) && (!page.more || key <= (page.last as string));
const pill = (text: string, kind: PillKind = ''): void => setPill(byId('kb-conn'), text, kind);
const input = (id: string): HTMLInputElement | HTMLTextAreaElement => byId<HTMLInputElement | HTMLTextAreaElement>(id);

function say(text: string, kind: PillKind = ''): void {
  const m = byId('kb-msg');
  m.textContent = text;
  m.className = 'msg' + (kind ? ' ' + kind : '');
}
function notice(text: string): void {
  const n = byId('kb-notice');
  n.textContent = text;
  n.hidden = !text;
}
function enable(on: boolean): void {
  for (const id of ['kb-watch-btn', 'kb-put', 'kb-get', 'kb-del']) byId<HTMLButtonElement>(id).disabled = !on;
}
function errText(e: unknown): string {
  const x = e as { code?: string; message?: string } | null;
  return (x && x.code ? x.code + ': ' : '') + (x && x.message ? x.message : String(e));
}

// ── the table ──

function renderEmpty(): void {
  const body = byId('kb-rows');
  if (rows.size > 0) { body.querySelector('td.empty')?.parentElement?.remove(); return; }
  if (body.querySelector('td.empty')) return;
  const text = watching == null ? 'not watching' : 'no keys yet' + (watching ? ' starting with ' + watching : '') + ': put one below';
  const tr = el('tr'), td = el('td', 'empty muted', text);
  td.colSpan = 3;
  tr.appendChild(td);
  body.appendChild(tr);
}

function renderFoot(): void {
  byId('kb-count').textContent = rows.size + (rows.size === 1 ? ' key' : ' keys') + (hasWatch() ? ' on page ' + (earlier.length + 1) : '') +
    (watching == null ? '' : hasWatch() ? ' · live' : ' · looked up here (no live watch)');
  byId('kb-rev').textContent = lastRev ? 'revision ' + lastRev : '';
  byId<HTMLButtonElement>('kb-prev').disabled = !hasWatch() || earlier.length === 0;
  byId<HTMLButtonElement>('kb-next').disabled = !hasWatch() || !page.more;
}

/** Rows changed since the last drawing, to highlight: one forced layout restarts all their animations. */
const toFlash = new Set<HTMLElement>();

function flashRows(): void {
  if (toFlash.size === 0) return;
  for (const tr of toFlash) tr.classList.remove('flash');
  void byId('kb-rows').offsetWidth; // restart the animations (a forced layout: once per drawing, never per event)
  for (const tr of toFlash) tr.classList.add('flash');
  toFlash.clear();
}

function setValueCell(td: HTMLElement, value: string | null): void {
  td.textContent = '';
  td.appendChild(value === null ? el('div', 'none', 'deleted') : el('div', null, value));
  td.title = value === null ? '' : value.length > 200 ? value.slice(0, 200) + '…' : value;
}

/** A new row for `key`, inserted in key order; clicking it fills the form. */
function addRow(key: string): Row {
  const tr = el('tr');
  tr.dataset.key = key;
  tr.appendChild(el('td', 'k', key));
  tr.appendChild(el('td', 'v'));
  tr.appendChild(el('td', 'r'));
  tr.addEventListener('click', () => {
    input('kb-key').value = key;
    const r = rows.get(key);
    input('kb-value').value = r && r.value !== null ? r.value : '';
  });
  const row: Row = { tr, value: null, rev: 0, timer: undefined };
  rows.set(key, row);
  const body = byId('kb-rows');
  const after = [...body.querySelectorAll<HTMLElement>('tr[data-key]')].find((t) => t.dataset.key! > key);
  body.insertBefore(tr, after || null);
  return row;
}

/** A key's new value (null: deleted) at revision rev, drawn now (the page's own put, get, delete). */
function show(key: string, value: string | null, rev: number | null): void {
  apply(key, value, rev);
  finishDrawing();
}

function finishDrawing(): void {
  flashRows();
  renderEmpty();
  renderFoot();
}

/**
 * Watch events wait here for the next animation frame, the latest per key: a prefix whose
 * keys change thousands of times a second costs one drawing a frame, not one per event, so
 * the rest of the page (the view, the load charts, the transfer's progress) stays live.
 */
const pending = new Map<string, KeyEvent>();
let frameAsked = false;

function queue(e: KeyEvent): void {
  const prev = pending.get(e.key);
  if (prev === undefined || e.revision >= prev.revision) pending.set(e.key, e);
  if (!frameAsked) {
    frameAsked = true;
    requestAnimationFrame(drawPending);
  }
}

function drawPending(): void {
  frameAsked = false;
  for (const e of pending.values()) apply(e.key, e.value, e.revision);
  pending.clear();
  finishDrawing();
}

/** Insert `key` in key order, update it, or strike it out; the footer and highlights wait for finishDrawing. */
function apply(key: string, value: string | null, rev: number | null): void {
  if (rev != null && rev > lastRev) lastRev = rev;
  let row = rows.get(key);
  if (value === null && !row) return;
  row ??= addRow(key);
  if (rev != null && rev < row.rev) return; // older than what is shown
  clearTimeout(row.timer);
  row.value = value;
  row.rev = rev || row.rev;
  setValueCell(row.tr.children[1] as HTMLElement, value);
  row.tr.children[2].textContent = row.rev ? String(row.rev) : '–';
  row.tr.classList.toggle('gone', value === null);
  // Highlight changes, not the replay of what was there when the watch started.
  if (rev == null || rev > baseRev) toFlash.add(row.tr);
  if (value === null) {
    // Struck out for a moment, then gone (unless written again meanwhile).
    const shown = row;
    shown.timer = setTimeout(() => {
      if (rows.get(key) === shown && shown.value === null) { rows.delete(key); shown.tr.remove(); renderEmpty(); renderFoot(); }
    }, 1800);
  }
}

function clearRows(): void {
  for (const r of rows.values()) clearTimeout(r.timer);
  rows.clear();
  pending.clear();
  toFlash.clear();
  byId('kb-rows').textContent = '';
  renderEmpty();
  renderFoot();
}

// ── paging ──

/** List `prefix` from the first page, and put it in the page's address (`?prefix=`). */
function watch(prefix: string): Promise<void> {
  watching = prefix;
  earlier.length = 0;
  const url = new URL(location.href);
  if (prefix) url.searchParams.set('prefix', prefix); else url.searchParams.delete('prefix');
  history.replaceState(null, '', url);
  return showPage(undefined);
}

/**
 * One page of `list` after `after`, kept live: a watch of the prefix from the page's
 * revision (SPEC §10: list then watch misses nothing) shows the writes inside the page's range.
 */
async function showPage(after: string | undefined): Promise<void> {
  if (stopWatch) { try { stopWatch(); } catch { /* already stopped */ } stopWatch = null; }
  clearInterval(fallbackTimer);
  fallbackTimer = undefined;
  const gen = ++watchGen;
  const s = store!;
  const prefix = watching ?? '';
  if (!s.watch || !s.list) {
    clearRows();
    notice('This client has no live watch or list: the table shows keys you put or get here, refreshed every second.');
    fallbackTimer = setInterval(refreshKnown, 1000);
    return;
  }
  let p: KeyPage;
  try {
    p = await s.list(prefix, { limit: PAGE_SIZE, ...(after !== undefined ? { after } : {}) });
  } catch (e) {
    if (gen === watchGen) say('list ' + prefix + '* failed: ' + errText(e), 'bad');
    return;
  }
  if (gen !== watchGen) return;
  clearRows();
  page = { after, last: p.entries.length > 0 ? p.entries[p.entries.length - 1].key : after, more: p.more };
  baseRev = p.revision; // what the page shows is not highlighted; later writes are
  if (p.revision > lastRev) lastRev = p.revision;
  for (const e of p.entries) apply(e.key, e.value ?? null, e.revision);
  finishDrawing();
  stopWatch = s.watch(prefix + '*', (e) => { if (inPage(e.key)) queue(e); }, { fromRevision: p.revision });
  renderEmpty();
  renderFoot();
}

async function refreshKnown(): Promise<void> {
  for (const [key, row] of [...rows]) {
    try { const v = await store!.get(key); if (v !== row.value) show(key, v, null); } catch { /* shown by the state pill */ }
  }
}

// ── put / get / delete ──

async function run(what: string, fn: (key: string) => Promise<string>): Promise<void> {
  const key = input('kb-key').value;
  if (!key) { say('enter a key', 'bad'); input('kb-key').focus(); return; }
  say(what + ' ' + key + '…');
  const t0 = performance.now();
  try {
    const result = await fn(key);
    say(what + ' ' + key + ': ' + result + ' · ' + Math.round(performance.now() - t0) + ' ms', 'ok');
  } catch (e) {
    say(what + ' ' + key + ' failed: ' + errText(e), 'bad');
  }
}

/** Without a live watch, what this page itself reads or writes under the prefix is listed. */
const underPrefix = (key: string): boolean => !hasWatch() && key.startsWith(watching || '');

function listenToForms(): void {
  byId('kb-edit').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const value = input('kb-value').value;
    void run('put', async (key) => { await store!.put(key, value); if (underPrefix(key)) show(key, value, null); return 'replicated'; });
  });
  byId('kb-get').addEventListener('click', () => void run('get', async (key) => {
    const v = await store!.get(key);
    input('kb-value').value = v === null ? '' : v;
    if (v !== null && underPrefix(key)) show(key, v, null);
    return v === null ? 'no such key' : v.length + ' characters';
  }));
  byId('kb-del').addEventListener('click', () => void run('delete', async (key) => {
    const existed = await store!.delete(key);
    if (!hasWatch()) show(key, null, null);
    return existed ? 'deleted' : 'no such key';
  }));
  byId('kb-watch').addEventListener('submit', (ev) => { ev.preventDefault(); if (store) void watch(input('kb-prefix').value); });
  byId('kb-next').addEventListener('click', () => { if (store && page.more) { earlier.push(page.after); void showPage(page.last); } });
  byId('kb-prev').addEventListener('click', () => { if (store && earlier.length > 0) void showPage(earlier.pop()); });
}

// ── connection ──

function showState(s: string): void {
  const map: Record<string, [string, PillKind]> = {
    connected: ['connected', 'ok'], open: ['connected', 'ok'], connecting: ['connecting…', 'warn'], reconnecting: ['reconnecting…', 'warn'], closed: ['closed', 'bad'],
  };
  const [text, kind] = map[s] || [String(s), ''];
  pill(text, kind);
}

async function start(token: string | null): Promise<void> {
  let mod: ClientModule;
  try {
    mod = await import('/understudy.js');
  } catch {
    pill('no client', 'bad');
    notice('The browser client is not built on this server (GET /understudy.js failed): run npm run build and restart the view service.');
    byId('kb-rows').textContent = '';
    return;
  }
  pill('connecting…', 'warn');
  try {
    store = await mod.connect({ view: wsOrigin(), timeoutMs: 10000, ...(token ? { token } : {}) });
  } catch (e) {
    pill('offline', 'bad');
    notice('Cannot connect the client: ' + errText(e) + '. Retrying in 3 s.');
    setTimeout(() => void start(token), 3000);
    return;
  }
  notice('');
  if (store.state !== undefined) { showState(store.state); store.on('state', showState); }
  else { showState(String(store.status)); store.on('status', showState); }
  store.on('error', (e) => say(errText(e), 'bad'));
  enable(true);
  const prefix = new URLSearchParams(location.search).get('prefix') || '';
  input('kb-prefix').value = prefix;
  void watch(prefix);
  window.understudyStore = store; // for the console (and the browser tests)
}

/** Wire the forms, then load the client and watch the page's `?prefix=`. */
export function startKeyBrowser(): void {
  listenToForms();
  void start(pageToken());
}
