/** A small typed event emitter, isomorphic (no Node `events`), STYLE §10/§11. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type EventMap = { [event: string]: (...args: any[]) => void };

export class Emitter<E extends EventMap> {
  private handlers: { [K in keyof E]?: E[K][] } = {};

  on<K extends keyof E>(event: K, fn: E[K]): this {
    (this.handlers[event] ??= []).push(fn);
    return this;
  }

  once<K extends keyof E>(event: K, fn: E[K]): this {
    const wrapped = ((...args: Parameters<E[K]>) => { this.off(event, wrapped); fn(...args); }) as E[K];
    return this.on(event, wrapped);
  }

  off<K extends keyof E>(event: K, fn: E[K]): this {
    const list = this.handlers[event];
    if (list) {
      const i = list.indexOf(fn);
      if (i >= 0) list.splice(i, 1);
    }
    return this;
  }

  protected emit<K extends keyof E>(event: K, ...args: Parameters<E[K]>): void {
    const list = this.handlers[event];
    if (!list) return;
    for (const fn of list.slice()) {
      try { fn(...args); } catch (err) { this.onListenerError(err); }
    }
  }

  /** A listener threw: never let it break the emitter's caller. */
  protected onListenerError(err: unknown): void {
    setTimeout(() => { throw err; }, 0);
  }

  removeAllListeners(): void {
    this.handlers = {};
  }
}
