/**
 * The replica shell's wake-up for SPEC §10 (expiry.ts): one timeout to the earliest time the
 * core asked for in Ready.wakeAt (0: at once), after which the shell steps `{kind: 'time'}`.
 * Apart from the tick: a ttl must not wait for the next ping interval, and a wake-up must not
 * make a ping due. An earlier ask replaces a later one; a later ask waits for the earlier.
 */
export class WakeTimer {
  private timer: ReturnType<typeof setTimeout> | null = null;
  /** When the timer fires (Infinity: not armed). */
  private at = Infinity;

  constructor(private readonly fire: () => void, private readonly now: () => number = Date.now) {}

  /** Fire at `at` (ms on `now`'s clock) unless armed for earlier already; a negative `at`: nothing asked. */
  ask(at: number): void {
    if (at < 0 || at >= this.at) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.at = at;
    this.timer = setTimeout(this.fired, Math.max(0, at - this.now()));
  }

  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.at = Infinity;
  }

  private readonly fired = (): void => {
    this.timer = null;
    this.at = Infinity;
    this.fire();
  };
}
