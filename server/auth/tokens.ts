/**
 * JWT verification for SPEC §11, with `jose` (no hand-written crypto or JWT parsing): one
 * `verify(token)` resolving to the claims or an AuthError. HS256 with `--jwt-secret`, or
 * RS256/ES256 with `--jwt-public-key FILE`; the accepted algorithm is pinned to the key's type
 * (an HMAC secret never verifies an RS/ES token, a public key is never used as an HMAC secret:
 * the HS/RS confusion), `none` is never accepted. `exp` is required (a token must end, and the
 * client renews before it), `nbf`, `aud` and `iss` are checked when set.
 */
import { createPublicKey, type KeyObject } from 'node:crypto';
import { jwtVerify, type JWTVerifyOptions } from 'jose';
import type { Claims } from './core/rules';

export class AuthError extends Error {
  constructor(readonly reason: 'malformed' | 'signature' | 'algorithm' | 'expired' | 'not-yet-valid' | 'claims', message: string) {
    super(message);
  }
}

export interface TokenOptions {
  /** HS256 secret (--jwt-secret). */
  readonly secret: string | null;
  /** PEM text of an RSA or EC public key (--jwt-public-key FILE's contents). */
  readonly publicKeyPem: string | null;
  readonly audience: string | null;
  readonly issuer: string | null;
}

export class TokenVerifier {
  private readonly key: Uint8Array | KeyObject;
  private readonly options: JWTVerifyOptions;

  /** Throws (with the flag named) when the key cannot be used. */
  constructor(o: TokenOptions) {
    let alg: string;
    if (o.secret !== null) {
      this.key = new TextEncoder().encode(o.secret);
      alg = 'HS256';
    } else if (o.publicKeyPem !== null) {
      let key: KeyObject;
      try {
        key = createPublicKey(o.publicKeyPem);
      } catch (err) {
        throw new Error(`--jwt-public-key: not a PEM public key (${(err as Error).message})`);
      }
      if (key.asymmetricKeyType === 'rsa') alg = 'RS256';
      else if (key.asymmetricKeyType === 'ec') alg = 'ES256';
      else throw new Error(`--jwt-public-key: an RSA (RS256) or EC P-256 (ES256) key is needed (got ${key.asymmetricKeyType})`);
      this.key = key;
    } else {
      throw new Error('a JWT key is needed: --jwt-secret or --jwt-public-key');
    }
    this.options = {
      algorithms: [alg],
      requiredClaims: ['exp'],
      ...(o.audience !== null ? { audience: o.audience } : {}),
      ...(o.issuer !== null ? { issuer: o.issuer } : {}),
    };
  }

  /** The token's claims, or why it is refused (never the token itself in the message). */
  async verify(token: string): Promise<Claims | AuthError> {
    try {
      const { payload } = await jwtVerify(token, this.key, this.options);
      return payload as Claims;
    } catch (err) {
      return refusal(err);
    }
  }
}

function refusal(err: unknown): AuthError {
  const code = (err as { code?: string }).code;
  const message = (err as Error).message ?? String(err);
  switch (code) {
    case 'ERR_JWT_EXPIRED': return new AuthError('expired', 'the token has expired');
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED': return new AuthError('signature', 'the token signature does not verify');
    case 'ERR_JOSE_ALG_NOT_ALLOWED': return new AuthError('algorithm', `the token's algorithm is not accepted (${message})`);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const claim = (err as { claim?: string }).claim;
      if (claim === 'nbf') return new AuthError('not-yet-valid', 'the token is not valid yet (nbf)');
      return new AuthError('claims', `the token's claims are refused (${message})`);
    }
    default: return new AuthError('malformed', `the token is not a valid JWT (${message})`);
  }
}
