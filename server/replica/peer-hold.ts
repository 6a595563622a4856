/**
 * Frames of a /peer link held back until the view service has announced the view they
 * belong to (issue #5, SPEC §1). Part of the replica core: the machine decides, the shell
 * only stops and resumes reading the socket when told (`readPeer` effects).
 *
 * Why: an `xfer-begin` carries a view, and a backup that has not heard of that view yet
 * used to adopt it from the message. But the message comes from whoever opened the /peer
 * link; a view the view service never made ("view 2^53−1: primary = me-the-stranger,
 * backup = you") would then be adopted: the replica would drop out of the real view,
 * ignore every later (lower) view from the view service, and install the stranger's state.
 * Views come from the view service only. So the core holds the link's frames (and the shell
 * stops reading it: TCP pushes back on the sender) until its own view has caught up, and
 * then steps through the frames in order:
 *
 *   primary                       backup core                       view service
 *     │── xfer-begin {view v+1} ──▶ v+1 > my view v: hold, readPeer off │
 *     │── xfer-data … ───────────▶ (held, in order)                     │
 *     │                             ◀──────────────── view v+1 ─────────│
 *     │                             release: step xfer-begin, xfer-data…│
 *     │◀───────────── xferack ─────│
 *
 * The view service pushes a new view to every replica at once and answers every ping with
 * it, so a real primary's transfer waits about one ping interval at most. A forged view is
 * never announced: after `holdMs` (checked on tick) the link is closed with 1013, and so is
 * one that sends more than MAX_HELD_FRAMES meanwhile or one past MAX_HELD_LINKS (a real
 * primary reconnects and sends a fresh transfer).
 */
import type { FromPrimaryMsg, PeerIdentity, PeerLinkId } from './replica-io';

/** Frames one held link may hold (what the socket had read before it was paused). @default 1024 */
export const MAX_HELD_FRAMES = 1024;
/** Links held at once (each is one /peer link). @default 16 */
export const MAX_HELD_LINKS = 16;

export interface HeldFrame { peer: PeerIdentity; msg: FromPrimaryMsg }
interface Held { viewnum: number; since: number; frames: HeldFrame[] }

/** How long frames for an unannounced view are held before their link is closed. @default max(1 s, 10 × pingInterval) */
export const holdMs = (pingIntervalMs: number): number => Math.max(1000, 10 * pingIntervalMs);

export class PeerHolds {
  private readonly held = new Map<PeerLinkId, Held>();

  get size(): number { return this.held.size; }
  isHeld(link: PeerLinkId): boolean { return this.held.size !== 0 && this.held.has(link); }

  /** Start holding `link` for view `viewnum` at `now` (−1: before the first tick); false when too many links are held. */
  start(link: PeerLinkId, viewnum: number, now: number, first: HeldFrame): boolean {
    if (this.held.size >= MAX_HELD_LINKS) return false;
    this.held.set(link, { viewnum, since: now, frames: [first] });
    return true;
  }

  /** A frame read on a held link; false when the link holds too much already. */
  push(link: PeerLinkId, frame: HeldFrame): boolean {
    const h = this.held.get(link);
    if (!h || h.frames.length >= MAX_HELD_FRAMES) return false;
    h.frames.push(frame);
    return true;
  }

  /** Links whose view is now known (≤ viewnum), with their frames in order; they are no longer held. */
  release(viewnum: number): [PeerLinkId, HeldFrame[]][] {
    const out: [PeerLinkId, HeldFrame[]][] = [];
    for (const [link, h] of this.held) {
      if (h.viewnum > viewnum) continue;
      this.held.delete(link);
      out.push([link, h.frames]);
    }
    return out;
  }

  /** Links held for `holdMs` or longer at `now`; they are no longer held (their frames are dropped). */
  expire(now: number, holdMs: number): { link: PeerLinkId; viewnum: number; peer: PeerIdentity }[] {
    const out: { link: PeerLinkId; viewnum: number; peer: PeerIdentity }[] = [];
    for (const [link, h] of this.held) {
      if (h.since < 0) h.since = now; // held before the first tick: the hold time starts now
      if (now - h.since < holdMs) continue;
      this.held.delete(link);
      out.push({ link, viewnum: h.viewnum, peer: h.frames[0].peer });
    }
    return out;
  }

  drop(link: PeerLinkId): void {
    this.held.delete(link);
  }
}
