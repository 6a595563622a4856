/**
 * server/net/guarded-socket.ts, the guards every server endpoint shares (SPEC §1, §8): bounded
 * sends (4408), bad-message counting (1008 after MAX_BAD_IN_ROW in a row) and 4401 refusals.
 * A fake socket: no ports.
 */
import { expect } from 'chai';
import type WebSocket from 'ws';
import { GuardedSocket, MAX_BAD_IN_ROW, type GuardPolicy } from '../../server/net/guarded-socket';

function fake(): { ws: WebSocket; sent: string[]; closed: [number, string][]; state: { readyState: number; bufferedAmount: number } } {
  const sent: string[] = [];
  const closed: [number, string][] = [];
  const state = { readyState: 1, bufferedAmount: 0 };
  const ws = {
    get readyState() { return state.readyState; },
    get bufferedAmount() { return state.bufferedAmount; },
    send: (t: string) => { sent.push(t); },
    close: (code: number, reason: string) => { closed.push([code, reason]); state.readyState = 2; },
  } as unknown as WebSocket;
  return { ws, sent, closed, state };
}

function policy(): GuardPolicy & { slow: number; refused: string[] } {
  const p = { maxBufferedBytes: 100, slow: 0, refused: [] as string[], slowConsumer() { p.slow++; }, unauthorized(_s: GuardedSocket, why: string) { p.refused.push(why); } };
  return p;
}

describe('GuardedSocket (server/net)', () => {
  it('sends while open and within the buffer bound; a peer that stopped reading is closed with 4408, never buffered without bound', () => {
    const f = fake();
    const p = policy();
    const s = new GuardedSocket(f.ws, '1.2.3.4:5', p);
    expect(s.send('a')).to.equal(true);
    f.state.bufferedAmount = 101;
    expect(s.send('b')).to.equal(false);
    expect(f.sent).to.deep.equal(['a']);
    expect(f.closed).to.deep.equal([[4408, 'send buffer full']]);
    expect(p.slow).to.equal(1);
    expect(s.send('c'), 'closing: nothing more goes out').to.equal(false);
  });

  it(`closes with 1008 after ${MAX_BAD_IN_ROW} bad messages in a row; a good one resets the count`, () => {
    const f = fake();
    const s = new GuardedSocket(f.ws, 'r', policy());
    for (let i = 0; i < MAX_BAD_IN_ROW - 1; i++) s.bad();
    s.good();
    for (let i = 0; i < MAX_BAD_IN_ROW - 1; i++) s.bad();
    expect(f.closed).to.deep.equal([]);
    s.bad();
    expect(f.closed).to.deep.equal([[1008, 'too many bad messages']]);
  });

  it('refuses with 4401 and tells the endpoint why (never the token)', () => {
    const f = fake();
    const p = policy();
    new GuardedSocket(f.ws, 'r', p).refuse('wrong token');
    expect(f.closed).to.deep.equal([[4401, 'unauthorized']]);
    expect(p.refused).to.deep.equal(['wrong token']);
  });
});
