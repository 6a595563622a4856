/**
 * `npm run chaos -- --durable` (SPEC §9, issue #11): every replica and the view service keep
 * data dirs (--fsync always), and besides the seeded schedule's faults this nemesis kills -9
 * the WHOLE cluster (view service and every replica at once) every 8–20 s and restarts all of
 * them from their data dirs (the view service on its own port, the replicas on theirs, behind
 * the same proxies). Acknowledged writes must survive: the run's linearizability check spans
 * the restarts, and the digests are compared at the end as always.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { seededRandom } from '../support/fault-proxy';
import { freePort, spawnView, type ReplicaProc, type ViewProc } from '../support/processes';

/** What the nemesis needs of run-chaos.ts's nodes. */
export interface DurableNode { index: number; proc: ReplicaProc | null; paused: boolean }

export interface DurableRun {
  nodes: DurableNode[];
  vs(): ViewProc;
  setVs(vs: ViewProc): void;
  startNode(n: DurableNode): Promise<void>;
  stopped(): boolean;
  log(line: string): void;
  t0: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class DurableNemesis {
  crashes = 0;
  private constructor(private readonly root: string, readonly viewPort: number, private readonly seed: number, private readonly pingInterval: number, private readonly deadPings: number) {}

  static async create(seed: number, pingInterval: number, deadPings: number): Promise<DurableNemesis> {
    return new DurableNemesis(fs.mkdtempSync(path.join(os.tmpdir(), `understudy-chaos-durable-${seed}-`)), await freePort(), seed, pingInterval, deadPings);
  }

  private env(name: string): Record<string, string> {
    return { UNDERSTUDY_DATA_DIR: path.join(this.root, name), UNDERSTUDY_FSYNC: 'always' };
  }

  /** The replica `index`'s environment: its own data dir. */
  replicaEnv(index: number): Record<string, string> { return this.env(`replica-${index}`); }

  /** The view service on its fixed port with its data dir (so it can come back at the same address). */
  spawnView(): Promise<ViewProc> {
    return spawnView({ port: this.viewPort, pingInterval: this.pingInterval, deadPings: this.deadPings, env: this.env('view') });
  }

  /** Whole-cluster kill -9 and restart, every 8–20 s until the run stops. */
  async run(r: DurableRun): Promise<void> {
    const rand = seededRandom(this.seed ^ 0xd15c);
    for (;;) {
      const wait = 8000 + Math.floor(rand() * 12000);
      for (let t = 0; t < wait && !r.stopped(); t += 100) await sleep(100);
      // Not while a scheduled kill is restarting a node: two processes of one node would race for its data dir.
      while (!r.stopped() && r.nodes.some((n) => n.proc === null)) await sleep(50);
      if (r.stopped()) return;
      r.log(`  t=${((Date.now() - r.t0) / 1000).toFixed(1)}s durable nemesis: kill -9 of the view service and every replica; restart all from their data dirs`);
      const procs = r.nodes.map((n) => n.proc);
      await Promise.all([r.vs().kill('SIGKILL'), ...procs.map((p) => p?.kill('SIGKILL'))]);
      for (const n of r.nodes) { n.proc = null; n.paused = false; }
      this.crashes++;
      await sleep(Math.floor(rand() * 200));
      r.setVs(await this.spawnView());
      const order = rand() < 0.5 ? r.nodes : [...r.nodes].reverse();
      for (const n of order) if (n.proc === null) await r.startNode(n).catch((e) => r.log(`  durable restart of replica ${n.index} failed: ${e}`));
    }
  }

  cleanup(): void {
    fs.rmSync(this.root, { recursive: true, force: true });
  }
}
