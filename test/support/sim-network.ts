/**
 * An in-memory cluster of ReplicaMachines (STYLE §3; raft_test.go's `network`, 6.824's
 * labrpc). No ports, no timers: `deliver()` steps recipients and collects their outboxes
 * until the network is quiet. Partitions and faults:
 *
 *   cut(a, b)      the link between two replicas is down (both ways) until heal()
 *   isolate(id)    cut from every replica and from the view service (clients still reach it)
 *   cutVs(id)      only the view service cannot reach it (no views, no pings)
 *   heal()         undo every cut and isolation
 *   hold(a, b)     frames a → b wait (in order) until release(a, b)
 *   drop(pred)     in-flight frames matching pred are lost
 *   duplicate(pred) in-flight frames matching pred are delivered twice
 *   linkDown(p)    p's link to its backup breaks (in-flight frames on it are lost); the
 *                  next deliver() reconnects it (a reconnecting Link)
 *   restart(id)    a new process: new incarnation, empty state
 *   restartVs()    a new view-service process: with the same `storage` it resumes, without
 *                  it learns the view from the replicas' reports (`reports: true`)
 *
 * Views come from `setView(view, holders)` (tests independent of the view service) or from
 * the real ViewMachine when constructed with `{ vs: true }`: every replica has a link to it
 * (cut by isolate/cutVs, restored by heal, dropped and reopened by restartVs), `tick(id)` /
 * `pingAll()` / `tickVs()` tick the machines, and the pings their Ready asks for are queued
 * (`pings`) and answered by `deliverPings()` (which pingAll and tickVs call), as the real
 * shell sends them: the machine decides when and with what viewnum (ping-rules.ts).
 *
 * Each step's one Ready is applied as the shell does: effects routed, `backupTarget` kept,
 * `flush`/`pump` stepped by `flushAll()` (one event-loop turn), `readPeer`/`closePeer` pause
 * or break the /peer link.
 *
 * A primary's link models the shell's: one link per backupTarget with an epoch; frames sent
 * on an older epoch are discarded (a closed TCP connection), so a link is FIFO and reliable
 * while it is up, like a WebSocket.
 */
import { ReplicaMachine, ReplicaEffect, FromPrimaryMsg, FromBackupMsg, ConnId, PeerIdentity, PingOut } from '../../server/replica/replica-machine';
import { fwdFrameText } from '../../server/replica/forward-frames';
import { ViewMachine } from '../../server/viewservice/view-machine';
import type { ViewStorage } from '../../common/recovery';
import type { View, ViewHolders } from '../../common/view';
import type { ReqMsg, ResMsg, OpName } from '../../common/messages';
import { DEFAULT_LIMITS, type Limits } from '../../common/limits';
import { decode, TRUSTED } from '../../common/protocol';
import type { StoreBounds } from '../../server/replica/kv-state';
import type { HistoryBounds } from '../../server/replica/write-history';
import { ManualClock } from './manual-clock';

export interface Envelope {
  from: string;
  to: string;
  dir: 'toBackup' | 'toPrimary';
  msg: FromPrimaryMsg | FromBackupMsg;
  /** The link epoch it was sent on. */
  link: number;
  /** The sender of the toBackup frame (the primary's identity on that link). */
  peer: PeerIdentity;
}

export interface ReplyRecord { at: string; conn: ConnId; msg: ResMsg }
/** Watch traffic a replica pushed to a client connection (events, synced, watch errors). */
export interface PushRecord { at: string; conn: ConnId; msg: Extract<ReplicaEffect, { kind: 'push' }>['msg'] }

interface SimNode {
  id: string;
  incarnation: string;
  machine: ReplicaMachine;
  /** The primary side of the link to Ready.backupTarget. */
  link: { target: string | null; epoch: number; up: boolean };
  /** What the last Ready said. */
  flush: boolean;
  pump: boolean;
  /** The replica's link to the view service is up. */
  vsUp: boolean;
}

/** A ping a replica's Ready asked for, on its way to the view service. */
export interface PingRecord { from: string; incarnation: string; msg: PingOut }

export interface SimOptions {
  limits?: Limits;
  storeBounds?: StoreBounds;
  chunkBytes?: number;
  /** The replicas' write history bounds (watch replays). @default DEFAULT_HISTORY_BOUNDS */
  history?: HistoryBounds;
  /** Drive views with the real ViewMachine. @default false */
  vs?: boolean;
  pingIntervalMs?: number;
  deadPings?: number;
  /** Pings carry the replica's report, as the real shell's do. @default false (SPEC §6 pings) */
  reports?: boolean;
  /** The view service's storage (kept across restartVs unless replaced). @default none */
  storage?: ViewStorage;
}

