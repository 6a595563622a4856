/** Message → wire text (STYLE §5); the per-operation shapes are written by hand in fast.ts. */
import type { Message } from '../messages';
import { encodeRes, encodeFwdAck } from './fast';

/**
 * Encode a message: exactly `JSON.stringify(msg)`. Broadcasts should encode once and send the
 * same string to all.
 *
 * Replies (`res` without a view) and `fwdack`, small fixed shapes sent once per operation (or
 * per batch), are written by hand when they hold exactly their protocol fields in the
 * protocol's order, with plain values (what this code base builds): about half the cost of
 * JSON.stringify. Anything else (another key order, an extra or missing field, an undefined,
 * a non-finite number, a toJSON) goes to JSON.stringify as a whole, so the output is the same
 * string either way (test/unit/protocol-fast-paths.test.ts). A `req` or `fwd` carries the key and
 * value: JSON.stringify writes those in one pass, and a hand-built string measured no faster.
 */
export function encode(msg: Message): string {
  if (typeof msg === 'object' && msg !== null) {
    if (msg.type === 'res') {
      const fast = encodeRes(msg);
      if (fast !== null) return fast;
    } else if (msg.type === 'fwdack') {
      const fast = encodeFwdAck(msg);
      if (fast !== null) return fast;
    }
  }
  return JSON.stringify(msg);
}
