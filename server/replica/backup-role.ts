/**
 * The backup's side of the replica core (SPEC §3.3): it installs a transfer only from the
 * primary of its view (with its holder incarnation) and accepts `fwd` only for that view,
 * from that peer, after the install, in index order; anything else is rejected with its
 * view. The ReplicaMachine holds one and steps it while it is backup.
 *
 * Cold standby (`--standby cold`, SPEC §9): after the install, forwarded ops are logged and
 * acknowledged once on disk but NOT applied: they wait in `cold` (the log has them) and are
 * applied at the next view change (so before a promotion serves anything), before a suffix
 * or probe, or once COLD_MAX_OPS wait. A new transfer supersedes them.
 */
import type { FwdMsg } from '../../common/messages';
import type { KvState } from './kv-state';
import type { FromPrimaryMsg, PeerIdentity, PeerLinkId, RoleContext } from './replica-io';
import type { LineageEntry } from './catch-up';
import { beginSuffix } from './catch-up-in';

/** Ops a cold standby keeps unapplied, at most; then it applies them (memory stays bounded). @default 100000 */
export const COLD_MAX_OPS = 100_000;

/**
 * A transfer being received: the state it builds, and the chunks so far. A suffix
 * (catch-up.ts) builds on my own store: `suffix` is then true and `store` mine.
 */
interface Staging { viewnum: number; peer: PeerIdentity; store: KvState; chunks: number; lineage?: LineageEntry[]; suffix?: boolean }

export class BackupRole {
  /** Viewnum whose transfer is installed (0: none). */
  private _installed = 0;
  private staging: Staging | null = null;
  /** Durable: the link fwdacks go back on as the log catches up, and the last index acknowledged. */
  private ackLink: PeerLinkId | null = null;
  private acked = 0;
  /** Durable: an installed transfer whose xferack waits for its snapshot on disk (stateLogged). */
  private xferAck: { link: PeerLinkId; viewnum: number; upTo?: number } | null = null;

  /** Cold standby: forwarded ops logged but not applied yet, in order, and their count and last index. */
  private cold: FwdMsg[] = [];
  private coldOps = 0;
  private coldLast = 0;

  constructor(
    private readonly ctx: RoleContext,
    /** xfer-end: the transfer's state replaces mine. */
    private readonly install: (store: KvState) => void,
    /** --standby cold (durable only). */
    private readonly coldStandby = false,
  ) {}

  /** The last op I have: applied, or (cold standby) logged and waiting. */
  get lastIndex(): number { return this.coldOps > 0 ? this.coldLast : this.ctx.store.index; }

  /** Cold standby: apply what waits (the log already has it). */
  warm(): void {
    if (this.coldOps === 0) return;
    const store = this.ctx.store;
    for (const m of this.cold) for (let i = Math.max(0, store.index + 1 - m.index); i < m.ops.length; i++) store.apply(m.ops[i], false);
    this.ctx.log('info', 'cold standby: applied the logged operations', { ops: this.coldOps, index: store.index });
    this.cold = [];
    this.coldOps = 0;
  }

  get installed(): number { return this._installed; }
  /** A state transfer is being received (between xfer-begin and xfer-end). */
  get receiving(): boolean { return this.staging !== null; }

  /** A new view: a transfer for another view is dropped. */
  onView(viewnum: number): void {
    this.warm(); // a promotion serves only after every logged op is applied (SPEC §9 cold standby)
    if (this.staging && this.staging.viewnum !== viewnum) this.staging = null;
    if (this.xferAck?.viewnum !== viewnum) this.xferAck = null;
    this.ackLink = null;
  }

  /** Restarted from disk as the backup of `viewnum`: the state on disk counts as installed. */
  resume(viewnum: number): void { this._installed = viewnum; }

