/**
 * Graceful shutdown's hold on client requests (part of the replica core): from `begin`, the
 * requests are held, at most RESUME_PENDING (later ones are refused at once). They are never
 * executed here: once the view service has named the next primary they are refused
 * NOT_PRIMARY with that view (`release`).
 */
import { RESUME_PENDING } from './backpressure';
import type { ReplicaInput } from './replica-io';

export type ClientOpInput = Extract<ReplicaInput, { kind: 'clientOp' }>;

export class ShutdownHold {
  /** null: not shutting down. */
  private held: ClientOpInput[] | null = null;
  private released = false;

  get active(): boolean { return this.held !== null; }
  get count(): number { return this.held?.length ?? 0; }

  begin(): void {
    if (this.held === null) this.held = [];
  }

  /** Hold it; false: refuse it now (too many held, or already released). */
  hold(input: ClientOpInput): boolean {
    const held = this.held as ClientOpInput[];
    if (held.length >= RESUME_PENDING || this.released) return false;
    held.push(input);
    return true;
  }

  /** The hand-off is over: everything held, to refuse; anything later is refused too. */
  release(): ClientOpInput[] {
    const held = this.held ?? [];
    this.held = [];
    this.released = true;
    return held;
  }
}
