/**
 * Live watches and the connection state against the REAL view service and replicas,
 * in-process on port 0 (issue #4; STYLE §12). Every server and store is registered for
 * teardown when it is made; tests wait on events or conditions, never on fixed sleeps.
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import { startViewService } from '../../server/viewservice';
import { startReplica } from '../../server/replica';
import { normalizeViewOptions, normalizeReplicaOptions } from '../../common/config';
import { connect, Store, ConnectOptions, UnderstudyError } from '../../client/node';
import type { WatchEvent } from '../../client/core/watches';
import type { WebSocketCtor } from '../../client/connection';
import type { HistoryBounds } from '../../server/replica/write-history';
import { teardownAfterEach } from '../support/teardown';
import { waitFor } from '../support/wait';

type ViewService = Awaited<ReturnType<typeof startViewService>>;
type Replica = Awaited<ReturnType<typeof startReplica>>;

const teardown = teardownAfterEach();
const logLevel = process.env.TEST_LOG_LEVEL ?? 'silent';

async function viewService(): Promise<ViewService> {
  const vs = await startViewService(normalizeViewOptions({ port: 0, host: '127.0.0.1', 'ping-interval': 20, 'dead-pings': 5, 'log-level': logLevel }, {}));
  teardown.push(() => vs.close());
  return vs;
}

async function replica(vs: ViewService, history?: HistoryBounds): Promise<Replica> {
  const options = normalizeReplicaOptions({ port: 0, host: '127.0.0.1', view: vs.url, 'ping-interval': 20, 'log-level': logLevel }, {});
  const r = await startReplica({ ...options, history });
  teardown.push(() => r.close());
  return r;
}

async function client(vs: ViewService, options: Partial<ConnectOptions> = {}): Promise<Store> {
  const store = await connect({ view: vs.url, timeoutMs: 5000, ...options });
  teardown.push(() => store.close());
  return store;
}

async function until(cond: () => Promise<boolean> | boolean, what: string, timeoutMs = 5000): Promise<void> {
  await waitFor(what, cond, timeoutMs, 10);
}

async function vsView(vs: ViewService): Promise<{ viewnum: number; primary: string | null; backup: string | null; acked: boolean }> {
  const res = await fetch(`${vs.url.replace(/^ws/, 'http')}/view`);
  return res.json() as Promise<{ viewnum: number; primary: string | null; backup: string | null; acked: boolean }>;
}

/** A primary and a backup in an acknowledged view (the transfer done). */
async function pair(vs: ViewService, history?: HistoryBounds): Promise<[Replica, Replica]> {
  const a = await replica(vs, history);
  await until(async () => (await vsView(vs)).primary === a.id, 'the first replica is primary');
  const b = await replica(vs, history);
  await until(async () => { const v = await vsView(vs); return v.primary === a.id && v.backup === b.id && v.acked; }, 'the backup is in an acknowledged view');
  return [a, b];
}

/** Collects a watch's events; `upTo(n)` resolves once n have arrived. */
function collector(): { events: WatchEvent[]; cb: (e: WatchEvent) => void; upTo(n: number, what?: string): Promise<void> } {
  const events: WatchEvent[] = [];
  return {
    events,
    cb: (e) => events.push(e),
    upTo: (n, what = `${n} events`) => until(() => events.length >= n, `${what} (got ${JSON.stringify(events.slice(-5))})`),
  };
}

const line = (e: WatchEvent): string => `${e.key}=${e.value}${e.resync ? '~' : ''}`;

