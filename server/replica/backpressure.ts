/**
 * Backpressure (part of the replica core): with PAUSE_PENDING requests unanswered, or
 * PAUSE_PENDING_BYTES held by them, the shell stops reading client sockets (TCP pushes back
 * on the clients) until RESUME_PENDING and RESUME_PENDING_BYTES, so the ordered but
 * unanswered requests stay bounded, in number and in memory, without an extra error code.
 * The machine decides (Ready.pauseClients); the shell pauses and resumes the sockets.
 */

/** Stop reading client sockets at this many unanswered requests. @default 100000 */
export const PAUSE_PENDING = 100_000;
/** Resume reading at this many. @default 50000 */
export const RESUME_PENDING = 50_000;
/** Stop reading client sockets when the unanswered requests hold this much (pendingBytes). @default 64 MiB */
export const PAUSE_PENDING_BYTES = 64 * 1024 * 1024;
/** Resume at this much. @default 32 MiB */
export const RESUME_PENDING_BYTES = 32 * 1024 * 1024;

/** Whether client reads are paused, given whether they were and what waits now (hysteresis). */
export function clientsPaused(paused: boolean, pending: number, pendingBytes: number): boolean {
  if (!paused) return pending >= PAUSE_PENDING || pendingBytes >= PAUSE_PENDING_BYTES;
  return !(pending <= RESUME_PENDING && pendingBytes <= RESUME_PENDING_BYTES);
}
