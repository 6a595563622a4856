/**
 * SPEC §11 at start (no ports: the process refuses before it listens) and the client's
 * renewal schedule (pure).
 */
import { expect } from 'chai';
import { main } from '../../server/cli';
import { renewalDelay, expOf } from '../../client/core/token-renewal';
import { JWT_SECRET, rulesFile } from '../support/jwt';

async function run(argv: string[]): Promise<{ code: number; stderr: string }> {
  const write = process.stderr.write;
  let stderr = '';
  process.stderr.write = ((chunk: string) => { stderr += chunk; return true; }) as typeof process.stderr.write;
  try {
    return { code: await main(argv), stderr };
  } finally {
    process.stderr.write = write;
  }
}

describe('auth at start (SPEC §11)', () => {
  it('a rules file that does not parse: the replica refuses to start, exit 2, naming the line (SPEC §11)', async () => {
    const file = rulesFile('{\n  "rules": [\n    {"keys": "a*" "read": "auth"}\n  ]\n}');
    const r = await run(['replica', '--port', '0', '--jwt-secret', JWT_SECRET, '--rules', file]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain(`--rules ${file}: line 3: not JSON`);
  });

  it('a rules file naming an unknown right: the view service refuses to start, exit 2, naming the line and the right (SPEC §11)', async () => {
    const file = rulesFile('{"rules": [\n {"keys": "a*", "read": "auth", "write": "auth"},\n {"keys": "b*", "read": "admins", "write": "auth"}\n]}');
    const r = await run(['view', '--port', '0', '--jwt-secret', JWT_SECRET, '--rules', file]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('line 3: rule 2: unknown right "admins" for "read"');
  });

  it('--rules without a key, a short secret, or half of --tls-*: exit 2 naming the flag', async () => {
    expect((await run(['replica', '--rules', rulesFile()])).stderr).to.contain('--rules needs --jwt-secret or --jwt-public-key');
    expect((await run(['replica', '--jwt-secret', 'short'])).stderr).to.contain('--jwt-secret must be at least 32 characters');
    const half = await run(['replica', '--tls-cert', '/x/cert.pem']);
    expect(half.code).to.equal(2);
    expect(half.stderr).to.contain('--tls-key is needed with --tls-cert');
  });
});

describe('client token renewal schedule (SPEC §11)', () => {
  const jwt = (payload: object): string => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

  it('renews after 80% of the time left, at least 5 s before exp when it can', () => {
    const now = 1_000_000_000_000;
    expect(renewalDelay(jwt({ exp: now / 1000 + 60 }), now)).to.equal(48_000);
    expect(renewalDelay(jwt({ exp: now / 1000 + 3600 }), now)).to.equal(2_880_000);
    expect(renewalDelay(jwt({ exp: now / 1000 + 10 }), now)).to.equal(5_000);
    expect(renewalDelay(jwt({ exp: now / 1000 + 2 }), now)).to.equal(0);
    expect(renewalDelay(jwt({ exp: now / 1000 - 2 }), now)).to.equal(0);
  });

  it('a token without exp, or not a JWT, is never renewed', () => {
    expect(renewalDelay(jwt({ sub: 'a' }), 0)).to.equal(null);
    expect(renewalDelay('s3cret', 0)).to.equal(null);
    expect(expOf('a.!!!.c')).to.equal(null);
  });
});

describe('auth options from the environment (SPEC §11)', () => {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { normalizeReplicaOptions, normalizeViewOptions } = require('../../common/config') as typeof import('../../common/config');
  const env = { UNDERSTUDY_JWT_SECRET: JWT_SECRET, UNDERSTUDY_RULES: '/r.json', UNDERSTUDY_JWT_AUDIENCE: 'chat', UNDERSTUDY_TLS_CERT: '/c.pem', UNDERSTUDY_TLS_KEY: '/k.pem' };

  it('the view service and the replicas read the same variables; a flag wins over its variable', () => {
    for (const o of [normalizeReplicaOptions({}, env), normalizeViewOptions({}, env)]) {
      expect(o.jwt).to.deep.equal({ secret: JWT_SECRET, publicKeyFile: null, audience: 'chat', issuer: null, rulesFile: '/r.json' });
      expect(o.tls).to.deep.equal({ certFile: '/c.pem', keyFile: '/k.pem' });
    }
    expect(normalizeReplicaOptions({ rules: '/other.json' }, env).jwt?.rulesFile).to.equal('/other.json');
    expect(normalizeReplicaOptions({ port: 7001 }, env).url).to.equal('wss://127.0.0.1:7001');
  });

  it('without --jwt-* or --tls-*, nothing is added', () => {
    const o = normalizeReplicaOptions({}, {});
    expect(o.jwt).to.equal(undefined);
    expect(o.tls).to.equal(undefined);
  });
});