  /**
   * Durable: the log advanced. A backup acknowledges only what is on disk (fwdack up to
   * min(applied, logged)), so an acknowledged write is on both disks (docs/DURABILITY.md §8).
   */
  onLogged(): void {
    const v = this.ctx.view.viewnum;
    if (this.xferAck?.upTo !== undefined && this.ctx.loggedIndex >= this.xferAck.upTo) this.onStateLogged(v); // a suffix, on disk
    if (this.ackLink === null || this._installed !== v || this.xferAck !== null) return;
    const index = Math.min(this.lastIndex, this.ctx.loggedIndex);
    if (index <= this.acked) return;
    this.acked = index;
    this.ctx.out.push({ kind: 'toPrimary', link: this.ackLink, msg: { type: 'fwdack', viewnum: v, index } });
  }

  /** Durable: the installed transfer is on disk; now it is acknowledged (xferack). */
  onStateLogged(viewnum: number): void {
    const x = this.xferAck;
    if (x === null || x.viewnum !== viewnum || this.ctx.view.viewnum !== viewnum) return;
    this.xferAck = null;
    this.ackLink = x.link;
    this.acked = Math.min(this.ctx.store.index, this.ctx.loggedIndex);
    this.ctx.out.push({ kind: 'toPrimary', link: x.link, msg: { type: 'xferack', viewnum, index: this.acked } });
  }

  private isMyPrimary(peer: PeerIdentity): boolean {
    const { view, holders } = this.ctx;
    return peer.id === view.primary && holders !== null && peer.incarnation === holders.primary;
  }

  fromPrimary(link: PeerLinkId, peer: PeerIdentity, m: FromPrimaryMsg, text?: string): void {
    const v = this.ctx.view.viewnum;
    const viewnum = m.type === 'xfer-begin' ? m.view.viewnum : m.viewnum;
    if (viewnum !== v) return this.reject(link, m, `${m.type} for view ${viewnum}, but my view is ${v}`);
    if (!this.isMyPrimary(peer)) return this.reject(link, m, `${peer.id} is not the primary of view ${v}`);
    switch (m.type) {
      case 'xfer-begin': {
        if (m.probe || m.from !== undefined) return this.suffixPart(link, peer, m);
        // The state is built in a staging store as the chunks arrive (and the fwds behind
        // them are applied to it); it replaces mine at xfer-end. Mine counts for nothing
        // until then: a backup never serves, and acknowledges only what the staging applied.
        const store = this.ctx.store.emptyLike();
        store.beginInstall({ index: m.index, revision: m.revision });
        this.staging = { viewnum: v, peer, store, chunks: 0, lineage: m.lineage };
        return;
      }
      case 'xfer-data':
      case 'xfer-end':
        return this.onTransferPart(link, peer, m);
      case 'fwd':
        return this.onForward(link, peer, m, text);
    }
  }

  private onTransferPart(link: PeerLinkId, peer: PeerIdentity, m: Extract<FromPrimaryMsg, { type: 'xfer-data' | 'xfer-end' }>): void {
    const s = this.staging;
    const v = this.ctx.view.viewnum;
    if (!s || s.peer.incarnation !== peer.incarnation) return this.reject(link, m, `${m.type} without xfer-begin`);
    if (s.suffix) return this.suffixEnd(link, s, m);
    if (m.type === 'xfer-data') {
      s.store.receive(m.events || m.leases ? m : { data: m.data, dedup: m.dedup });
      this.ctx.out.push({ kind: 'toPrimary', link, msg: { type: 'chunkack', viewnum: v, n: ++s.chunks } });
      return;
    }
    s.store.finishInstall();
    this.cold = []; // superseded by the new state
    this.coldOps = 0;
    this.install(s.store);
    this.staging = null;
    this._installed = v;
    this.ctx.log('info', `installed state transfer for view ${v}`, { index: s.store.index, keys: s.store.size, chunks: s.chunks });
    const cu = this.ctx.catchUp;
    if (cu !== null) {
      // The log restarts after a snapshot of this state (with the primary's lineage); xferack once it is on disk (onStateLogged).
      cu.adopt(s.lineage ?? []);
      cu.reset(s.store.index);
      this.xferAck = { link, viewnum: v };
      this.ctx.out.push({ kind: 'persistState', viewnum: v, lineage: cu.lineage });
      return;
    }
    this.ctx.out.push({ kind: 'toPrimary', link, msg: { type: 'xferack', viewnum: v, index: s.store.index } });
  }

