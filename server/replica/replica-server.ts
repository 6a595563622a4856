/**
 * The replica process (SPEC §3, §4): `startReplica(options)` listens, links to the view
 * service and pings. The shell that wires the endpoints is replica-shell.ts; the core is
 * replica-machine.ts.
 */
import { ReplicaShell, type StartReplicaOptions } from './replica-shell';
import type { ReplicaMachine } from './replica-machine';

export { PAUSE_PENDING, RESUME_PENDING, PAUSE_PENDING_BYTES, RESUME_PENDING_BYTES } from './replica-machine';
export { MAX_PEER_LINKS, MAX_PEER_STRANGERS } from './peer-endpoint';
export { digestOf } from './http-routes';
export { PEER_FRAME_ALLOWANCE, DRAIN_MS, HANDOFF_MS } from './replica-shell';
export type { StartReplicaOptions } from './replica-shell';

/** A running replica. */
export interface Replica {
  /** The advertised URL: the replica's id in views. */
  readonly id: string;
  /** The bound port (useful with port 0). */
  readonly port: number;
  /** This process's incarnation (a fresh nanoid). */
  readonly incarnation: string;
  /** The core, for status and tests; the shell owns all its inputs. */
  readonly machine: ReplicaMachine;
  /** Close the view-service link first (the VS declares this replica dead at once), then everything else. */
  close(): Promise<void>;
  /**
   * Graceful shutdown (SIGTERM): finish the requests in flight, tell the view service this
   * replica leaves (failover at once), redirect held requests to the new primary, close every
   * link with 1012. Resolves within DRAIN_MS + HANDOFF_MS (+ the server's close).
   */
  shutdown(): Promise<void>;
  /** Null when ready (GET /readyz 200), else why not. */
  notReady(): string | null;
}

/** Start a replica (SPEC §3, §4): listen, then link to the view service and ping. */
export async function startReplica(options: StartReplicaOptions): Promise<Replica> {
  const shell = new ReplicaShell(options);
  await shell.listen();
  return {
    id: shell.id,
    port: shell.port,
    incarnation: shell.incarnation,
    machine: shell.machine,
    close: () => shell.close(),
    shutdown: () => shell.shutdown(),
    notReady: () => shell.notReady(),
  };
}
