/**
 * The fuzz test with tokens and rules (SPEC §11, issue #5): a cluster of real processes with
 * a JWT secret and the chat rules takes hostile tokens (in the URL, in hello, in auth
 * renewals: mutated, alg none, wrong algorithm, borrowed claims, junk) and correctly signed
 * tokens whose `sub` tries to widen its rule (`*`, `bob:x`, `{sub}`, `b}`), each sending
 * mutated and well-formed operations and watches at bob's keys. Afterwards: every process is
 * alive, bob's watch saw only bob's own writes, his data is what he wrote, primary and backup
 * digests are equal, and the refusals were counted.
 *
 * Reproducible: FUZZ_SEED seeds it; FUZZ_AUTH_SECONDS bounds the time (default 5).
 */
import { expect } from 'chai';
import WebSocket from 'ws';
import type { WatchEvent } from '../../client/node';
import { getJson } from '../support/processes';
import { startCluster, waitForEqualDigests } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';
import { waitFor } from '../support/wait';
import { Fuzz, hostileToken } from '../support/fuzz';
import { JWT_SECRET, tokenFor, rulesFile } from '../support/jwt';

const SEED = Number(process.env.FUZZ_SEED ?? 20261207);
const SECONDS = Number(process.env.FUZZ_AUTH_SECONDS ?? 5);

/** One link: present `token` (URL or hello), then send `frames`, then close. Resolves with the close code. */
function link(url: string, token: string, viaUrl: boolean, frames: string[]): Promise<number> {
  let query = '';
  try { query = viaUrl ? `/?token=${encodeURIComponent(token)}` : ''; } catch { viaUrl = false; } // a lone surrogate: say it in a hello
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}${query}`);
    const done = setTimeout(() => ws.terminate(), 400);
    ws.on('open', () => {
      if (!viaUrl) ws.send(JSON.stringify({ type: 'hello', token }));
      for (const f of frames) ws.send(f);
      setTimeout(() => ws.close(), 100);
    });
    ws.on('close', (code) => { clearTimeout(done); resolve(code); });
    ws.on('error', () => undefined);
  });
}

describe('e2e: fuzzing tokens and rules (SPEC §11, issue #5)', function () {
  this.timeout(90_000);
  const teardown = teardownAfterEach();

  it('no hostile token or widening sub reaches bob\'s keys; every process survives; digests equal (SPEC §11)', async () => {
    const c = await startCluster(2, { teardown, env: { UNDERSTUDY_JWT_SECRET: JWT_SECRET, UNDERSTUDY_RULES: rulesFile() } });
    const bob = await c.client({ timeoutMs: 10_000, token: await tokenFor('bob', 600) });
    const seen: WatchEvent[] = [];
    bob.watch('user:bob:*', (e) => seen.push(e), { fromRevision: 0 });
    const f = new Fuzz(SEED);
    const valid = await tokenFor('mallory', 600);
    const widening = await Promise.all(['*', 'bob:x', 'bob:', '{sub}', 'b}', 'bob*', ''].map((s) => tokenFor(s, 600)));
    const target = (): string => f.pick(['user:bob:secret', 'user:bob:', 'user:*', '*', 'user:bob:*', 'user:', 'user:bob:x:y']);
    const op = (): Record<string, unknown> => ({ type: 'req', client: 'fz', seq: f.int(1000), ack: 0, op: f.pick(['get', 'put', 'append', 'delete']), key: target(), value: 'pwned' });
    const frames = (): string[] => Array.from({ length: 1 + f.int(6) }, () => {
      const r = f.int(5);
      const msg = r === 0 ? { type: 'watch', id: f.int(9), pattern: target(), from: 0 }
        : r === 1 ? { type: 'auth', token: f.chance(0.5) ? hostileToken(f, valid) : f.pick(widening) } : op();
      const m = f.chance(0.3) ? f.mutate(msg) : msg;
      return JSON.stringify(m);
    });
    const primary = (await getJson<{ primary: string }>(`${c.vs.http}/view`)).primary;
    let written = 0;
    const codes: Record<number, number> = {};
    const end = Date.now() + SECONDS * 1000;
    while (Date.now() < end) {
      await bob.put('user:bob:secret', `v${++written}`);
      const batch = Array.from({ length: 8 }, () => {
        const token = f.chance(0.5) ? hostileToken(f, valid) : f.pick(widening);
        return link(primary, token, f.chance(0.3), frames());
      });
      for (const code of await Promise.all(batch)) codes[code] = (codes[code] ?? 0) + 1;
    }
    for (const r of c.replicas) expect(r.child.exitCode, `${r.id} alive`).to.equal(null);
    expect(await bob.get('user:bob:secret')).to.equal(`v${written}`);
    await waitFor('bob\'s events', () => seen.length >= written, 10_000);
    expect(seen.every((e) => e.value !== 'pwned' && e.key === 'user:bob:secret'), 'only bob wrote user:bob:*').to.equal(true);
    expect(codes[4401], 'links closed 4401').to.be.greaterThan(0);
    await waitForEqualDigests(c);
    const metrics = await fetch(`${c.byId(primary).http}/metrics`).then((r) => r.text());
    expect(metrics).to.match(/understudy_tokens_refused_total\{reason="[a-z-]+"\} [1-9]/);
    expect(metrics).to.match(/understudy_access_denied_total\{what="(write|read|watch)"\} [1-9]/);
    console.log(`      auth fuzz (seed ${SEED}, ${SECONDS} s): ${written} writes by bob, close codes ${JSON.stringify(codes)}`);
  });
});
