/**
 * server/auth/tokens.ts: SPEC §11's token checks with jose. Every attack is refused with its
 * reason: malformed, wrong signature, `none` and the wrong algorithm (HS/RS confusion),
 * expired, not yet valid, wrong audience or issuer. No ports; keys made in memory.
 */
import { expect } from 'chai';
import { generateKeyPairSync, createHmac } from 'node:crypto';
import { SignJWT } from 'jose';
import { TokenVerifier, AuthError } from '../../server/auth/tokens';

const SECRET = 'a-long-test-secret-of-32-bytes!!';
const now = (): number => Math.floor(Date.now() / 1000);
const hs = (claims: Record<string, unknown>, secret = SECRET): Promise<string> =>
  new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new TextEncoder().encode(secret));
const b64 = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');

async function refused(v: TokenVerifier, token: string): Promise<AuthError> {
  const r = await v.verify(token);
  expect(r, 'refused').to.be.instanceOf(AuthError);
  return r as AuthError;
}

describe('auth tokens (SPEC §11)', () => {
  const hsv = new TokenVerifier({ secret: SECRET, publicKeyPem: null, audience: null, issuer: null });

  it('a good HS256 token gives its claims', async () => {
    const r = await hsv.verify(await hs({ sub: 'alice', exp: now() + 60 }));
    expect(r).to.not.be.instanceOf(AuthError);
    expect((r as Record<string, unknown>).sub).to.equal('alice');
  });

  it('refuses a malformed token, a wrong signature and a token without exp (SPEC §11)', async () => {
    expect((await refused(hsv, 'not.a.jwt')).reason).to.equal('malformed');
    expect((await refused(hsv, '')).reason).to.equal('malformed');
    expect((await refused(hsv, await hs({ sub: 'a', exp: now() + 60 }, 'another-secret-another-secret!!'))).reason).to.equal('signature');
    expect((await refused(hsv, await hs({ sub: 'a' }))).reason).to.equal('claims');
  });

  it('refuses alg "none" and a token signed with another algorithm (SPEC §11)', async () => {
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'a', exp: now() + 60 })}.`;
    expect((await refused(hsv, none)).reason).to.equal('algorithm');
    const hs512 = await new SignJWT({ sub: 'a', exp: now() + 60 }).setProtectedHeader({ alg: 'HS512' }).sign(new TextEncoder().encode(SECRET));
    expect((await refused(hsv, hs512)).reason).to.equal('algorithm');
  });

  it('HS/RS confusion: an HS256 token signed with the RSA public key is refused by an RS256 verifier (SPEC §11)', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const rsv = new TokenVerifier({ secret: null, publicKeyPem: pem, audience: null, issuer: null });
    const good = await new SignJWT({ sub: 'a', exp: now() + 60 }).setProtectedHeader({ alg: 'RS256' }).sign(privateKey);
    expect(await rsv.verify(good)).to.not.be.instanceOf(AuthError);
    // The classic attack: HMAC over header.payload, keyed with the public key's PEM.
    const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: 'admin', exp: now() + 60 })}`;
    const forged = `${head}.${createHmac('sha256', pem).update(head).digest('base64url')}`;
    expect((await refused(rsv, forged)).reason).to.equal('algorithm');
    // And an HS256 verifier does not take an RS256 token.
    expect((await refused(hsv, good)).reason).to.equal('algorithm');
  });

  it('ES256 with an EC public key', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const esv = new TokenVerifier({ secret: null, publicKeyPem: publicKey.export({ type: 'spki', format: 'pem' }) as string, audience: null, issuer: null });
    const t = await new SignJWT({ sub: 'e', exp: now() + 60 }).setProtectedHeader({ alg: 'ES256' }).sign(privateKey);
    expect(await esv.verify(t)).to.not.be.instanceOf(AuthError);
    expect(() => new TokenVerifier({ secret: null, publicKeyPem: 'junk', audience: null, issuer: null })).to.throw(/--jwt-public-key/);
  });

  it('refuses an expired token and one not yet valid (SPEC §11)', async () => {
    expect((await refused(hsv, await hs({ sub: 'a', exp: now() - 10 }))).reason).to.equal('expired');
    expect((await refused(hsv, await hs({ sub: 'a', exp: now() + 600, nbf: now() + 300 }))).reason).to.equal('not-yet-valid');
  });

  it('with --jwt-audience / --jwt-issuer, refuses a wrong or missing aud or iss (SPEC §11)', async () => {
    const v = new TokenVerifier({ secret: SECRET, publicKeyPem: null, audience: 'chat', issuer: 'https://id.example' });
    expect(await v.verify(await hs({ sub: 'a', exp: now() + 60, aud: 'chat', iss: 'https://id.example' }))).to.not.be.instanceOf(AuthError);
    expect((await refused(v, await hs({ sub: 'a', exp: now() + 60, aud: 'other', iss: 'https://id.example' }))).reason).to.equal('claims');
    expect((await refused(v, await hs({ sub: 'a', exp: now() + 60, aud: 'chat', iss: 'https://evil.example' }))).reason).to.equal('claims');
    expect((await refused(v, await hs({ sub: 'a', exp: now() + 60 }))).reason).to.equal('claims');
  });
});
