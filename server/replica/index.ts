/**
 * The replica (SPEC §3): `startReplica(options)` runs one on a port (WebSocket `/` for
 * clients, `/peer` for the primary's link, HTTP /healthz /metrics /digest);
 * `ReplicaMachine` is its deterministic core and `KvState` its state.
 */
export { startReplica, digestOf, PEER_FRAME_ALLOWANCE, PAUSE_PENDING, RESUME_PENDING } from './replica-server';
export type { Replica, StartReplicaOptions } from './replica-server';
export { ReplicaMachine, toRes, notPrimary } from './replica-machine';
export type {
  ReplicaMachineOptions, ReplicaInput, ReplicaEffect, ReplicaReady, PingOut, Role, ConnId, PeerLinkId, PeerIdentity, FromPrimaryMsg, FromBackupMsg,
} from './replica-machine';
export { KvState, DEFAULT_STORE_BOUNDS, DEFAULT_CHUNK_BYTES } from './kv-state';
export { enableHeapCompaction } from './heap-policy';
export type { StoreBounds, SnapshotChunk, SnapshotBegin } from './kv-state';
