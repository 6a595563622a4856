/**
 * The client's one timer (a thin shell): every deadline, attempt timer and NOT_PRIMARY retry
 * is a due time in client/core/deadlines.ts, and this timer is armed for the earliest one.
 * No timer and no closure per operation: arming for a later time than the armed one is a
 * comparison.
 */

/** A monotonic clock in milliseconds (performance.now where there is one: browsers, workers, Node). */
export const clock: () => number = typeof globalThis.performance?.now === 'function'
  ? () => globalThis.performance.now()
  : () => Date.now();

/** The longest delay setTimeout takes (2^31 − 1 ms). */
const MAX_TIMER_MS = 2_147_483_647;

export class DueTimer {
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When it fires (clock ms); Infinity: not armed. */
  private at = Infinity;

  /** `fire` is called once per expiry; it re-arms with `armBy(next)`. */
  constructor(private readonly fire: () => void) {}

  /** Fire by `at` (clock ms), unless already armed to fire no later. Infinity: nothing to do. */
  armBy(at: number): void {
    if (at >= this.at) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.at = at;
    // setTimeout takes at most 2^31 − 1 ms (more fires at once): a longer wait re-arms.
    this.timer = setTimeout(this.onTimeout, Math.min(MAX_TIMER_MS, Math.max(0, at - clock())));
  }

  /** Disarm (close()). */
  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.at = Infinity;
  }

  private readonly onTimeout = (): void => {
    this.timer = null;
    this.at = Infinity;
    this.fire();
  };
}
