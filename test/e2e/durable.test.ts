/**
 * Durability with real processes (SPEC §9, issue #11): replicas with --data-dir, kill -9,
 * restarts from the same directory.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { freePort, waitForView, getJson, type ViewStatus, type Digest } from '../support/processes';
import { startCluster, waitForEqualDigests, type Cluster, type ClusterReplica } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';
import { sleep, waitFor } from '../support/wait';

function tempDir(teardown: { push(c: () => unknown): void }, name: string): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `understudy-${name}-`));
  teardown.push(() => fs.rmSync(d, { recursive: true, force: true }));
  return d;
}

const dataEnv = (dir: string, fsync = 'always'): Record<string, string> => ({ UNDERSTUDY_DATA_DIR: dir, UNDERSTUDY_FSYNC: fsync });

/** One replica with a data dir, primary of view {A, -}, holding `n` keys. */
async function soloPrimary(c: Cluster, dir: string, n: number): Promise<ClusterReplica> {
  const port = await freePort();
  const a = await c.startReplica({ port, env: dataEnv(dir) });
  await waitForView(c.vs, (v) => v.primary === a.id && v.acked);
  const s = await c.client();
  for (let i = 0; i < n; i++) await s.put(`k${i}`, `v${i}`);
  return a;
}

function recoveredLine(r: ClusterReplica): { incarnation: string; index: number } {
  const line = r.logs.find((l) => l.includes('recovered the data dir'));
  if (line === undefined) throw new Error('no recovery line');
  return JSON.parse(line) as { incarnation: string; index: number };
}

describe('e2e: durable replicas (SPEC §9)', function () {
  this.timeout(60_000);
  const teardown = teardownAfterEach();

  it('stuck view {A, -}: kill -9 A, restart it from its data dir: A serves again with its data; wiped, the view stays stuck (SPEC §9, §2.4)', async () => {
    const c = await startCluster(0, { teardown });
    const dir = tempDir(teardown, 'stuck');
    const a = await soloPrimary(c, dir, 20);
    const before = await waitForView(c.vs, (v) => v.primary === a.id);
    await a.kill('SIGKILL');
    await waitForView(c.vs, (v) => v.servers.every((s) => !s.alive));
    const a2 = await c.startReplica({ port: a.port, env: dataEnv(dir) });
    const s = await c.client();
    expect(await s.get('k19')).to.equal('v19');
    expect((await getJson<ViewStatus>(`${c.vs.http}/view`)).viewnum).to.equal(before.viewnum);

    await a2.kill('SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
    const a3 = await c.startReplica({ port: a.port, env: dataEnv(dir) });
    await sleep(20 * c.pingMs);
    const v = await getJson<ViewStatus>(`${c.vs.http}/view`);
    expect([v.viewnum, v.primary]).to.deep.equal([before.viewnum, a.id]); // stuck: its primary counts as dead
    const d = await getJson<Digest>(`${a3.http}/digest`);
    expect([d.role, d.keys]).to.deep.equal(['idle', 0]);
  });

  it('kill -9 of every process under load with --fsync always, restart all: no acknowledged write lost, digests equal (SPEC §9 guarantee)', async () => {
    const vsDir = tempDir(teardown, 'vs');
    const c = await startCluster(0, { teardown, viewEnv: { UNDERSTUDY_DATA_DIR: vsDir } });
    const dirs = [tempDir(teardown, 'a'), tempDir(teardown, 'b')];
    const ports = [await freePort(), await freePort()];
    const reps = [await c.startReplica({ port: ports[0], env: dataEnv(dirs[0]) })];
    await waitForView(c.vs, (v) => v.primary !== null && v.acked);
    reps.push(await c.startReplica({ port: ports[1], env: dataEnv(dirs[1]) }));
    await waitForView(c.vs, (v) => v.backup !== null && v.acked);

    const acked = new Map<string, string>();
    let stop = false;
    const writer = async (w: number): Promise<void> => {
      const s = await c.client({ timeoutMs: 3000 });
      for (let i = 0; !stop; i++) {
        try {
          await s.put(`w${w}-${i}`, `${w}:${i}`);
          if (!stop) acked.set(`w${w}-${i}`, `${w}:${i}`);
        } catch { return; }
      }
    };
    const writers = [0, 1, 2, 3, 4, 5, 6, 7].map(writer);
    await waitFor('some writes acknowledged', () => (acked.size >= 300 ? true : undefined), 15_000, 10);
    const snapshot = new Map(acked);
    await Promise.all([c.vs.kill('SIGKILL'), ...reps.map((r) => r.kill('SIGKILL'))]);
    stop = true;
    await Promise.all(writers);

    await c.startVs();
    await Promise.all(ports.map((port, i) => c.startReplica({ port, env: dataEnv(dirs[i]) })));
    await waitForEqualDigests(c, 20_000);
    const s = await c.client({ timeoutMs: 5000 });
    const lost: string[] = [];
    for (const [k, v] of snapshot) if ((await s.get(k)) !== v) lost.push(k);
    expect(lost, `${lost.length} of ${snapshot.size} acknowledged writes lost`).to.deep.equal([]);
  });

  it('a torn last record is cut and the replica recovers with the same incarnation; a flipped bit in an earlier record: exit 1 naming file and offset, never serves (SPEC §9)', async () => {
    const c = await startCluster(0, { teardown });
    const dir = tempDir(teardown, 'torn');
    const a = await soloPrimary(c, dir, 10);
    const started = JSON.parse(a.logs.find((l) => l.includes('started')) as string) as { incarnation: string };
    await a.kill('SIGKILL');
    const seg = path.join(dir, fs.readdirSync(dir).filter((n) => n.endsWith('.wal')).sort().pop() as string);
    fs.truncateSync(seg, fs.statSync(seg).size - 5); // mid-record: the last put's record is torn
    const a2 = await c.startReplica({ port: a.port, env: dataEnv(dir) });
    const again = recoveredLine(a2);
    expect(again.incarnation).to.equal(started.incarnation);
    expect(again.index).to.equal(9); // every complete record: 10 puts, the last one torn
    expect(a2.logs.some((l) => l.includes('cut a torn tail'))).to.equal(true);
    const s = await c.client();
    expect([await s.get('k8'), await s.get('k9')]).to.deep.equal(['v8', null]);
    await a2.kill('SIGKILL');

    const buf = fs.readFileSync(seg);
    const at = 200; // inside an early record (identity, view and the first ops come first)
    buf[at] ^= 0x10;
    fs.writeFileSync(seg, buf);
    const err = await c.startReplica({ port: a.port, env: dataEnv(dir) }).then(() => null, (e: Error) => e);
    expect(err?.message).to.contain('exited (1)').and.to.contain(`damaged data in ${seg} at offset`);
  });

  it('two processes never share a data dir: the second is refused (SPEC §9)', async () => {
    const c = await startCluster(0, { teardown });
    const dir = tempDir(teardown, 'lock');
    await soloPrimary(c, dir, 1);
    const err = await c.startReplica({ env: dataEnv(dir) }).then(() => null, (e: Error) => e);
    expect(err?.message).to.contain('exited (1)').and.to.contain('is in use');
  });
});
