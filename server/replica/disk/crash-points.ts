/**
 * TEST-ONLY injected crash points (SPEC §9, `npm run crash`, docs/DURABILITY.md §10). With
 * `UNDERSTUDY_CRASH_AT=point:n` in its environment, the process kills itself with SIGKILL
 * (what `kill -9` does: no handler, no flush, no exit code path) the n-th time (default 1)
 * it reaches `point`. Unset (always, outside the crash runner), `crashPoint` is one
 * comparison. Never set it in production: the process dies on purpose.
 *
 *   before-fsync      wal.ts: a batch is written, its fdatasync not yet called
 *   before-fwdack     the backup is about to send a fwdack (its log has the ops)
 *   transfer          a backup received an xfer-data chunk (a transfer under way)
 *   snapshot          a snapshot chunk is being written (snapshot-file.ts)
 *   manifest-rename   the new manifest is renamed into place; the directory not yet fsynced
 */
export const CRASH_POINTS = ['before-fsync', 'before-fwdack', 'transfer', 'snapshot', 'manifest-rename'] as const;
export type CrashPoint = (typeof CRASH_POINTS)[number];

function parse(spec: string | undefined): { point: string; n: number } | null {
  if (spec === undefined || spec === '') return null;
  const [point, n] = spec.split(':');
  if (!(CRASH_POINTS as readonly string[]).includes(point)) throw new Error(`UNDERSTUDY_CRASH_AT: unknown crash point ${JSON.stringify(point)} (one of ${CRASH_POINTS.join(', ')})`);
  return { point, n: n === undefined ? 1 : Math.max(1, Number(n) || 1) };
}

const armed = parse(process.env.UNDERSTUDY_CRASH_AT);
let hits = 0;

/** Test-only: die here (SIGKILL) if UNDERSTUDY_CRASH_AT names this point and this is its n-th hit. */
export function crashPoint(point: CrashPoint): void {
  if (armed === null || armed.point !== point || ++hits < armed.n) return;
  process.stderr.write(`UNDERSTUDY_CRASH_AT=${point}:${armed.n}: crashing here (test-only)\n`);
  process.kill(process.pid, 'SIGKILL');
}
