/**
 * The text of a fwd frame, built by the shell from the clients' own frames (issue #6: the
 * primary forwards what it received as it came, no re-encoding of what is only passed on).
 * The core decides which ops go in a frame (ReplicaEffect `toBackup` with `raws`); this
 * builds the frame: the same JSON as encode(msg), field order of the ops aside. An op
 * without its raw frame is encoded here. The backup decodes every op with the same rules
 * as a client's frame, so it applies exactly what the primary applied.
 */
import type { FwdMsg } from '../../common/messages';

export function fwdFrameText(msg: FwdMsg, raws: readonly (string | undefined)[] | undefined): string {
  const ops = msg.ops;
  let text = `{"type":"fwd","viewnum":${msg.viewnum},"index":${msg.index},"ops":[`;
  for (let i = 0; i < ops.length; i++) {
    if (i > 0) text += ',';
    text += raws?.[i] ?? JSON.stringify(ops[i]);
  }
  return `${text}]}`;
}
