/** Time as an input (STYLE §2): cores read time only through this. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };
