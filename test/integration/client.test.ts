/**
 * The client library against the REAL view service and replicas, in-process on port 0
 * (STYLE §12). Every server and store is registered for teardown when it is made. Tests
 * wait on events or conditions, never on fixed sleeps.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { startViewService } from '../../server/viewservice';
import { startReplica } from '../../server/replica';
import { normalizeViewOptions, normalizeReplicaOptions } from '../../common/config';
import { connect, Store, UnderstudyError, View, ConnectOptions } from '../../client/node';
import type { WebSocketCtor } from '../../client/connection';
import { teardownAfterEach } from '../support/teardown';
import { waitFor } from '../support/wait';

type ViewService = Awaited<ReturnType<typeof startViewService>>;
type Replica = Awaited<ReturnType<typeof startReplica>>;

const teardown = teardownAfterEach();
/** Server logs: silent unless TEST_LOG_LEVEL says otherwise. */
const logLevel = process.env.TEST_LOG_LEVEL ?? 'silent';

type Flags = Record<string, string | number>;

async function viewService(flags: Flags = {}): Promise<ViewService> {
  const vs = await startViewService(normalizeViewOptions({ port: 0, host: '127.0.0.1', 'ping-interval': 20, 'dead-pings': 5, 'log-level': logLevel, ...flags }, {}));
  teardown.push(() => vs.close());
  return vs;
}

async function replica(vs: ViewService, flags: Flags = {}): Promise<Replica> {
  const r = await startReplica(normalizeReplicaOptions({ port: 0, host: '127.0.0.1', view: vs.url, 'ping-interval': 20, 'log-level': logLevel, ...flags }, {}));
  teardown.push(() => r.close());
  return r;
}

async function client(vs: ViewService, options: Partial<ConnectOptions> = {}): Promise<Store> {
  const store = await connect({ view: vs.url, timeoutMs: 5000, ...options });
  teardown.push(() => store.close());
  return store;
}

/** Resolves with the store's view once `ok(view)` holds (now or on a later 'view' event). */
function viewWhere(store: Store, ok: (v: View) => boolean, what: string, timeoutMs = 5000): Promise<View> {
  if (ok(store.view)) return Promise.resolve(store.view);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { store.off('view', on); reject(new Error(`no view where ${what} within ${timeoutMs} ms (last: ${JSON.stringify(store.view)})`)); }, timeoutMs);
    const on = (v: View): void => {
      if (!ok(v)) return;
      clearTimeout(timer);
      store.off('view', on);
      resolve(v);
    };
    store.on('view', on);
  });
}

/** Poll a condition (for server-side state no event reports), up to timeoutMs. */
async function until(cond: () => Promise<boolean> | boolean, what: string, detail?: () => Promise<string>, timeoutMs = 5000): Promise<void> {
  await waitFor(what, cond, timeoutMs, 10).catch(async (err: Error) => {
    throw detail ? new Error(`${err.message}: ${await detail()}`) : err;
  });
}

/** The view service's GET /view. */
async function vsView(vs: ViewService): Promise<{ viewnum: number; primary: string | null; backup: string | null; acked: boolean }> {
  const res = await fetch(`${vs.url.replace(/^ws/, 'http')}/view`);
  return res.json() as Promise<{ viewnum: number; primary: string | null; backup: string | null; acked: boolean }>;
}

/** A primary and a backup, the view acknowledged (the state transfer done): ready for a failover. */
async function pair(vs: ViewService): Promise<[Replica, Replica]> {
  const a = await replica(vs);
  await until(async () => (await vsView(vs)).primary === a.id, 'the first replica is primary');
  const b = await replica(vs);
  await until(async () => { const v = await vsView(vs); return v.primary === a.id && v.backup === b.id && v.acked; }, 'the backup is in an acknowledged view',
    async () => JSON.stringify({ a: a.id, b: b.id, view: await vsView(vs) }));
  return [a, b];
}

async function rejection(p: Promise<unknown>): Promise<UnderstudyError> {
  try {
    await p;
  } catch (err) {
    expect(err).to.be.instanceOf(UnderstudyError);
    return err as UnderstudyError;
  }
  throw new Error('expected the promise to reject');
}

/** Hooks shared by every socket a recording constructor makes (reconnects included). */
interface Hooks {
  /** Cut the socket instead of delivering this incoming frame. */
  dropIncoming: ((text: string) => boolean) | null;
  /** Cut the socket right after sending this frame. */
  cutAfterSend: ((text: string) => boolean) | null;
}

/**
 * A `ws` WebSocket constructor that records every frame the client sends and can cut a
 * socket at a chosen moment: the client's own primary link, reached without touching the
 * servers' internals.
 */
