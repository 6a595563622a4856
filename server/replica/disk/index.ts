/**
 * The disk layer of a replica (SPEC §9, docs/DURABILITY.md): one import point for the
 * replica shell. The replica core never imports this: it emits `persist` effects and takes
 * `logged` inputs (docs/DURABILITY.md §8).
 */
export { RecordType, DataDamage } from './log-format';
export type { LogRecord, ScannedRecord, ScanResult, ScanEnd } from './log-format';
export { nodeDiskFs, promisedFs } from './disk-fs';
export type { DiskFs, PromisedFs } from './disk-fs';
export { Wal } from './wal';
export type { WalOptions, FsyncPolicy, DurableMark, WalSegment, WalStats } from './wal';
export { SnapshotWriter, installSnapshot, readSnapshot } from './snapshot-file';
export type { SnapshotContent } from './snapshot-file';
export { readManifest, writeManifest } from './manifest';
export type { Manifest } from './manifest';
export { recover, resetData, walStateFrom } from './recovery';
export type { Recovered, RecoveredOps, RecoverOptions, FreshIdentity } from './recovery';
export { acquireLock, DataDirLocked } from './lock';
export type { DataDirLock, LockOptions } from './lock';