  /**
   * Apply forwarded ops in index order; ops already applied (a resend) are skipped. During
   * a transfer they go to the staging store, behind the snapshot's meta part: the primary
   * sent every key they touch (as of the snapshot) before them.
   */
  private onForward(link: PeerLinkId, peer: PeerIdentity, m: FwdMsg, text: string | undefined): void {
    const s = this.staging;
    const v = this.ctx.view.viewnum;
    let store: KvState;
    let queue = false;
    if (s !== null && s.viewnum === v && s.peer.incarnation === peer.incarnation) {
      store = s.store; // a transfer under way (perhaps a fresh one over an installed one) takes them
    } else if (this._installed === v) {
      store = this.ctx.store;
      queue = this.coldStandby;
    } else return this.reject(link, m, `no state transfer installed for view ${v}`);
    const last = queue ? this.lastIndex : store.index;
    if (m.index > last + 1) return this.reject(link, m, `fwd starts at index ${m.index}, expected at most ${last + 1}`);
    const end = m.index + m.ops.length - 1;
    if (queue) this.queueCold(m, end, last);
    else for (let i = Math.max(0, last + 1 - m.index); i < m.ops.length; i++) store.apply(m.ops[i], false); // (no list page: the backup sends none)
    if (!this.ctx.durable) {
      this.ctx.out.push({ kind: 'toPrimary', link, msg: { type: 'fwdack', viewnum: v, index: store.index } });
      return;
    }
    // Durable: a transfer's staging is logged whole at xfer-end (its snapshot covers these
    // ops); after it, ops are logged as received and acknowledged once on disk (onLogged).
    if (store === s?.store && !s.suffix) return;
    if (end > last) {
      this.ctx.out.push({ kind: 'persistOps', msg: m, text });
      this.ctx.catchUp?.add(m);
    }
    if (link !== this.ackLink) this.acked = 0; // a new link: what went on the old one may be lost
    this.ackLink = link;
    this.onLogged();
  }

  /** Cold standby: keep the new ops of `m` unapplied. */
  private queueCold(m: FwdMsg, end: number, last: number): void {
    if (end <= last) return;
    this.cold.push(m);
    this.coldOps += end - last;
    this.coldLast = end;
    if (this.coldOps >= COLD_MAX_OPS) this.warm();
  }

  /** Durable: a probe (answered with my position) or the start of a suffix (catch-up-in.ts). */
  private suffixPart(link: PeerLinkId, peer: PeerIdentity, m: Extract<FromPrimaryMsg, { type: 'xfer-begin' }>): void {
    this.warm(); // my position, and a suffix, build on every op I have
    const r = beginSuffix(this.ctx, link, m);
    if (typeof r === 'string') return this.reject(link, m, r);
    if (r) this.staging = { viewnum: m.view.viewnum, peer, store: this.ctx.store, chunks: 0, suffix: true };
  }

  /** The suffix is applied: installed; xferack once the log has it all (onLogged). */
  private suffixEnd(link: PeerLinkId, s: Staging, m: Extract<FromPrimaryMsg, { type: 'xfer-data' | 'xfer-end' }>): void {
    if (m.type === 'xfer-data') return this.reject(link, m, 'xfer-data during a log suffix');
    this.staging = null;
    this._installed = s.viewnum;
    this.xferAck = { link, viewnum: s.viewnum, upTo: s.store.index };
    this.ctx.log('info', `caught up by log suffix for view ${s.viewnum}`, { index: s.store.index });
    this.onLogged();
  }

  /** Rejected with my view: a primary that learns a newer view from it knows it was replaced. */
  reject(link: PeerLinkId, m: FromPrimaryMsg, reason: string): void {
    this.ctx.log('debug', `rejected ${m.type}: ${reason}`);
    this.ctx.out.push({ kind: 'toPrimary', link, msg: { type: 'reject', view: this.ctx.view, reason } });
  }
}
