/** SPEC §11 test helpers: HS256 tokens and a rules file in a temp folder. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { SignJWT } from 'jose';

export const JWT_SECRET = 'test-secret-of-at-least-32-chars!';

/** An HS256 token for `sub`, valid for `seconds` (negative: already expired). */
export function tokenFor(sub: string, seconds = 60, extra: Record<string, unknown> = {}, secret = JWT_SECRET): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ sub, ...extra }).setProtectedHeader({ alg: 'HS256' }).setIssuedAt(now).setExpirationTime(now + seconds)
    .sign(new TextEncoder().encode(secret));
}

/** The chat example of docs/SECURITY.md: each user writes user:{sub}:*, everyone signed in reads room:*. */
export const CHAT_RULES = {
  rules: [
    { keys: 'user:{sub}:*', read: 'auth', write: 'auth' },
    { keys: 'room:*', read: 'auth', write: 'auth' },
  ],
};

/** Write `rules` to a fresh temp file; returns its path. */
export function rulesFile(rules: unknown = CHAT_RULES): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-rules-'));
  const file = path.join(dir, 'rules.json');
  fs.writeFileSync(file, typeof rules === 'string' ? rules : JSON.stringify(rules, null, 2));
  return file;
}
