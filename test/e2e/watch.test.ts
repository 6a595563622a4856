/**
 * Live watches with real processes and kill -9 (issue #4 "done when"): a watch survives
 * consecutive primary kills under write load with every revision delivered exactly once,
 * and `understudy watch` prints one JSON line per change (SPEC §4, §7).
 */
import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import type { Store, WatchEvent } from '../../client/node';
import { waitForView, getJson, type ViewStatus } from '../support/processes';
import { startCluster, digest, type Cluster } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';
import { waitFor } from '../support/wait';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'understudy.js');

describe('e2e: watches with real processes (issue #4)', function () {
  this.timeout(180_000);
  const teardown = teardownAfterEach();
  const client = (c: Cluster): Promise<Store> => c.client({ timeoutMs: 15_000 });

  it('a watch survives ten consecutive primary kills under a steady write load with every revision delivered exactly once', async () => {
    const KILLS = 10;
    const c = await startCluster(3, { teardown });
    const watcher = await client(c);
    const writer = await client(c);
    const events: WatchEvent[] = [];
    watcher.watch('load:*', (e) => events.push(e), { fromRevision: 0 });

    // The writer: one put at a time, recording the revision each was acknowledged at.
    const acked = new Map<number, string>();
    const failed: string[] = [];
    let stop = false;
    let i = 0;
    const writing = (async () => {
      while (!stop) {
        const key = `load:${i % 16}`;
        const value = `v${i++}`;
        try {
          await writer.put(key, value);
          acked.set(writer.revision, `${key}=${value}`);
        } catch (err) {
          failed.push(`${key}=${value}: ${String(err)}`); // outcome unknown: not counted as acknowledged
        }
      }
    })();

    const t0 = Date.now();
    for (let k = 0; k < KILLS; k++) {
      const v = await waitForView(c.vs, (x) => x.primary !== null && x.backup !== null && x.acked, 20_000);
      const before = acked.size;
      await waitFor('the writer to make progress', () => acked.size >= before + 25, 20_000);
      await c.byId(v.primary).kill('SIGKILL');
      await c.startReplica(); // a replacement, so that there is always a backup to promote
      await waitForView(c.vs, (x) => x.viewnum > v.viewnum && x.primary !== null && x.primary !== v.primary && x.backup !== null && x.acked, 20_000);
    }
    const before = acked.size;
    await waitFor('the writer to make progress after the last kill', () => acked.size >= before + 25, 20_000);
    stop = true;
    await writing;
    const duration = Date.now() - t0;

    const view = await getJson<ViewStatus>(`${c.vs.http}/view`);
    const final = (await digest(c.byId(view.primary))).revision;
    await waitFor(`the watcher to reach revision ${final}`, () => events.length > 0 && events[events.length - 1].revision >= final, 20_000);

    expect(failed, 'puts with an unknown outcome').to.deep.equal([]);
    expect(events.filter((e) => e.resync), 'resyncs (the history is big enough here)').to.deep.equal([]);
    const revs = events.map((e) => e.revision);
    for (let j = 1; j < revs.length; j++) expect(revs[j], `the revision after ${revs[j - 1]}`).to.be.greaterThan(revs[j - 1]);
    // Only the writer writes: every revision of the store, exactly once, in order.
    expect(revs).to.deep.equal(Array.from({ length: final }, (_, j) => j + 1));
    const delivered = new Map(events.map((e) => [e.revision, `${e.key}=${e.value}`]));
    for (const [rev, kv] of acked) expect(delivered.get(rev), `revision ${rev}`).to.equal(kv);
    // eslint-disable-next-line no-console
    console.log(`      ${KILLS} primary kills in ${(duration / 1000).toFixed(1)} s: ${acked.size} acknowledged puts, ${events.length} events delivered, none twice, none missing`);
  });

  it('`understudy watch PREFIX*` prints one JSON line per change, keeps going across a primary kill, and exits 0 on SIGINT', async () => {
    const c = await startCluster(3, { teardown });
    const store = await client(c);
    await store.put('cli:a', 'before');
    const child = spawn(process.execPath, [BIN, 'watch', 'cli:*', '--from', '0', '--view', c.vs.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    const lines: string[] = [];
    const stderr: string[] = [];
    readline.createInterface({ input: child.stdout! }).on('line', (l) => lines.push(l));
    readline.createInterface({ input: child.stderr! }).on('line', (l) => stderr.push(l));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    teardown.push(async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); // by pid
      await exited;
    });
    await waitFor('the replayed line', () => lines.length >= 1, 10_000);
    await store.append('cli:a', '!');
    await store.put('other', 'not watched');
    await store.delete('cli:a');
    await waitFor('three lines', () => lines.length >= 3, 10_000);
    const v = await waitForView(c.vs, (x) => x.primary !== null && x.backup !== null && x.acked);
    await c.byId(v.primary).kill('SIGKILL');
    await store.put('cli:b', 'after the kill');
    await waitFor('the line after the kill', () => lines.length >= 4, 10_000);
    expect(lines.map((l) => JSON.parse(l))).to.deep.equal([
      { key: 'cli:a', value: 'before', revision: 1 },
      { key: 'cli:a', value: 'before!', revision: 2 },
      { key: 'cli:a', value: null, revision: 4 },
      { key: 'cli:b', value: 'after the kill', revision: 5 },
    ]);
    child.kill('SIGINT');
    expect(await exited, stderr.join('\n')).to.equal(0);
  });
});
