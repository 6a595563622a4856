/**
 * `npm run bench -- --auth` (issue #13, SPEC §11): what a cluster with per-user tokens and
 * access rules is given. Ten rules, the first nine matching none of the bench's keys and the
 * tenth its put keys (`p<size>:N`), so every put walks all ten before it is allowed: the
 * worst case of a ten-rule file. The token is an HS256 JWT signed here with `jose`, valid for
 * longer than any run, presented by each client link once in its `hello`.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SignJWT } from 'jose';

/** The bench's HS256 secret (at least 32 characters, as --jwt-secret requires). */
export const BENCH_JWT_SECRET = 'bench-secret-0123456789abcdefghijklmnop';
/** The clients' user. */
export const BENCH_SUB = 'bench';

export const BENCH_RULES = {
  rules: [
    { keys: 'user:{sub}:*', read: 'auth', write: 'auth' },
    { keys: 'team:{team}:*', read: 'auth', write: { claim: 'role', equals: 'member' } },
    { keys: 'room:*', read: 'auth', write: 'nobody' },
    { keys: 'presence:{sub}', read: 'anyone', write: 'auth' },
    { keys: 'presence:*', read: 'anyone', write: 'nobody' },
    { keys: 'admin:*', read: { claim: 'role', equals: 'admin' }, write: { claim: 'role', equals: 'admin' } },
    { keys: 'config', read: 'auth', write: 'nobody' },
    { keys: 'public:*', read: 'anyone', write: 'auth' },
    { keys: 'inbox:{sub}:*', read: 'auth', write: 'auth' },
    { keys: 'p*', read: 'auth', write: { claim: 'sub', equals: BENCH_SUB } },
  ],
};

/** The environment that turns SPEC §11 on for every process of a cluster (rules written to a temp file). */
export function authEnv(): Record<string, string> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-bench-rules-'));
  const file = path.join(dir, 'rules.json');
  fs.writeFileSync(file, JSON.stringify(BENCH_RULES, null, 2));
  return { UNDERSTUDY_JWT_SECRET: BENCH_JWT_SECRET, UNDERSTUDY_RULES: file };
}

/** A token for BENCH_SUB valid for `seconds`. */
export function benchToken(seconds = 4 * 3600): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub: BENCH_SUB, role: 'member', team: 'blue' }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now)
    .setExpirationTime(now + seconds).sign(new TextEncoder().encode(BENCH_JWT_SECRET));
}