function recordingWebSocket(): { Ctor: WebSocketCtor; sent: string[]; hooks: Hooks } {
  const sent: string[] = [];
  const hooks: Hooks = { dropIncoming: null, cutAfterSend: null };
  class Recording extends WebSocket {
    send(data: string): void {
      sent.push(data);
      super.send(data);
      if (hooks.cutAfterSend?.(data)) this.terminate();
    }

    emit(event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'message' && hooks.dropIncoming?.(String(args[0]))) {
        this.terminate();
        return true;
      }
      return super.emit(event, ...args);
    }
  }
  return { Ctor: Recording, sent, hooks };
}

/** A hook that fires once for each seq of a `type` frame whose seq passes `pick`. */
function oncePerSeq(type: 'req' | 'res', pick: (seq: number) => boolean): { hook: (text: string) => boolean; fired: Set<number> } {
  const fired = new Set<number>();
  const hook = (text: string): boolean => {
    const m = JSON.parse(text);
    if (m.type !== type || !pick(m.seq) || fired.has(m.seq)) return false;
    fired.add(m.seq);
    return true;
  };
  return { hook, fired };
}

const reqs = (sent: string[]): { op: string; seq: number; key: string }[] =>
  sent.map((t) => JSON.parse(t)).filter((m) => m.type === 'req');