describe('watches and connection state (integration: real view service and replicas)', function () {
  this.timeout(20_000);

  describe('#watch', () => {
    it('delivers a key\'s puts, appends and deletes with the revisions the writes were acknowledged at', async () => {
      const vs = await viewService();
      await pair(vs);
      const store = await client(vs);
      const c = collector();
      store.watch('k', c.cb);
      store.watch('other', () => expect.fail('no event for another key'));
      const revs: number[] = [];
      await store.put('k', 'v');
      revs.push(store.revision);
      await store.append('k', '!');
      revs.push(store.revision);
      await store.put('unrelated', 'x');
      expect(await store.delete('k')).to.equal(true);
      revs.push(store.revision);
      await c.upTo(3);
      expect(c.events).to.deep.equal([
        { key: 'k', value: 'v', revision: revs[0] },
        { key: 'k', value: 'v!', revision: revs[1] },
        { key: 'k', value: null, revision: revs[2] },
      ]);
    });

    it('watches a prefix: every key under it, no other', async () => {
      const vs = await viewService();
      await replica(vs);
      const writer = await client(vs);
      const watcher = await client(vs);
      const c = collector();
      watcher.watch('user:*', c.cb);
      await until(() => watcher.state === 'connected', 'the watcher is connected');
      // a write by another client after the watch is registered on the primary
      await watcher.get('sync'); // the watch was sent before this get on the same link
      await writer.put('user:1', 'ada');
      await writer.put('users', 'not under "user:"');
      await writer.put('user:2', 'bo');
      await writer.delete('user:1');
      await c.upTo(3);
      expect(c.events.map(line)).to.deep.equal(['user:1=ada', 'user:2=bo', 'user:1=null']);
      expect(c.events.map((e) => e.revision)).to.deep.equal([1, 3, 4]);
    });

    it('fromRevision replays the history; stop() ends the deliveries', async () => {
      const vs = await viewService();
      await replica(vs);
      const store = await client(vs);
      for (let i = 1; i <= 5; i++) await store.put(`k${i}`, `v${i}`);
      const c = collector();
      const stop = store.watch('*', c.cb, { fromRevision: 2 });
      await c.upTo(3);
      expect(c.events.map((e) => `${line(e)}@${e.revision}`)).to.deep.equal(['k3=v3@3', 'k4=v4@4', 'k5=v5@5']);
      stop();
      await store.put('k6', 'v6');
      await store.get('k6'); // anything after stop() would have arrived before this reply
      expect(c.events).to.have.length(3);
    });

    it('resyncs the current values when the primary\'s history does not reach back', async () => {
      const vs = await viewService();
      await replica(vs, { maxEvents: 2, maxBytes: 1 << 20 });
      const store = await client(vs);
      await store.put('a:1', 'x');
      await store.put('a:2', 'y');
      await store.put('b', 'z');
      await store.put('a:1', 'w');
      const c = collector();
      store.watch('a:*', c.cb, { fromRevision: 1 });
      await c.upTo(2);
      expect(c.events).to.deep.equal([
        { key: 'a:1', value: 'w', revision: 4, resync: true },
        { key: 'a:2', value: 'y', revision: 4, resync: true },
      ]);
    });

    it('throws on a bad pattern or revision, and CLOSED after close()', async () => {
      const vs = await viewService();
      const store = await client(vs);
      expect(() => store.watch('k'.repeat(1025), () => {})).to.throw(UnderstudyError, /maxKeyBytes/);
      expect(() => store.watch('k', () => {}, { fromRevision: -1 })).to.throw(UnderstudyError, /fromRevision/);
      await store.close();
      expect(() => store.watch('k', () => {})).to.throw(UnderstudyError).with.property('code', 'CLOSED');
    });

    it('a watch made before any replica exists starts when the first primary appears', async () => {
      const vs = await viewService();
      const store = await client(vs);
      const c = collector();
      store.watch('k', c.cb);
      const put = store.put('k', 'first'); // buffered behind the watch
      await replica(vs);
      await put;
      await c.upTo(1);
      expect(c.events).to.deep.equal([{ key: 'k', value: 'first', revision: 1 }]);
    });
  });

  describe('failover', () => {
    it('a prefix watch continues across the primary\'s close with no gap and no duplicate', async () => {
      const vs = await viewService();
      const [a, b] = await pair(vs);
      const watcher = await client(vs);
      const writer = await client(vs);
      const c = collector();
      watcher.watch('w:*', c.cb, { fromRevision: 0 });
      const acked = new Map<number, string>(); // revision → key=value, from the writer's replies
      const N = 300;
      let closed: Promise<void> | null = null;
      for (let i = 0; i < N; i++) {
        const key = `w:${i % 7}`;
        await writer.put(key, `v${i}`);
        acked.set(writer.revision, `${key}=v${i}`);
        if (i === 100) closed = a.close(); // mid-load: the writer's puts and the watch fail over to b
      }
      await closed;
      expect(watcher.view.primary).to.equal(b.id);
      await c.upTo(N, `all ${N} revisions`);
      const revs = c.events.map((e) => e.revision);
      for (let i = 1; i < revs.length; i++) expect(revs[i], `revision after ${revs[i - 1]}`).to.be.greaterThan(revs[i - 1]);
      expect(c.events.filter((e) => e.resync)).to.deep.equal([]);
      expect(new Map(c.events.map((e) => [e.revision, line(e)]))).to.deep.equal(acked);
    });

    it('a watch resumes on the new primary from its last revision (the new primary replays what it missed)', async () => {
      const vs = await viewService();
      const [a, b] = await pair(vs);
      const store = await client(vs);
      const c = collector();
      store.watch('k', c.cb);
      await store.put('k', '1');
      await c.upTo(1);
      await a.close();
      await until(() => store.view.primary === b.id, 'b is primary for the client');
      await store.put('k', '2');
      await c.upTo(2);
      expect(c.events.map((e) => `${line(e)}@${e.revision}`)).to.deep.equal(['k=1@1', 'k=2@2']);
    });
  });

  describe('#state and #reconnectNow', () => {
    it('goes connecting -> connected -> reconnecting (failover) -> connected -> closed, with "state" events', async () => {
      const vs = await viewService();
      const store = await client(vs);
      const states: string[] = [];
      store.on('state', (s) => states.push(s));
      expect(store.state).to.equal('connecting');
      const [a, b] = await pair(vs);
      await until(() => store.state === 'connected', 'connected');
      await a.close();
      await until(() => store.view.primary === b.id && store.state === 'connected', 'connected to b');
      await store.close();
      expect(store.state).to.equal('closed');
      expect(states[0]).to.equal('connected');
      expect(states).to.include('reconnecting');
      expect(states.slice(-2)).to.deep.equal(['connected', 'closed']);
      expect(states).to.not.include('connecting');
    });

    it('reconnectNow() skips the backoff wait of a dropped primary link; on an open link it does nothing', async () => {
      const vs = await viewService();
      await replica(vs);
      let cut = false;
      class Cuttable extends WebSocket {
        emit(event: string | symbol, ...args: unknown[]): boolean {
          if (event === 'message' && cut && String(args[0]).includes('"type":"res"')) {
            cut = false;
            this.terminate();
            return true;
          }
          return super.emit(event, ...args);
        }
      }
      const store = await client(vs, { WebSocket: Cuttable as unknown as WebSocketCtor, backoff: { minMs: 60_000, maxMs: 60_000, factor: 1, jitter: 0 } });
      await store.put('k', '1');
      store.reconnectNow();
      expect(store.state).to.equal('connected');
      cut = true;
      const put = store.put('k', '2'); // its reply cuts the link: the reconnect would wait 60 s
      await until(() => store.state === 'reconnecting', 'the link dropped');
      const t0 = Date.now();
      store.reconnectNow();
      await put;
      expect(store.state).to.equal('connected');
      expect(Date.now() - t0).to.be.lessThan(2000);
      expect(await store.get('k')).to.equal('2');
    });
  });
});
