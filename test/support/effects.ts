/**
 * Replica effects for exact assertions: a `toBackup` effect may carry its frame already
 * encoded (`text`: a fwd built from the clients' own frames). Check that the text is the
 * message, then drop it, so tests compare messages.
 */
import { expect } from 'chai';
import type { ReplicaEffect } from '../../server/replica/replica-machine';

export function withoutText(effects: ReplicaEffect[]): ReplicaEffect[] {
  return effects.map((e) => {
    if (e.kind !== 'toBackup' || e.text === undefined) return e;
    expect(JSON.parse(e.text), 'the pre-encoded frame is the message').to.deep.equal(JSON.parse(JSON.stringify(e.msg)));
    return { kind: 'toBackup', msg: e.msg };
  });
}
