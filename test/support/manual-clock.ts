import type { Clock } from '../../common/clock';

/** A clock you advance by hand (STYLE §2). */
export class ManualClock implements Clock {
  constructor(private t = 1_000_000) {}
  now(): number {
    return this.t;
  }
  advance(ms: number): void {
    this.t += ms;
  }
}
