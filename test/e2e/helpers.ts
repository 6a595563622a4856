/**
 * The e2e cluster builder moved to test/support/cluster.ts (one builder for every suite).
 * Re-exported here only for the suites outside test/e2e's ported files that still import it
 * from this path (test/browser, cli.test.ts); new code imports test/support/cluster.ts.
 */
export { startCluster, PING_MS } from '../support/cluster';
export type { Cluster } from '../support/cluster';
