/**
 * Frames of a /peer link held back until the view service has announced the view they
 * belong to (issue #5, SPEC §1).
 *
 * Why: an `xfer-begin` carries a view, and a backup that has not heard of that view yet
 * used to adopt it from the message. But the message comes from whoever opened the /peer
 * link; a view the view service never made ("view 2^53−1: primary = me-the-stranger,
 * backup = you") would then be adopted: the replica would drop out of the real view,
 * ignore every later (lower) view from the view service, and install the stranger's state.
 * Views come from the view service only. So the shell stops reading the link (TCP pushes
 * back on the sender) and keeps what was already read, until the replica's own view has
 * caught up, and then steps the machine through the frames in order:
 *
 *   primary                       backup shell                      view service
 *     │── xfer-begin {view v+1} ──▶ v+1 > my view v: hold, pause       │
 *     │── xfer-data … ───────────▶ (held, in order)                     │
 *     │                             ◀──────────────── view v+1 ─────────│
 *     │                             release: step xfer-begin, xfer-data…│
 *     │◀───────────── xferack ─────│
 *
 * The view service pushes a new view to every replica at once and answers every ping with
 * it, so a real primary's transfer waits about one ping interval at most. A forged view is
 * never announced: after `timeoutMs` the link is closed (a real primary reconnects and
 * sends a fresh transfer).
 */
import type WebSocket from 'ws';
import type { FromPrimaryMsg } from './replica-machine';

export class PeerHold {
  private frames: FromPrimaryMsg[] = [];
  private readonly timer: ReturnType<typeof setTimeout>;

  /** Start holding `ws` for view `viewnum`; `onTimeout` runs if the view never comes. */
  constructor(readonly viewnum: number, private readonly ws: WebSocket, timeoutMs: number, onTimeout: () => void) {
    ws.pause();
    this.timer = setTimeout(onTimeout, timeoutMs);
    this.timer.unref?.();
  }

  /** A frame read while holding (ws may still emit what it had already read). */
  push(msg: FromPrimaryMsg): void {
    this.frames.push(msg);
  }

  get size(): number {
    return this.frames.length;
  }

  /** Stop holding: resume reading and hand back the frames, in order. */
  release(): FromPrimaryMsg[] {
    clearTimeout(this.timer);
    this.ws.resume();
    const out = this.frames;
    this.frames = [];
    return out;
  }

  /** The link closed: drop everything. */
  dispose(): void {
    clearTimeout(this.timer);
    this.frames = [];
  }
}
