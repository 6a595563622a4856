/**
 * One pino root per process, with `child({ role, id })` per component (STYLE §11).
 * JSON in production; `understudy dev` pretty-prints the merged stream itself.
 */
import pino from 'pino';
import type { Logger } from '../common/logger';

export function createLogger(level: string = process.env.LOG_LEVEL || 'info', bindings: Record<string, unknown> = {}): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings }, timestamp: pino.stdTimeFunctions.isoTime }) as unknown as Logger;
}