const pairKey = (a: string, b: string) => (a < b ? `${a}|${b}` : `${b}|${a}`);

export class SimNetwork {
  readonly nodes = new Map<string, SimNode>();
  queue: Envelope[] = [];
  readonly replies: ReplyRecord[] = [];
  readonly pushes: PushRecord[] = [];
  readonly logs: { at: string; effect: ReplicaEffect }[] = [];
  /** Every frame delivered, for assertions (e.g. "one fwd frame"). */
  readonly delivered: Envelope[] = [];
  readonly clock = new ManualClock();
  /** Pings sent and not yet delivered to the view service (deliverPings). */
  pings: PingRecord[] = [];
  /** /peer links a backup's core closed (closePeer), for assertions. */
  readonly peerCloses: { at: string; link: number; code: number; reason: string }[] = [];
  /** Every ping sent, for assertions (e.g. "one viewnum-0 ping"). */
  readonly pingLog: PingRecord[] = [];
  vs: ViewMachine | null;
  readonly pingIntervalMs: number;
  /** Reconnect links on deliver(). */
  autoLink = true;

  private cuts = new Set<string>();
  private vsCut = new Set<string>();
  private held = new Set<string>();
  /** /peer links (by epoch) whose reading the backup's core stopped (readPeer off). */
  private pausedLinks = new Set<number>();
  /** /peer link epoch → the primary that opened it and its identity. */
  private linkOwners = new Map<number, { primary: string; peer: PeerIdentity }>();
  private epochs = 0;
  private incarnations = 0;

  constructor(private readonly o: SimOptions = {}) {
    this.pingIntervalMs = o.pingIntervalMs ?? 100;
    this.vs = o.vs ? this.newVs(o.storage) : null;
  }

  private newVs(storage: ViewStorage | undefined): ViewMachine {
    return new ViewMachine({ pingIntervalMs: this.pingIntervalMs, deadPings: this.o.deadPings ?? 5, clock: this.clock, storage });
  }

  /** The view service restarts: a new machine over `storage` (default: the one it had; null: none). */
  restartVs(storage: ViewStorage | null | undefined = this.o.storage): ViewMachine {
    this.vs = this.newVs(storage ?? undefined);
    for (const id of [...this.nodes.keys()]) {
      this.setVsLink(id, false); // the old process's links closed; answers on them are lost
      if (!this.vsCut.has(id)) this.setVsLink(id, true);
    }
    this.pings = [];
    return this.vs;
  }

  // ───────────────────────── membership ─────────────────────────

  add(...ids: string[]): this {
    for (const id of ids) this.start(id);
    return this;
  }

  /** A new process under `id`: fresh incarnation, empty state; links to it break. */
  restart(id: string): ReplicaMachine {
    this.crash(id, { silent: true }); // the new process's first ping (new incarnation) tells the VS
    return this.start(id).machine;
  }

  /**
   * The process is gone: frames to it are lost, links to it break. With the view service,
   * its VS link closes too (it is dead at once) unless `silent` (a hang: found by ticks).
   */
  crash(id: string, o: { silent?: boolean } = {}): void {
    const gone = this.nodes.get(id);
    this.nodes.delete(id);
    for (const n of this.nodes.values()) if (n.link.target === id && n.link.up) this.breakLink(n);
    if (this.vs && gone && !o.silent) this.vsLinkClosed(id, gone.incarnation);
  }

  private start(id: string): SimNode {
    const incarnation = `${id}#${++this.incarnations}`;
    const machine = new ReplicaMachine({
      me: id, incarnation, limits: this.o.limits, storeBounds: this.o.storeBounds, chunkBytes: this.o.chunkBytes, history: this.o.history,
      pingIntervalMs: this.pingIntervalMs,
    });
    const node: SimNode = { id, incarnation, machine, link: { target: null, epoch: ++this.epochs, up: false }, flush: false, pump: false, vsUp: false };
    this.nodes.set(id, node);
    if (this.vs && !this.vsCut.has(id)) this.setVsLink(id, true);
    return node;
  }

