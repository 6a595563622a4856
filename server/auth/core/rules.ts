/**
 * SPEC §11 access rules, a pure core (no I/O, no clock): `Rules.parse(text)` compiles a
 * `--rules` file ONCE at start; `rules.bind(claims)` fills in a token's claims once per token
 * (at hello or renewal), giving an `Access` whose checks per operation are a loop of
 * `startsWith`/`===` over precomputed strings and booleans: no pattern is built per operation.
 *
 * `keys` is one key or a `prefix*`, with `{claim}` placeholders; `read`/`write` are
 * "anyone" | "auth" | "nobody" | {"claim": NAME, "equals": VALUE}. The first rule whose keys
 * match decides; no match: denied. A placeholder whose claim is missing, not a string, or
 * contains `*`, `:`, `{` or `}` makes its rule match nothing, so a `sub` of "alice:x" or "*"
 * can never widen what its rule reaches.
 */

import type { ReqMsg } from '../../../common/messages';

/** A verified token's payload (server/auth/tokens.ts); null for a link without a token. */
export type Claims = Readonly<Record<string, unknown>>;

export type Right =
  | { readonly kind: 'anyone' }
  | { readonly kind: 'auth' }
  | { readonly kind: 'nobody' }
  | { readonly kind: 'claim'; readonly claim: string; readonly equals: string | number | boolean };

/** A piece of a rule's keys: literal text, or a claim to substitute. */
type Part = string | { readonly claim: string };

interface CompiledRule {
  readonly parts: readonly Part[];
  readonly prefix: boolean;
  readonly read: Right;
  readonly write: Right;
}

export class RulesError extends Error {}

const RIGHT_NAMES = ['anyone', 'auth', 'nobody'];
const PLACEHOLDER = /\{([A-Za-z0-9_.-]+)\}/g;

/** A claim value that may stand in a key: a string without the characters that could widen a pattern. */
function safeClaim(v: unknown): v is string {
  return typeof v === 'string' && !/[*:{}]/.test(v);
}

function rightAllows(r: Right, claims: Claims | null): boolean {
  switch (r.kind) {
    case 'anyone': return true;
    case 'auth': return claims !== null;
    case 'nobody': return false;
    case 'claim': return claims !== null && claims[r.claim] === r.equals;
  }
}

/**
 * What one link may do: the rules with its claims filled in. Built once per token; each
 * check walks the arrays (first match decides, no match: denied).
 */
export class Access {
  constructor(
    private readonly keys: readonly string[],
    private readonly prefix: readonly boolean[],
    private readonly readOk: readonly boolean[],
    private readonly writeOk: readonly boolean[],
  ) {}

  /** Everything allowed (a valid token, no --rules) or nothing (an expired token). */
  static all(allowed: boolean): Access {
    return new Access([''], [true], [allowed], [allowed]);
  }

  read(key: string): boolean { return this.decide(key, this.readOk); }
  write(key: string): boolean { return this.decide(key, this.writeOk); }

  private decide(key: string, ok: readonly boolean[]): boolean {
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) {
      if (this.prefix[i] ? key.startsWith(keys[i]) : key === keys[i]) return ok[i];
    }
    return false;
  }

  /**
   * A watch pattern must be readable as a whole (SPEC §11): every key it can match must be
   * readable. `key` or `prefix*`. A rule that covers the whole rest of the prefix decides the
   * rest; a rule that covers part of it must allow; keys no rule covers are denied.
   */
  watch(pattern: string): boolean {
    if (!pattern.endsWith('*')) return this.read(pattern);
    const p = pattern.slice(0, -1);
    for (let i = 0; i < this.keys.length; i++) {
      const k = this.keys[i];
      if (this.prefix[i] && p.startsWith(k)) return this.readOk[i];
      if (k.startsWith(p) && !this.readOk[i]) return false;
    }
    return false;
  }
}

export class Rules {
  private constructor(private readonly rules: readonly CompiledRule[]) {}

  /** Whether a link without a token may do anything at all (else a token is required: 4401). */
  get anyoneMay(): boolean {
    return this.rules.some((r) => r.read.kind === 'anyone' || r.write.kind === 'anyone');
  }

  /** The rules with `claims` filled in; a rule whose placeholder has no safe claim is left out (matches nothing). */
  bind(claims: Claims | null): Access {
    const keys: string[] = [];
    const prefix: boolean[] = [];
    const readOk: boolean[] = [];
    const writeOk: boolean[] = [];
    for (const r of this.rules) {
      let key = '';
      let usable = true;
      for (const part of r.parts) {
        if (typeof part === 'string') { key += part; continue; }
        const v = claims === null ? undefined : claims[part.claim];
        if (!safeClaim(v)) { usable = false; break; }
        key += v;
      }
      if (!usable) continue;
      keys.push(key);
      prefix.push(r.prefix);
      readOk.push(rightAllows(r.read, claims));
      writeOk.push(rightAllows(r.write, claims));
    }
    return new Access(keys, prefix, readOk, writeOk);
  }

