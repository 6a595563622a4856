/**
 * SPEC §11 end to end inside one process (real sockets on 127.0.0.1:0): per-user tokens and
 * rules on the replicas and the view service, denied operations on an open link, 4401 for
 * every bad token, renewal on the open link across a failover, a token expiring mid-session.
 */
import { expect } from 'chai';
import * as http from 'node:http';
import WebSocket from 'ws';
import { connect, Store, UnderstudyError, ConnectOptions } from '../../client/node';
import type { WatchEvent } from '../../client/core/watches';
import type { ViewService } from '../../server/viewservice';
import { teardownAfterEach } from '../support/teardown';
import { waitFor, sleep } from '../support/wait';
import { inProcess } from '../support/in-process';
import { JWT_SECRET, tokenFor, rulesFile } from '../support/jwt';

const teardown = teardownAfterEach();
const cluster = inProcess(teardown);

async function client(vs: ViewService, options: Partial<ConnectOptions>): Promise<Store> {
  const store = await connect({ view: vs.url, timeoutMs: 5000, ...options });
  teardown.push(() => store.close());
  return store;
}

async function rejection(p: Promise<unknown>): Promise<UnderstudyError> {
  try { await p; } catch (err) { return err as UnderstudyError; }
  throw new Error('expected a rejection');
}

/** Open a raw client link with `token` in a hello; resolves with the close code (or 'open' after 500 ms). */
function helloClose(url: string, token: string): Promise<number | 'open'> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url);
    const t = setTimeout(() => { ws.close(); resolve('open'); }, 500);
    ws.on('open', () => ws.send(JSON.stringify({ type: 'hello', token })));
    ws.on('close', (code) => { clearTimeout(t); resolve(code); });
    ws.on('error', () => undefined);
  });
}

function metrics(port: number, p = '/metrics'): Promise<string> {
  return new Promise((resolve, reject) => {
    http.get(`http://127.0.0.1:${port}${p}`, (res) => { let b = ''; res.on('data', (c) => (b += c)); res.on('end', () => resolve(b)); }).on('error', reject);
  });
}