  m(id: string): ReplicaMachine {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no replica ${id}`);
    return n.machine;
  }

  inc(id: string): string {
    return (this.nodes.get(id) as SimNode).incarnation;
  }

  /** Holders naming the current incarnations of the view's replicas. */
  holdersOf(view: View): ViewHolders {
    return {
      primary: view.primary ? this.nodes.get(view.primary)?.incarnation ?? 'gone' : null,
      backup: view.backup ? this.nodes.get(view.backup)?.incarnation ?? 'gone' : null,
    };
  }

  // ───────────────────────── views ─────────────────────────

  /** Deliver a view (as the view service would) to `to` (default: every replica the VS reaches). */
  setView(view: View, holders: ViewHolders = this.holdersOf(view), to?: string[]): void {
    for (const id of to ?? [...this.nodes.keys()]) {
      if (this.vsCut.has(id) || !this.nodes.has(id)) continue;
      this.step(id, { kind: 'view', view, holders });
    }
  }

  /** The replica's link to the view service opens (up) or closes: its machine is told, as the shell's link does. */
  setVsLink(id: string, up: boolean): void {
    const n = this.nodes.get(id);
    if (!n || n.vsUp === up) return;
    n.vsUp = up;
    this.step(id, { kind: up ? 'vsLinkUp' : 'vsLinkDown' });
  }

  /** Time passes for one replica: machine.tick(clock.now()) and its Ready applied. */
  tick(id: string): void {
    const n = this.nodes.get(id);
    if (!n) return;
    n.machine.tick(this.clock.now());
    this.applyReady(n);
  }

  /** Every replica ticks (a ping is due), and every queued ping reaches the view service. */
  pingAll(): void {
    for (const id of [...this.nodes.keys()]) this.tick(id);
    this.deliverPings();
  }

  /** Queued pings reach the real ViewMachine (in order); each is answered with its view, new views are pushed. */
  deliverPings(): void {
    const vs = this.needVs();
    const pings = this.pings;
    this.pings = [];
    for (const p of pings) {
      const n = this.nodes.get(p.from);
      if (!n || n.incarnation !== p.incarnation || !n.vsUp) continue; // the link it went out on is gone
      const { view: _v, holders: _h, role: _r, initialised: _i, suspect, ...bare } = p.msg;
      const report = this.o.reports ? { view: p.msg.view!, holders: p.msg.holders ?? null, role: p.msg.role!, initialised: p.msg.initialised! } : undefined;
      const view = vs.ping(bare.id, bare.incarnation, bare.viewnum, report);
      if (suspect !== undefined) vs.suspect(bare.id, bare.incarnation, suspect);
      this.step(n.id, { kind: 'view', view, holders: vs.holders });
      this.pushNewView();
    }
  }

  /** One pingInterval: advance the clock, every reachable replica ticks and pings, the VS ticks. */
  tickVs(): void {
    const vs = this.needVs();
    this.clock.advance(this.pingIntervalMs);
    this.pingAll();
    vs.tick();
    this.pushNewView();
  }

  /** Ping, tick and deliver until the view service's view is acknowledged and nothing changes. */
  settle(rounds = 20): void {
    for (let i = 0; i < rounds; i++) {
      this.tickVs();
      this.deliver();
    }
  }

  /** The replica's VS link closed (a crash the VS notices at once). */
  vsLinkClosed(id: string, incarnation: string): void {
    this.needVs().linkClosed(id, incarnation);
    this.pushNewView();
  }

  private pushNewView(): void {
    const nv = this.needVs().takeNewView();
    if (nv) this.setView(nv.view, nv.holders);
  }

  private needVs(): ViewMachine {
    if (!this.vs) throw new Error('SimNetwork was built without { vs: true }');
    return this.vs;
  }

  // ───────────────────────── clients ─────────────────────────

  /** A client operation arrives at `at` on connection `conn`. */
  clientOp(at: string, req: ReqMsg, conn: ConnId = 0): void {
    // with its frame, as the shell passes it: the primary forwards frames as they came
    this.step(at, { kind: 'clientOp', conn, req, raw: JSON.stringify(req) });
  }

  client(name: string, conn: ConnId): SimClient {
    return new SimClient(this, name, conn);
  }

  repliesOn(conn: ConnId): ResMsg[] {
    return this.replies.filter((r) => r.conn === conn).map((r) => r.msg);
  }

  // ───────────────────────── the network ─────────────────────────

  /** Step a replica and apply its Ready. */
  step(id: string, input: Parameters<ReplicaMachine['step']>[0]): void {
    const n = this.nodes.get(id);
    if (!n) return;
    n.machine.step(input);
    this.applyReady(n);
  }

  /** The shell's part: route the effects, send the ping, keep one link to backupTarget. */
  private applyReady(n: SimNode): void {
    const rd = n.machine.ready();
    for (const e of rd.effects) this.route(n, e);
    if (rd.ping !== null && this.vs && n.vsUp) {
      const rec = { from: n.id, incarnation: n.incarnation, msg: rd.ping };
      this.pings.push(rec);
      this.pingLog.push(rec);
    }
    n.flush = rd.flush !== 'none';
    n.pump = rd.pump;
    n.machine.advance();
    this.syncLink(n, rd.backupTarget);
  }

  private route(n: SimNode, e: ReplicaEffect): void {
    const id = n.id;
    switch (e.kind) {
      case 'reply': this.replies.push({ at: id, conn: e.conn, msg: e.msg }); break;
      case 'push': this.pushes.push({ at: id, conn: e.conn, msg: e.msg }); break;
      case 'log': this.logs.push({ at: id, effect: e }); if (process.env.SIM_LOG) console.log(id, e.level, e.msg, JSON.stringify(e.data ?? {})); break;
      case 'toBackup':
        if (n.link.up && n.link.target) {
          // a fwd travels as the text the shell builds from the raw frames, decoded as the real /peer route does
          const msg = e.msg.type === 'fwd' ? decode(fwdFrameText(e.msg, e.raws), this.o.limits ?? DEFAULT_LIMITS, TRUSTED) as FromPrimaryMsg : e.msg;
          const peer = { id, incarnation: n.incarnation };
          this.linkOwners.set(n.link.epoch, { primary: id, peer });
          this.queue.push({ from: id, to: n.link.target, dir: 'toBackup', msg, link: n.link.epoch, peer });
        }
        break;
      case 'toPrimary': {
        const owner = this.linkOwners.get(e.link);
        if (owner) this.queue.push({ from: id, to: owner.primary, dir: 'toPrimary', msg: e.msg, link: e.link, peer: owner.peer });
        break;
      }
      case 'readPeer':
        if (e.on) this.pausedLinks.delete(e.link);
        else this.pausedLinks.add(e.link);
        break;
      case 'closePeer': {
        this.peerCloses.push({ at: id, link: e.link, code: e.code, reason: e.reason });
        this.pausedLinks.delete(e.link);
        const owner = this.nodes.get(this.linkOwners.get(e.link)?.primary ?? '');
        if (owner && owner.link.epoch === e.link && owner.link.up) this.breakLink(owner);
        break;
      }
      case 'relinkBackup':
        // Link.restart(): the socket ends (frames in flight on it are lost), the link reconnects
        // (reconnect()); the machine already counts it as down.
        n.link = { target: n.link.target, epoch: ++this.epochs, up: false };
        break;
    }
  }

  /** The shell's rule: one link to Ready.backupTarget; a new target means a new link. */
  private syncLink(n: SimNode, target: string | null): void {
    if (target === n.link.target) return;
    n.link = { target, epoch: ++this.epochs, up: false };
  }

  private reachable(a: string, b: string): boolean {
    return this.nodes.has(a) && this.nodes.has(b) && !this.cuts.has(pairKey(a, b));
  }

  /** Bring up every link that is down but could connect (a reconnecting Link). */
  reconnect(): void {
    for (const n of [...this.nodes.values()]) {
      if (this.nodes.get(n.id) !== n) continue;
      if (n.link.target && !n.link.up && this.reachable(n.id, n.link.target)) {
        n.link.up = true;
        this.step(n.id, { kind: 'backupLinkUp' });
      }
    }
  }

  /** The primary's link to its backup breaks; frames in flight on it are lost. */
  linkDown(id: string): void {
    const n = this.nodes.get(id);
    if (n && n.link.up) this.breakLink(n);
  }

  private breakLink(n: SimNode): void {
    n.link = { target: n.link.target, epoch: ++this.epochs, up: false };
    this.step(n.id, { kind: 'backupLinkDown' });
  }

  /** Flush every machine that wants it, and pump every streaming transfer (one event-loop turn). */
  flushAll(): void {
    for (const n of [...this.nodes.values()]) {
      if (n.flush) this.step(n.id, { kind: 'flush' });
      if (n.pump && this.nodes.get(n.id) === n) this.step(n.id, { kind: 'pump' });
    }
  }

  private live(env: Envelope): boolean {
    const primary = this.nodes.get(env.dir === 'toBackup' ? env.from : env.to);
    return !!primary && primary.link.up && primary.link.epoch === env.link && this.reachable(env.from, env.to);
  }

  /** Deliver one frame (the first not held); false if none. */
  deliverOne(): boolean {
    const i = this.queue.findIndex((e) => !this.held.has(`${e.from}>${e.to}`) && !(e.dir === 'toBackup' && this.pausedLinks.has(e.link)));
    if (i < 0) return false;
    const [env] = this.queue.splice(i, 1);
    if (!this.live(env)) return true;
    this.delivered.push(env);
    if (env.dir === 'toBackup') {
      this.step(env.to, { kind: 'fromPrimary', link: env.link, peer: env.peer, msg: env.msg as FromPrimaryMsg });
    } else {
      this.step(env.to, { kind: 'fromBackup', msg: env.msg as FromBackupMsg });
    }
    return true;
  }

  /** Run event-loop turns until quiet: reconnect links, flush, deliver frames. */
  deliver(limit = 1_000_000): void {
    for (let i = 0; i < limit; i++) {
      if (this.autoLink) this.reconnect();
      this.flushAll();
      if (!this.deliverOne()) return;
    }
    throw new Error('SimNetwork.deliver: not quiet after the limit');
  }

  cut(a: string, b: string): void {
    this.cuts.add(pairKey(a, b));
    for (const [x, y] of [[a, b], [b, a]]) {
      const n = this.nodes.get(x);
      if (n && n.link.target === y && n.link.up) this.breakLink(n);
    }
  }

  isolate(id: string): void {
    for (const other of this.nodes.keys()) if (other !== id) this.cut(id, other);
    this.cutVs(id);
  }

  cutVs(id: string): void {
    this.vsCut.add(id);
    this.setVsLink(id, false);
  }

  heal(): void {
    this.cuts.clear();
    const cut = [...this.vsCut];
    this.vsCut.clear();
    if (this.vs) for (const id of cut) this.setVsLink(id, true);
  }

  hold(from: string, to: string): void {
    this.held.add(`${from}>${to}`);
  }

  release(from: string, to: string): void {
    this.held.delete(`${from}>${to}`);
  }

  drop(pred: (e: Envelope) => boolean): number {
    const before = this.queue.length;
    this.queue = this.queue.filter((e) => !pred(e));
    return before - this.queue.length;
  }

  duplicate(pred: (e: Envelope) => boolean): number {
    const out: Envelope[] = [];
    let n = 0;
    for (const e of this.queue) {
      out.push(e);
      if (pred(e)) { out.push({ ...e }); n++; }
    }
    this.queue = out;
    return n;
  }

  /** Frames of a type delivered so far (optionally only to `to`). */
  deliveredOf(type: string, to?: string): Envelope[] {
    return this.delivered.filter((e) => e.msg.type === type && (to === undefined || e.to === to));
  }
}

/** A test client: its own connection id, a seq counter, same-(client, seq) resends. */
export class SimClient {
  private seq = 0;
  private sent = new Map<number, ReqMsg>();
  /** The lowest seq still waiting (sent as `ack`). */
  ack = 1;

  constructor(private readonly net: SimNetwork, readonly name: string, readonly conn: ConnId) {}

  /** Send a new operation to `at`; returns its seq. */
  send(at: string, op: OpName, key: string, value?: string): number {
    const seq = ++this.seq;
    const req: ReqMsg = { type: 'req', client: this.name, seq, ack: this.ack, op, key };
    if (value !== undefined) req.value = value;
    this.sent.set(seq, req);
    this.net.clientOp(at, req, this.conn);
    return seq;
  }

  /** Send the same (client, seq) again, to `at`. */
  resend(at: string, seq: number): void {
    const req = this.sent.get(seq);
    if (!req) throw new Error(`no seq ${seq}`);
    this.net.clientOp(at, { ...req, ack: this.ack }, this.conn);
  }

  replies(seq?: number): ResMsg[] {
    return this.net.repliesOn(this.conn).filter((r) => seq === undefined || r.seq === seq);
  }

  /** The last reply to `seq`, or undefined. */
  reply(seq: number): ResMsg | undefined {
    const all = this.replies(seq);
    return all[all.length - 1];
  }
}
