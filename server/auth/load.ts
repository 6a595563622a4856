/**
 * SPEC §11 at start: read the key and the rules file named by common/config.ts's JwtOptions,
 * compile the rules once, and give the endpoints one `Auth`. A rules file that does not
 * parse or names an unknown right throws an AuthConfigError naming the file, the line and
 * the problem: the CLI exits 2 and the process never starts.
 */
import * as fs from 'node:fs';
import type { JwtOptions } from '../../common/config';
import { Access, Rules, RulesError, type Claims } from './core/rules';
import { TokenVerifier } from './tokens';
import { ConnectedUsers } from './connected-users';

export class AuthConfigError extends Error {}

export interface Auth {
  readonly verifier: TokenVerifier;
  /** Null: no --rules, a valid token may do everything. */
  readonly rules: Rules | null;
  /** No rule grants "anyone" anything: a link without a valid token is closed with 4401. */
  readonly tokenRequired: boolean;
  /** Who is connected, by `sub` (the dashboard's list; server/auth/subscription.ts). */
  readonly users: ConnectedUsers;
}

export function loadAuth(o: JwtOptions): Auth {
  let publicKeyPem: string | null = null;
  if (o.publicKeyFile !== null) publicKeyPem = readText(o.publicKeyFile, '--jwt-public-key');
  let verifier: TokenVerifier;
  try {
    verifier = new TokenVerifier({ secret: o.secret, publicKeyPem, audience: o.audience, issuer: o.issuer });
  } catch (err) {
    throw new AuthConfigError((err as Error).message);
  }
  let rules: Rules | null = null;
  if (o.rulesFile !== null) {
    const parsed = Rules.parse(readText(o.rulesFile, '--rules'));
    if (parsed instanceof RulesError) throw new AuthConfigError(`--rules ${o.rulesFile}: ${parsed.message}`);
    rules = parsed;
  }
  return { verifier, rules, tokenRequired: rules === null || !rules.anyoneMay, users: new ConnectedUsers() };
}

/** What a link may do with these claims (null: no token, or an expired one). */
export function accessOf(auth: Auth, claims: Claims | null): Access {
  if (auth.rules === null) return Access.all(claims !== null);
  return auth.rules.bind(claims);
}

function readText(file: string, flag: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new AuthConfigError(`${flag} ${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}
