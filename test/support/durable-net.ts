/**
 * Durable replica cores in memory (test/sim): a tiny network with FIFO links and a disk that
 * logs at once, and restarts "from disk" (the state and view a replica logged, its lineage;
 * nothing else). Used by the catch-up and cold-standby sims.
 */
import { ReplicaMachine, ReplicaEffect, FromPrimaryMsg, FromBackupMsg } from '../../server/replica/replica-machine';
import type { View, ViewHolders } from '../../common/view';
import type { ReqMsg } from '../../common/messages';
import type { LineageEntry } from '../../server/replica/catch-up';

export const A = 'ws://a';
export const B = 'ws://b';
const INC: Record<string, string> = { [A]: 'ia', [B]: 'ib' };
const holders = (v: View): ViewHolders => ({ primary: v.primary && INC[v.primary], backup: v.backup && INC[v.backup] });
export const put = (seq: number, key: string, value: string): ReqMsg => ({ type: 'req', client: 'c', seq, ack: seq - 1, op: 'put', key, value });

/** A durable replica in memory: its disk is whatever it logged (instantly), plus its last view and lineage. */
export class Node {
  m: ReplicaMachine;
  view: { view: View; holders: ViewHolders } | null = null;
  lineage: LineageEntry[] = [];
  replies = 0;
  constructor(readonly id: string, readonly cold = false, readonly ids = { n: 0 }) { this.m = this.fresh(); }
  fresh(): ReplicaMachine {
    return new ReplicaMachine({ me: this.id, incarnation: INC[this.id], durable: true, cold: this.cold, newLineage: () => `${this.id}#${++this.ids.n}` });
  }
  /** kill -9 and restart from disk: the logged state (everything logged at once here), view and lineage. */
  restart(dropRecent = false): void {
    const old = this.m;
    this.m = this.fresh();
    this.m.store.install({ index: old.store.index, revision: old.store.revision }, old.store.snapshotNow());
    this.m.catchUp!.reset(old.store.index);
    if (!dropRecent) this.m.catchUp!.add({ type: 'fwd', viewnum: 0, index: old.catchUp!.recentFrom, ops: old.catchUp!.frames(old.catchUp!.recentFrom - 1, old.store.index, 0, 1e9).flatMap((f) => f.ops) });
    if (this.view) this.m.resume(this.view.view, this.view.holders, old.store.index, this.lineage);
  }
}

export type Frame = { to: string; dir: 'toBackup' | 'toPrimary'; msg: FromPrimaryMsg | FromBackupMsg; link: number };

export class Net {
  frames: Frame[] = [];
  sent: FromPrimaryMsg[] = [];
  /** Frames this drops instead of sending (a cut link). */
  drop: (f: Frame) => boolean = () => false;
  logs: string[] = [];
  nodes: Record<string, Node>;
  constructor(...ns: Node[]) { this.nodes = Object.fromEntries(ns.map((n) => [n.id, n])); }

  step(n: Node, input: Parameters<ReplicaMachine['step']>[0]): void {
    n.m.step(input);
    this.apply(n);
  }

  private apply(n: Node): void {
    const rd = n.m.ready();
    const es: ReplicaEffect[] = rd.effects.slice();
    const flush = rd.flush !== 'none';
    const pump = rd.pump;
    n.m.advance();
    let logged = -1;
    let viewnum = -1;
    for (const e of es) {
      if (e.kind === 'reply') n.replies++;
      else if (e.kind === 'toBackup') {
        const to = n.m.view.backup as string;
        this.sent.push(e.msg);
        this.send({ to, dir: 'toBackup', msg: e.msg, link: 1 });
      } else if (e.kind === 'toPrimary') this.send({ to: n.m.view.primary as string, dir: 'toPrimary', msg: e.msg, link: e.link });
      else if (e.kind === 'log') this.logs.push(`${n.id} ${e.msg} ${JSON.stringify(e.data ?? {})}`);
      else if (e.kind === 'persistOps') logged = Math.max(logged, e.msg.index + e.msg.ops.length - 1);
      else if (e.kind === 'persistView') { n.view = { view: e.view, holders: e.holders }; viewnum = e.view.viewnum; }
      else if (e.kind === 'persistLineage') n.lineage = e.lineage;
      else if (e.kind === 'persistState') { n.lineage = e.lineage; this.later.push(() => this.step(n, { kind: 'stateLogged', viewnum: e.viewnum, index: n.m.store.index })); }
    }
    if (logged >= 0 || viewnum >= 0) this.later.push(() => this.step(n, { kind: 'logged', index: Math.max(logged, n.m.loggedIndex), viewnum: Math.max(viewnum, 0) }));
    if (flush) this.later.push(() => this.step(n, { kind: 'flush' }));
    if (pump) this.later.push(() => this.step(n, { kind: 'pump' }));
  }

  private later: (() => void)[] = [];

  private send(f: Frame): void {
    if (!this.drop(f)) this.frames.push(f);
  }

  /** Deliver everything (frames, disk completions, flushes) until quiet. */
  run(): void {
    for (let guard = 0; guard < 100000; guard++) {
      const f = this.frames.shift();
      if (f !== undefined) {
        const n = this.nodes[f.to];
        if (f.dir === 'toBackup') this.step(n, { kind: 'fromPrimary', link: f.link, peer: { id: n.m.view.primary as string, incarnation: INC[n.m.view.primary as string] }, msg: f.msg as FromPrimaryMsg });
        else this.step(n, { kind: 'fromBackup', msg: f.msg as FromBackupMsg });
        continue;
      }
      const l = this.later.shift();
      if (l === undefined) return;
      l();
    }
    throw new Error('the network never went quiet');
  }

  view(v: View): void {
    for (const n of Object.values(this.nodes)) this.step(n, { kind: 'view', view: v, holders: holders(v) });
    this.run();
    const p = v.primary === null ? null : this.nodes[v.primary];
    if (p && v.backup) {
      this.step(p, { kind: 'backupLinkUp' });
      this.run();
    }
  }

  ops(n: Node, from: number, to: number): void {
    for (let i = from; i <= to; i++) this.step(n, { kind: 'clientOp', conn: 1, req: put(i, `k${i % 7}`, `v${i}`) });
    this.run();
  }
}

