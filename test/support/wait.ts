/**
 * The one way a test waits for a state: poll a check until it holds, bounded by a timeout,
 * and on timeout say what was awaited (and the check's last error, if it threw). Tests wait
 * for conditions, never for fixed sleeps (STYLE §12); the e2e helpers that wait for a view
 * or for equal digests are built on this.
 */

/** A value that counts as "not yet": the check is run again. */
type NotYet = undefined | null | false;

/**
 * Resolve with the first truthy result of `check` (run at once, then every `everyMs`), or
 * fail with `timed out after N ms waiting for <what>`. A check that throws counts as "not
 * yet"; its last error is quoted in the timeout message.
 * @param timeoutMs @default 5000
 * @param everyMs @default 5
 */
export async function waitFor<T>(what: string, check: () => T | NotYet | Promise<T | NotYet>, timeoutMs = 5000, everyMs = 5): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr === undefined ? '' : ` (last error: ${String(lastErr)})`}`);
    }
    await sleep(everyMs);
  }
}

/** A pause, for pacing a loop (a fake replica's pings), never for waiting on a state. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
