/**
 * One pino root per process, with `child({ role, id })` per component (STYLE §11).
 * JSON in production; `understudy dev` pretty-prints the merged stream itself.
 */
import pino from 'pino';
import type { Logger } from '../common/logger';

export function createLogger(level: string = process.env.LOG_LEVEL || 'info', bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }) as unknown as Logger;
}

/**
 * `base.child(bindings)`, leaving out the bindings `base` already carries with the same
 * value: pino would print such a key twice (`"role":"replica","role":"replica"`) when the
 * CLI's root logger and the component both bind it.
 */
export function childLogger(base: Logger, bindings: Record<string, unknown>): Logger {
  const own = (base as { bindings?: () => Record<string, unknown> }).bindings;
  const existing = typeof own === 'function' ? own.call(base) : {};
  const extra: Record<string, unknown> = {};
  let n = 0;
  for (const [k, v] of Object.entries(bindings)) {
    if (existing[k] !== v) { extra[k] = v; n++; }
  }
  return n === 0 ? base : base.child(extra);
}
