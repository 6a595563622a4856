/**
 * The e2e cluster builder moved to test/support/cluster.ts (one builder for every suite).
 * Re-exported here for the suites outside test/e2e that still import it from this path
 * (test/browser, cli.test.ts); new code imports test/support/cluster.ts.
 */
export { startCluster, digest, waitForEqualDigests, PING_MS, DEAD_PINGS } from '../support/cluster';
export type { Cluster } from '../support/cluster';
