/**
 * The one way a test cleans up (STYLE §12, like hocuspocus's `t.teardown`): whatever a test
 * opens — servers, replicas, client stores, fault proxies, sockets, child processes — is
 * registered where it is made, and closed after the test, passed or failed, last opened
 * first (clients before the servers they talk to). Every cleanup runs even if one throws;
 * the errors are reported together afterwards. Child processes register a kill by pid
 * (test/support/processes.ts), never pkill/killall.
 *
 *   const teardown = teardownAfterEach();       // at the top of a file or in a describe
 *   const vs = await startViewService(…);
 *   teardown.push(() => vs.close());
 */

/** Something to undo after the test; may return a promise, which is awaited. */
export type Cleanup = () => unknown;

/** Where cleanups are registered. A plain array satisfies it too. */
export interface Teardown {
  push(...cleanups: Cleanup[]): unknown;
}

/**
 * A list of cleanups run by an `afterEach` registered in the calling suite (at a file's top
 * level: after every test of the run, which is harmless, as the list is then empty).
 */
export function teardownAfterEach(): Teardown {
  const cleanups: Cleanup[] = [];
  afterEach(() => runCleanups(cleanups));
  return cleanups;
}

/** Run and empty `cleanups`, last first; every one runs, then any errors are thrown together. */
export async function runCleanups(cleanups: Cleanup[]): Promise<void> {
  const errors: unknown[] = [];
  while (cleanups.length > 0) {
    try {
      await cleanups.pop()!();
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length === 1) throw errors[0];
  if (errors.length > 1) throw new AggregateError(errors, `${errors.length} cleanups failed: ${errors.map(String).join('; ')}`);
}
