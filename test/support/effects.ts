/**
 * Replica effects for exact assertions, drained through the machine's one Ready per step
 * (ready() then advance()). A fwd `toBackup` effect carries the clients' raw frames
 * (`raws`): check that the frame the shell builds from them (forward-frames.ts) is the
 * message, then drop them, so tests compare messages.
 */
import { expect } from 'chai';
import type { ReplicaEffect, ReplicaMachine } from '../../server/replica/replica-machine';
import { fwdFrameText } from '../../server/replica/forward-frames';

/** The effects of the steps so far (a copy: the Ready's array is reused), consumed. */
export function takeEffects(m: ReplicaMachine): ReplicaEffect[] {
  const out = m.ready().effects.slice();
  m.advance();
  return out;
}

export function withoutText(effects: ReplicaEffect[]): ReplicaEffect[] {
  return effects.map((e) => {
    if (e.kind !== 'toBackup' || e.raws === undefined) return e;
    if (e.msg.type === 'fwd') expect(JSON.parse(fwdFrameText(e.msg, e.raws)), 'the frame built from the raw texts is the message').to.deep.equal(JSON.parse(JSON.stringify(e.msg)));
    return { kind: 'toBackup', msg: e.msg };
  });
}

/** Ready.flush: a flush would forward something. */
export function wantsFlush(m: ReplicaMachine): boolean {
  return m.ready().flush !== 'none';
}
