/**
 * Repeated crashes (issue #2): every second kill -9 a random replica and start it again on
 * the same address, for 20 s, while two clients check read-your-writes. No wrong read.
 */
import { expect } from 'chai';
import { freePort, type ReplicaProc, waitForView, getJson, type ViewStatus } from '../support/processes';
import { startCluster } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';
import { sleep } from '../support/wait';

const SECONDS = Number(process.env.CRASH_SECONDS ?? 20);

describe('e2e: repeated crashes', function () {
  this.timeout((SECONDS + 60) * 1000);
  const teardown = teardownAfterEach();

  it(`kill -9 and restart a random replica every second for ${SECONDS} s: two clients never read a wrong value`, async () => {
    const c = await startCluster(0, { teardown });
    const ports = await Promise.all([0, 1, 2].map(() => freePort()));
    const procs: (ReplicaProc | null)[] = [];
    for (const port of ports) {
      procs.push(await c.startReplica({ port }));
      await waitForView(c.vs, (v) => v.primary !== null && v.acked);
    }
    await waitForView(c.vs, (v) => v.backup !== null && v.acked);

    let stop = false;
    const wrong: string[] = [];
    const stats = { ok: 0, timeouts: 0 };
    const worker = async (ci: number) => {
      const s = await c.client({ timeoutMs: 4000 });
      const key = `rw-${ci}`;
      // Values a read may legally return: the last acknowledged put, plus any put whose outcome is unknown since then.
      let allowed = new Set<string | null>([null]);
      for (let i = 0; !stop; i++) {
        const value = `${ci}-${i}`;
        try {
          await s.put(key, value);
          allowed = new Set([value]);
        } catch (e) {
          if ((e as { code?: string }).code !== 'TIMEOUT') throw e;
          stats.timeouts++;
          allowed.add(value);
          continue;
        }
        try {
          const got = await s.get(key);
          if (!allowed.has(got)) wrong.push(`client ${ci} read ${got} after put ${value}`);
          stats.ok++;
        } catch (e) {
          if ((e as { code?: string }).code !== 'TIMEOUT') throw e;
          stats.timeouts++;
        }
      }
    };
    const workers = [worker(0), worker(1)];

    const kills: string[] = [];
    const deadline = Date.now() + SECONDS * 1000;
    let seed = 12345;
    const rand = () => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x7fffffff; };
    while (Date.now() < deadline) {
      await sleep(1000);
      const i = Math.floor(rand() * 3);
      const v = await getJson<ViewStatus>(`${c.vs.http}/view`).catch(() => null);
      const p = procs[i]!;
      kills.push(`${p.id === v?.primary ? 'primary' : p.id === v?.backup ? 'backup' : 'idle'}`);
      await p.kill('SIGKILL');
      procs[i] = await c.startReplica({ port: ports[i] });
    }
    stop = true;
    await Promise.all(workers);
    expect(wrong, wrong.join('\n')).to.deep.equal([]);
    expect(stats.ok, `completed read-your-writes rounds (kills: ${kills.join(',')}; timeouts: ${stats.timeouts})`).to.be.greaterThan(10);
  });
});