describe('client (integration: real view service and replicas)', function () {
  this.timeout(20000);

  describe('connect()', () => {
    it('resolves with the current view, and emits "view" for each newer one', async () => {
      const vs = await viewService();
      const store = await client(vs);
      expect(store.view).to.deep.equal({ viewnum: 0, primary: null, backup: null });
      const seen: View[] = [];
      store.on('view', (v) => seen.push(v));
      const a = await replica(vs);
      await viewWhere(store, (v) => v.primary === a.id, 'a is primary');
      const b = await replica(vs);
      const v2 = await viewWhere(store, (v) => v.backup === b.id, 'b is backup');
      expect(v2).to.deep.equal({ viewnum: 2, primary: a.id, backup: b.id });
      expect(seen).to.deep.equal([{ viewnum: 1, primary: a.id, backup: null }, v2]);
      expect(store.view).to.deep.equal(v2);
    });

    it('rejects UNAVAILABLE after timeoutMs when the view service is unreachable', async () => {
      const vs = await viewService();
      const url = vs.url;
      await vs.close();
      const err = await rejection(connect({ view: url, timeoutMs: 200 }));
      expect(err.code).to.equal('UNAVAILABLE');
      expect(err.message).to.contain(url).and.contain('200 ms');
    });

    it('refuses bad options with BAD_REQUEST naming the option, opening nothing', async () => {
      const cases: [Partial<ConnectOptions>, string][] = [
        [{ view: 'http://127.0.0.1:7000' }, 'view must be'],
        [{ view: 'ws://127.0.0.1:7000', timeoutMs: 0 }, 'timeoutMs must be a positive number'],
        [{ view: 'ws://127.0.0.1:7000', attemptTimeoutMs: -1 }, 'attemptTimeoutMs must be a positive number'],
        [{ view: 'ws://127.0.0.1:7000', clientId: '' }, 'clientId must be'],
      ];
      for (const [options, message] of cases) {
        const err = await rejection(connect(options as ConnectOptions));
        expect(err.code).to.equal('BAD_REQUEST');
        expect(err.message).to.contain(message);
      }
    });

    it('reports the primary link status: connecting -> open', async () => {
      const vs = await viewService();
      const store = await client(vs);
      const statuses: string[] = [];
      store.on('status', (s) => statuses.push(s));
      expect(store.status).to.equal('connecting');
      await replica(vs);
      await store.put('k', 'v');
      expect(store.status).to.equal('open');
      expect(statuses).to.deep.equal(['open']);
    });
  });

  describe('#get #put #append #delete', () => {
    it('put, get, append (new length in UTF-8 bytes) and delete (whether it existed)', async () => {
      const vs = await viewService();
      await pair(vs);
      const store = await client(vs);
      expect(await store.get('k')).to.equal(null);
      expect(await store.put('k', 'v')).to.equal(undefined);
      expect(await store.get('k')).to.equal('v');
      expect(await store.append('k', 'é!')).to.equal(4);
      expect(await store.get('k')).to.equal('vé!');
      expect(await store.append('new', 'abc')).to.equal(3);
      expect(await store.delete('k')).to.equal(true);
      expect(await store.delete('k')).to.equal(false);
      expect(await store.get('k')).to.equal(null);
    });

    it('two clients see each other\'s writes', async () => {
      const vs = await viewService();
      await pair(vs);
      const s1 = await client(vs);
      const s2 = await client(vs);
      await s1.put('shared', '1');
      expect(await s2.get('shared')).to.equal('1');
      await s2.append('shared', '2');
      expect(await s1.get('shared')).to.equal('12');
    });

    it('stores a value of exactly 1 MiB', async () => {
      const vs = await viewService();
      await replica(vs);
      const store = await client(vs);
      const big = 'v'.repeat(1024 * 1024);
      await store.put('big', big);
      expect(await store.get('big')).to.equal(big);
    });
  });

  describe('buffering (SPEC §7)', () => {
    it('buffers operations issued before any replica exists, and completes them when one appears', async () => {
      const vs = await viewService();
      const { Ctor, sent } = recordingWebSocket();
      const store = await client(vs, { WebSocket: Ctor });
      expect(store.view.primary).to.equal(null);
      const put = store.put('early', 'bird');
      const append = store.append('early', '!');
      const get = store.get('early');
      expect(reqs(sent)).to.deep.equal([]);
      await replica(vs);
      await put;
      expect(await append).to.equal(5);
      expect(await get).to.equal('bird!');
    });
  });

  describe('failover', () => {
    it('completes 200 puts in flight when the primary closes: none lost, all readable at the new primary', async () => {
      const vs = await viewService();
      const [a, b] = await pair(vs);
      const store = await client(vs);
      await store.put('warm', 'up');
      const statuses: string[] = [];
      store.on('status', (st) => statuses.push(st));
      const N = 200;
      let done = 0;
      let afterSwitch = 0;
      const puts = Array.from({ length: N }, (_, i) => store.put(`k${i}`, `v${i}`).then(() => {
        done++;
        if (store.view.primary === b.id) afterSwitch++;
      }));
      // The primary goes away with all 200 puts sent and none answered.
      await a.close();
      await Promise.all(puts);
      expect(done).to.equal(N);
      expect(afterSwitch, 'puts completed by the new primary').to.be.greaterThan(0);
      const v = await viewWhere(store, (x) => x.primary === b.id, 'b is primary');
      expect(v.viewnum).to.be.greaterThan(2);
      expect(statuses[0]).to.equal('reconnecting');
      expect(statuses[statuses.length - 1]).to.equal('open');
      expect(store.status).to.equal('open');
      const fresh = await client(vs);
      expect(fresh.view.primary).to.equal(b.id);
      const values = await Promise.all(Array.from({ length: N }, (_, i) => fresh.get(`k${i}`)));
      expect(values).to.deep.equal(Array.from({ length: N }, (_, i) => `v${i}`));
    });

    it('appends exactly once across a failover (each element once, in order)', async () => {
      const vs = await viewService();
      const [a, b] = await pair(vs);
      const store = await client(vs);
      const N = 60;
      const appends = Array.from({ length: N }, (_, i) => store.append('log', `${i},`));
      await a.close();
      const lengths = await Promise.all(appends);
      const want = Array.from({ length: N }, (_, i) => `${i},`).join('');
      expect(await store.get('log')).to.equal(want);
      expect(lengths[N - 1]).to.equal(want.length);
      expect(store.view.primary).to.equal(b.id);
    });
  });

  describe('exactly-once across a forced link drop', () => {
    it('applies each append once when the primary link dies before the reply arrives', async () => {
      const vs = await viewService();
      await pair(vs);
      const { Ctor, hooks } = recordingWebSocket();
      const store = await client(vs, { WebSocket: Ctor });
      await store.put('x', '');
      // Cut the primary link when the reply to every third append arrives: the store
      // applied it, the client never heard. It reconnects and resends the same (client, seq).
      const { hook, fired } = oncePerSeq('res', (seq) => seq % 3 === 0);
      hooks.dropIncoming = hook;
      const lengths: number[] = [];
      for (let i = 0; i < 10; i++) lengths.push(await store.append('x', String(i)));
      expect(fired.size).to.equal(3);
      expect(lengths).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(await store.get('x')).to.equal('0123456789');
    });

    it('applies each append once when the link is terminated right after sending it', async () => {
      const vs = await viewService();
      await pair(vs);
      const { Ctor, hooks } = recordingWebSocket();
      const store = await client(vs, { WebSocket: Ctor });
      await store.put('y', '');
      // Whether the cut request reached the primary is unknown; either way, once.
      const { hook, fired } = oncePerSeq('req', (seq) => seq % 3 === 0);
      hooks.cutAfterSend = hook;
      const appends = Array.from({ length: 12 }, (_, i) => store.append('y', String.fromCharCode(97 + i)));
      const lengths = await Promise.all(appends);
      expect(fired.size).to.be.greaterThan(0);
      expect(lengths.slice().sort((p, q) => p - q)).to.deep.equal(Array.from({ length: 12 }, (_, i) => i + 1));
      const y = (await store.get('y')) ?? '';
      expect([...y].sort().join('')).to.equal('abcdefghijkl');
    });
  });

  describe('errors', () => {
    it('TIMEOUT when no replica can serve: a get stays pending until timeoutMs (outcome unknown)', async () => {
      const vs = await viewService();
      const a = await replica(vs);
      const store = await client(vs);
      await store.put('k', 'v');
      // The only replica dies: no backup to promote, the view is stuck (SPEC §2.4).
      await a.close();
      const started = Date.now();
      const err = await rejection(store.get('k', { timeoutMs: 300 }));
      expect(err.code).to.equal('TIMEOUT');
      expect(err.message).to.contain('300 ms').and.contain('outcome is unknown');
      expect(Date.now() - started).to.be.at.least(290);
    });

    it('TOO_LARGE for a key over 1 KiB or a value over 1 MiB, checked client-side: nothing is sent', async () => {
      const vs = await viewService();
      await replica(vs);
      const { Ctor, sent } = recordingWebSocket();
      const store = await client(vs, { WebSocket: Ctor });
      await store.put('ok', 'k');
      const before = reqs(sent).length;
      const e1 = await rejection(store.put('k'.repeat(1025), 'v'));
      expect(e1.code).to.equal('TOO_LARGE');
      expect(e1.message).to.contain('maxKeyBytes');
      const e2 = await rejection(store.append('k', 'v'.repeat(1024 * 1024 + 1)));
      expect(e2.code).to.equal('TOO_LARGE');
      expect(e2.message).to.contain('maxValueBytes');
      const e3 = await rejection(store.get('€'.repeat(342)));
      expect(e3.code).to.equal('TOO_LARGE');
      expect(reqs(sent).length).to.equal(before);
      expect(await store.get('ok')).to.equal('k');
    });

    it('BAD_REQUEST for a value that is not a string, before sending', async () => {
      const vs = await viewService();
      const store = await client(vs);
      const err = await rejection(store.put('k', 42 as unknown as string));
      expect(err.code).to.equal('BAD_REQUEST');
      expect(err.message).to.contain('value must be a string');
    });

    it('ABORTED when the AbortSignal fires; an already-aborted signal sends nothing', async () => {
      const vs = await viewService();
      const { Ctor, sent } = recordingWebSocket();
      const store = await client(vs, { WebSocket: Ctor });
      const ac = new AbortController();
      const pending = store.get('k', { signal: ac.signal });
      ac.abort(new Error('user gave up'));
      const err = await rejection(pending);
      expect(err.code).to.equal('ABORTED');
      expect(err.message).to.contain('may still take effect');
      const err2 = await rejection(store.put('k', 'v', { signal: ac.signal }));
      expect(err2.code).to.equal('ABORTED');
      await replica(vs);
      await store.put('after', 'abort');
      expect(reqs(sent).map((r) => r.key)).to.deep.equal(['after']);
    });

    it('UNAUTHORIZED at connect() when the view service refuses the client token (close 4401)', async () => {
      const vs = await viewService({ 'client-token': 's3cret' });
      const started = Date.now();
      const err = await rejection(connect({ view: vs.url, timeoutMs: 3000 }));
      expect(err.code).to.equal('UNAUTHORIZED');
      expect(err.message).to.contain('token');
      expect(Date.now() - started, 'refused at once, not after timeoutMs').to.be.below(2000);
    });

    it('sends the client token to the view service and the replicas (?token=)', async () => {
      const vs = await viewService({ 'client-token': 's3cret' });
      await replica(vs, { 'client-token': 's3cret' });
      const store = await client(vs, { token: 's3cret' });
      await store.put('k', 'v');
      expect(await store.get('k')).to.equal('v');
    });

    it('UNAUTHORIZED for operations when the primary refuses the token, with an "error" event', async () => {
      const vs = await viewService();
      await replica(vs, { 'client-token': 's3cret' });
      const store = await client(vs, { token: 'wrong' });
      const errors: UnderstudyError[] = [];
      store.on('error', (e) => errors.push(e));
      const err = await rejection(store.put('k', 'v'));
      expect(err.code).to.equal('UNAUTHORIZED');
      expect(err.message).to.contain('4401');
      expect(errors.map((e) => e.code)).to.deep.equal(['UNAUTHORIZED']);
      expect((await rejection(store.get('k'))).code).to.equal('UNAUTHORIZED');
    });

    it('close() rejects pending operations with CLOSED, and later calls too', async () => {
      const vs = await viewService();
      const store = await client(vs);
      const statuses: string[] = [];
      store.on('status', (s) => statuses.push(s));
      const pending = [store.get('a'), store.put('b', '1'), store.append('c', '2')];
      await store.close();
      for (const p of pending) expect((await rejection(p)).code).to.equal('CLOSED');
      expect((await rejection(store.get('a'))).code).to.equal('CLOSED');
      expect(store.status).to.equal('closed');
      expect(statuses).to.deep.equal(['closed']);
      await store.close();
    });
  });
});
