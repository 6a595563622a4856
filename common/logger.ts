/** The pino-compatible subset the isomorphic code logs through; defaults to a no-op. */
export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

const noop = () => {};
export const noopLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop, child: () => noopLogger };
