/**
 * SPEC §11 with real processes: every process takes the JWT secret and the rules from the
 * environment (UNDERSTUDY_JWT_SECRET, UNDERSTUDY_RULES); a client with a token function
 * renews on the open link, and after `kill -9` of the primary presents its fresh token to the
 * new one: its watch keeps delivering and its writes keep completing. A client without a
 * token is refused.
 */
import { expect } from 'chai';
import type { WatchEvent } from '../../client/node';
import { waitForView } from '../support/processes';
import { startCluster } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';
import { waitFor, sleep } from '../support/wait';
import { JWT_SECRET, tokenFor, rulesFile } from '../support/jwt';

describe('e2e: users and rules (SPEC §11)', function () {
  this.timeout(60_000);
  const teardown = teardownAfterEach();
  const env = (): Record<string, string> => ({ UNDERSTUDY_JWT_SECRET: JWT_SECRET, UNDERSTUDY_RULES: rulesFile() });

  it('renewal keeps a watch alive across kill -9 of the primary; the new primary takes the fresh token (SPEC §11)', async () => {
    const c = await startCluster(3, { teardown, env: env() });
    let calls = 0;
    const dave = await c.client({ timeoutMs: 15_000, token: () => { calls++; return tokenFor('dave', 3); } });
    const events: WatchEvent[] = [];
    dave.watch('user:dave:*', (e) => events.push(e));
    await dave.put('user:dave:n', '0');
    for (let round = 1; round <= 2; round++) {
      await sleep(3200); // past the previous token's exp: only renewed tokens pass now
      const now = await waitForView(c.vs, (v) => v.primary !== null && v.backup !== null && v.acked);
      const old = c.byId(now.primary);
      await old.kill('SIGKILL');
      await waitForView(c.vs, (v) => v.primary !== null && v.primary !== old.id && v.acked, 10_000);
      await c.startReplica();
      await dave.put('user:dave:n', String(round));
    }
    await waitFor('every event', () => events.length === 3, 10_000);
    expect(events.map((e) => e.value)).to.deep.equal(['0', '1', '2']);
    expect(calls).to.be.greaterThan(3);
    expect((await dave.get('user:dave:n'))).to.equal('2');
    const err = await c.client({ timeoutMs: 3000 }).then(() => null, (e: Error & { code?: string }) => e);
    expect(err?.code).to.equal('UNAUTHORIZED');
  });
});