  /** Compile a rules file; a RulesError names the line and the problem. */
  static parse(text: string): Rules | RulesError {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      const m = /position (\d+)/.exec((err as Error).message);
      const line = m ? lineAt(text, Number(m[1])) : 1;
      return new RulesError(`line ${line}: not JSON (${(err as Error).message})`);
    }
    if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { rules?: unknown }).rules)) {
      return new RulesError('line 1: expected {"rules": [ … ]}');
    }
    const starts = ruleLines(text);
    const out: CompiledRule[] = [];
    const list = (doc as { rules: unknown[] }).rules;
    for (let i = 0; i < list.length; i++) {
      const rule = compileRule(list[i]);
      if (typeof rule === 'string') return new RulesError(`line ${starts[i] ?? 1}: rule ${i + 1}: ${rule}`);
      out.push(rule);
    }
    return new Rules(out);
  }
}

function compileRule(r: unknown): CompiledRule | string {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'a rule must be an object {"keys", "read", "write"}';
  const o = r as Record<string, unknown>;
  for (const f of Object.keys(o)) if (f !== 'keys' && f !== 'read' && f !== 'write') return `unknown field ${JSON.stringify(f)} (a rule has "keys", "read", "write")`;
  if (typeof o.keys !== 'string' || o.keys === '') return '"keys" must be a key or a "prefix*"';
  const prefix = o.keys.endsWith('*');
  const body = prefix ? o.keys.slice(0, -1) : o.keys;
  if (body.includes('*')) return `"keys" ${JSON.stringify(o.keys)}: "*" may only end the pattern`;
  const parts: Part[] = [];
  let last = 0;
  for (const m of body.matchAll(PLACEHOLDER)) {
    if (m.index! > last) parts.push(body.slice(last, m.index));
    parts.push({ claim: m[1] });
    last = m.index! + m[0].length;
  }
  if (last < body.length) parts.push(body.slice(last));
  if (parts.some((p) => typeof p === 'string' && /[{}]/.test(p))) return `"keys" ${JSON.stringify(o.keys)}: a placeholder is {claim}, a claim name of letters, digits, _ . -`;
  const read = compileRight(o.read, 'read');
  if (typeof read === 'string') return read;
  const write = compileRight(o.write, 'write');
  if (typeof write === 'string') return write;
  return { parts, prefix, read, write };
}

function compileRight(v: unknown, name: string): Right | string {
  if (typeof v === 'string' && RIGHT_NAMES.includes(v)) return { kind: v as 'anyone' | 'auth' | 'nobody' };
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
    const o = v as Record<string, unknown>;
    const eq = o.equals;
    if (Object.keys(o).length === 2 && typeof o.claim === 'string' && o.claim !== '' && (typeof eq === 'string' || typeof eq === 'number' || typeof eq === 'boolean')) {
      return { kind: 'claim', claim: o.claim, equals: eq };
    }
  }
  return `unknown right ${JSON.stringify(v) ?? 'missing'} for "${name}"; use "anyone", "auth", "nobody" or {"claim": NAME, "equals": VALUE}`;
}

function lineAt(text: string, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset && i < text.length; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

/** The line where each element of the top-level "rules" array starts (a small scan of brackets outside strings). */
function ruleLines(text: string): number[] {
  const lines: number[] = [];
  let depth = 0;
  let line = 1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') { inString = true; if (depth === 2 && isElementStart(text, i)) lines.push(line); continue; }
    if (c === '{' || c === '[') { if (depth === 2) lines.push(line); depth++; } else if (c === '}' || c === ']') depth--;
    else if (depth === 2 && /[0-9tfn-]/.test(c) && isElementStart(text, i)) lines.push(line);
  }
  return lines;
}

/** Whether position i starts an array element (the previous non-space character is `[` or `,`). */
function isElementStart(text: string, i: number): boolean {
  let j = i - 1;
  while (j >= 0 && /\s/.test(text[j])) j--;
  return j >= 0 && (text[j] === '[' || text[j] === ',');
}

/**
 * The right an operation lacks under `access`, or null when it is allowed (SPEC §10, §11):
 * get and getEntry read their key; list reads its whole prefix (as a prefix watch does, so a
 * page never shows a key the link could not read alone); put, append and delete write their
 * key, and with `ifRevision` also read it (a CONFLICT tells its revision); an atomic commit
 * reads every key it checks and writes every key it changes, all of them or nothing runs.
 */
export function deniedRight(access: Access, req: ReqMsg): 'read' | 'write' | null {
  switch (req.op) {
    case 'get':
    case 'getEntry':
      return access.read(req.key) ? null : 'read';
    case 'list':
      return access.watch(`${req.key}*`) ? null : 'read';
    case 'atomic':
      for (const [key] of req.checks ?? []) if (!access.read(key)) return 'read';
      for (const op of req.ops ?? []) if (!access.write(op[1])) return 'write';
      return null;
    default:
      if (!access.write(req.key)) return 'write';
      return req.ifRevision !== undefined && !access.read(req.key) ? 'read' : null;
  }
}