describe('users and rules (SPEC §11)', function () {
  this.timeout(20_000);
  const flags = (): Record<string, string> => ({ 'jwt-secret': JWT_SECRET, rules: rulesFile() });

  async function chat(): Promise<{ vs: ViewService; port: number }> {
    const f = flags();
    const vs = await cluster.startVs(f);
    const r = await cluster.startRep(vs, f);
    await cluster.startRep(vs, f);
    await waitFor('a view with a backup', () => vs.machine.view.backup !== null);
    return { vs, port: r.port };
  }

  it('alice writes and reads user:alice:*, is refused UNAUTHORIZED on bob\'s keys, and her link stays open (SPEC §11)', async () => {
    const { vs, port } = await chat();
    const alice = await client(vs, { token: await tokenFor('alice') });
    await alice.put('user:alice:name', 'Alice');
    expect(await alice.get('user:alice:name')).to.equal('Alice');
    expect((await rejection(alice.put('user:bob:name', 'x'))).code).to.equal('UNAUTHORIZED');
    expect((await rejection(alice.get('user:bob:name'))).code).to.equal('UNAUTHORIZED');
    expect((await rejection(alice.put('other', 'x'))).code).to.equal('UNAUTHORIZED'); // no rule: denied
    await alice.put('room:lobby', 'hi'); // the link is still open
    expect(await alice.get('room:lobby')).to.equal('hi');
    expect(await metrics(port)).to.match(/understudy_access_denied_total\{what="write"\} [1-9]/);
  });

  it('the view service lists its connected users by sub (GET /users, the dashboard\'s list) (SPEC §11)', async () => {
    const { vs } = await chat();
    const a = await client(vs, { token: await tokenFor('alice') });
    await client(vs, { token: await tokenFor('alice') });
    await client(vs, { token: await tokenFor('bob') });
    expect(JSON.parse(await metrics(vs.port, '/users'))).to.deep.equal({ users: [{ sub: 'alice', links: 2 }, { sub: 'bob', links: 1 }] });
    await a.close();
    await waitFor('alice\'s first link gone', async () => JSON.parse(await metrics(vs.port, '/users')).users[0].links === 1);
  });

  it('a watch must be readable as a whole: user:* is refused, user:alice:* delivers (SPEC §11)', async () => {
    const { vs } = await chat();
    const alice = await client(vs, { token: await tokenFor('alice') });
    const errors: UnderstudyError[] = [];
    alice.on('error', (e) => errors.push(e));
    const seen: WatchEvent[] = [];
    alice.watch('user:*', (e) => seen.push(e));
    alice.watch('user:alice:*', (e) => seen.push(e));
    await waitFor('the refusal of user:*', () => errors.some((e) => e.code === 'UNAUTHORIZED'));
    await alice.put('user:alice:a', '1');
    await waitFor('the event', () => seen.length === 1);
    expect(seen[0].key).to.equal('user:alice:a');
  });

  it('closes with 4401 a link presenting a malformed, wrongly signed, none-alg, expired or wrong-audience token, and counts them (SPEC §11)', async () => {
    const f = { ...flags(), 'jwt-audience': 'chat' };
    const vs = await cluster.startVs(f);
    const r = await cluster.startRep(vs, f);
    const url = r.id;
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'a', aud: 'chat', exp: 2e9 })).toString('base64url')}.`;
    expect(await helloClose(url, 'garbage')).to.equal(4401);
    expect(await helloClose(url, await tokenFor('a', 60, { aud: 'chat' }, 'another-secret-another-secret-xx!'))).to.equal(4401);
    expect(await helloClose(url, none)).to.equal(4401);
    expect(await helloClose(url, await tokenFor('a', -10, { aud: 'chat' }))).to.equal(4401);
    expect(await helloClose(url, await tokenFor('a', 60, { aud: 'other' }))).to.equal(4401);
    expect(await helloClose(url, await tokenFor('a', 60, { aud: 'chat' }))).to.equal('open');
    const m = await metrics(r.port);
    for (const reason of ['malformed', 'signature', 'algorithm', 'expired', 'claims']) expect(m).to.match(new RegExp(`understudy_tokens_refused_total\\{reason="${reason}"\\} 1`));
    // A link that sends no token at all is closed too (no rule grants "anyone").
    const err = await rejection(connect({ view: vs.url, timeoutMs: 3000 }));
    expect(err.code).to.equal('UNAUTHORIZED');
  });

  it('a token function renews on the open link before exp; the watch keeps running across a failover (SPEC §11)', async () => {
    const f = flags();
    const vs = await cluster.startVs(f);
    const first = await cluster.startRep(vs, f);
    await cluster.startRep(vs, f);
    await waitFor('a view with a backup', () => vs.machine.view.backup !== null);
    let calls = 0;
    const bob = await client(vs, { token: () => { calls++; return tokenFor('bob', 2); } });
    const seen: string[] = [];
    bob.watch('user:bob:*', (e) => seen.push(e.value ?? ''));
    await bob.put('user:bob:n', '1');
    await sleep(2500); // past the first token's exp: only a renewed token is valid now
    expect(calls).to.be.greaterThan(1);
    await bob.put('user:bob:n', '2');
    await first.close(); // the backup takes over; bob presents his current token there
    await waitFor('the new primary', () => vs.machine.view.primary !== first.id && vs.machine.view.primary !== null);
    await sleep(1500);
    await bob.put('user:bob:n', '3');
    await waitFor('every event', () => seen.length === 3, 5000);
    expect(seen).to.deep.equal(['1', '2', '3']);
  });

  it('a token expiring mid-session: its operations get UNAUTHORIZED, naming the expiry (SPEC §11)', async () => {
    const { vs } = await chat();
    const carol = await client(vs, { token: await tokenFor('carol', 2) });
    await carol.put('user:carol:x', '1');
    await sleep(2200);
    const err = await rejection(carol.put('user:carol:x', '2'));
    expect(err.code).to.equal('UNAUTHORIZED');
    expect(err.message).to.contain('expired');
  });
});
