/**
 * Injected crash points for `npm run crash` (SPEC §9, issue #11): instead of a kill -9 at a
 * random moment, a replica is restarted with UNDERSTUDY_CRASH_AT=point:n
 * (server/replica/disk/crash-points.ts, test-only) and dies there by itself; then every
 * other process is killed -9 too and all restart from their data dirs.
 *
 *   before-fsync, before-fwdack   any replica, at its n-th batch / fwdack under load
 *   transfer, snapshot, manifest-rename   the backup of an acknowledged view, its data dir
 *       wiped first, so it comes back as a new server and takes a full transfer (with a
 *       suffix catch-up, a restart from intact data never transfers); it dies during that
 *       transfer, while writing the snapshot of it, or between the manifest's rename and
 *       the directory fsync (n = 2: the first manifest is the new data dir's own)
 */
import * as fs from 'node:fs';
import { CRASH_POINTS, type CrashPoint } from '../../server/replica/disk/crash-points';

export interface Injection { point: CrashPoint; n: number; victim: 'any' | 'backup' }

/** Points that need a full transfer to the victim. */
const TRANSFER_POINTS: readonly CrashPoint[] = ['transfer', 'snapshot', 'manifest-rename'];

/** The injection of a cycle (about half of them), from the run's random source. */
export function pickInjection(rand: () => number): Injection | null {
  if (rand() < 0.5) return null;
  const point = CRASH_POINTS[Math.floor(rand() * CRASH_POINTS.length)];
  if (TRANSFER_POINTS.includes(point)) return { point, n: point === 'manifest-rename' ? 2 : 1, victim: 'backup' };
  return { point, n: 1 + Math.floor(rand() * 40), victim: 'any' };
}

export const crashEnv = (inj: Injection): Record<string, string> => ({ UNDERSTUDY_CRASH_AT: `${inj.point}:${inj.n}` });

/** A backup that comes back as a new server: its data dir is emptied (as --reset-data would move it aside). */
export function wipe(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** Whether the process died at its injected point (it says so on stderr just before). */
export const diedAtPoint = (logs: readonly string[]): boolean => logs.some((l) => l.includes('UNDERSTUDY_CRASH_AT=') && l.includes('crashing here'));

/** Per point: cycles armed with it, and how many of them the process reached it. */
export type InjectionCounts = Record<string, { armed: number; hit: number }>;
