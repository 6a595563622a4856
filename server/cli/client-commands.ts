/**
 * The client commands of the CLI (SPEC §4): get, put, append, del, status (one shot) and
 * watch (runs until Ctrl-C). They use the client library exactly as an application would.
 */
import { splitViewUrls } from '../../common/view-urls';
import { parseArgs } from './args';
import { DEFAULTS, ConfigError } from '../../common/config';
import { UnderstudyError } from '../../common/errors';
import type { Store } from '../../client/store';
import { commandHelp } from './help';
import { viewRefusal, refusedLine } from './startup';
import { status } from './status';
import { MAX_TTL_MS } from '../../common/protocol';

export const CLIENT_COMMANDS = ['get', 'put', 'append', 'del', 'delete', 'status', 'watch', 'list', 'atomic'];

const ARITY: Record<string, number> = { get: 1, put: 2, append: 2, del: 1, delete: 1, status: 0, watch: 1, list: 1, atomic: 0 };

/** The SPEC §10 flags of put, del and list, checked (a usage error throws ConfigError). */
interface AppFlags { ifRevision?: number; ttlMs?: number; limit?: number; after?: string; keysOnly: boolean }

function appFlags(cmd: string, flags: Record<string, string | boolean>): AppFlags {
  const nat = (name: string, min: number, max: number): number | undefined => {
    const raw = flags[name];
    if (raw === undefined) return undefined;
    const n = Number(raw);
    if (typeof raw !== 'string' || !Number.isSafeInteger(n) || n < min || n > max) throw new ConfigError(`--${name} must be an integer from ${min} to ${max} (got ${JSON.stringify(String(raw))})`);
    return n;
  };
  const ifRevision = nat('if-revision', 0, Number.MAX_SAFE_INTEGER);
  if (ifRevision !== undefined && cmd !== 'put' && cmd !== 'del' && cmd !== 'delete') throw new ConfigError('--if-revision is only for put and del');
  const ttlMs = nat('ttl', 1, MAX_TTL_MS); // SPEC §10: at most 30 days
  if (ttlMs !== undefined && cmd !== 'put') throw new ConfigError('--ttl is only for put');
  const limit = nat('limit', 1, 10_000);
  const after = flags.after === undefined ? undefined : String(flags.after);
  if ((limit !== undefined || after !== undefined || flags['keys-only'] === true) && cmd !== 'list') throw new ConfigError('--limit, --after and --keys-only are only for list');
  return { ifRevision, ttlMs, limit, after, keysOnly: flags['keys-only'] === true };
}

function fail(message: string, code = 1): number {
  process.stderr.write(`understudy: ${message}\n`);
  return code;
}

export async function runClientCommand(cmd: string, argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, ['view', 'timeout', 'client-token', 'from', 'pid', 'if-revision', 'ttl', 'limit', 'after'], ['help', 'json', 'keys-only']);
  if (flags.help) {
    process.stdout.write(commandHelp(cmd) ?? '');
    return 0;
  }
  if (positionals.length !== ARITY[cmd]) {
    const want = {
      get: 'KEY', put: 'KEY VALUE [--if-revision N] [--ttl MS]', append: 'KEY VALUE', del: 'KEY [--if-revision N]', delete: 'KEY [--if-revision N]', status: '',
      watch: 'KEY|PREFIX* [--from REVISION]', list: 'PREFIX [--limit N] [--after KEY] [--keys-only]', atomic: '< COMMIT.json',
    }[cmd];
    return fail(`usage: understudy ${cmd} ${want}`.trimEnd(), 2);
  }
  const view = String(flags.view ?? process.env.UNDERSTUDY_VIEW ?? DEFAULTS.viewUrl);
  const timeoutRaw = flags.timeout ?? process.env.UNDERSTUDY_TIMEOUT;
  const timeoutMs = timeoutRaw === undefined ? DEFAULTS.timeoutMs : Number(timeoutRaw);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new ConfigError(`--timeout must be a positive integer (got ${JSON.stringify(String(timeoutRaw))})`);
  // Several view-service instances (SPEC §12): a comma list; the client uses any that answers.
  const views = splitViewUrls(view);
  const badView = views.length === 0 ? view : views.find((u) => !/^wss?:\/\//.test(u));
  if (badView !== undefined) throw new ConfigError(`--view must be a ws:// or wss:// URL (got ${JSON.stringify(badView)})`);
  if (flags.pid !== undefined && (cmd !== 'status' || (flags.pid !== 'primary' && flags.pid !== 'backup'))) {
    throw new ConfigError(cmd === 'status' ? `--pid must be primary or backup (got ${JSON.stringify(String(flags.pid))})` : '--pid is only for status');
  }
  // Nothing listening at the URL: say so now, not after the whole timeout (issue #16).
  const refusals = await Promise.all(views.map((u) => viewRefusal(u, Math.min(1000, timeoutMs))));
  const answering = views.find((_, i) => refusals[i] === null);
  if (answering === undefined) return fail(refusedLine(view, refusals[0] as string));
  const app = appFlags(cmd, flags as Record<string, string | boolean>);
  if (cmd === 'status') return status(answering, timeoutMs, flags.pid as 'primary' | 'backup' | undefined);
  const fromRaw = flags.from ?? undefined;
  const from = fromRaw === undefined ? undefined : Number(fromRaw);
  if (from !== undefined && (cmd !== 'watch' || !Number.isSafeInteger(from) || from < 0)) {
    throw new ConfigError(cmd === 'watch' ? `--from must be a non-negative integer revision (got ${JSON.stringify(String(fromRaw))})` : '--from is only for watch');
  }

  const token = (flags['client-token'] as string | undefined) ?? process.env.UNDERSTUDY_CLIENT_TOKEN ?? undefined;
  const { connect } = await import('../../client/node');
  let store;
  try {
    store = await connect({ view: views, timeoutMs, token: token || undefined });
  } catch (err) {
    if (err instanceof UnderstudyError) return fail(`${err.code}: ${err.message}`);
    return fail(err instanceof Error ? err.message : String(err));
  }
  if (cmd === 'watch') return watch(store, positionals[0], from);
  if (cmd === 'atomic') return atomicFromStdin(store);
  try {
    await operate(store, cmd, positionals, flags.json === true, app);
    return 0;
  } catch (err) {
    if (err instanceof UnderstudyError) return fail(`${err.code}: ${err.message}`);
    return fail(err instanceof Error ? err.message : String(err));
  } finally {
    await store.close().catch(() => {});
  }
}

/** One get, put, append or del, its answer printed on stdout. */
async function operate(store: Store, cmd: string, [key, value]: string[], json: boolean, app: AppFlags): Promise<void> {
  const cond = app.ifRevision === undefined ? undefined : { ifRevision: app.ifRevision };
  switch (cmd) {
    case 'get': {
      const v = await store.get(key);
      if (json) process.stdout.write(JSON.stringify(v) + '\n');
      else if (v === null) process.stderr.write('(nil)\n');
      else process.stdout.write(v + '\n');
      return;
    }
    case 'put':
      await store.put(key, value, app.ttlMs === undefined ? cond : { ...cond, ttlMs: app.ttlMs });
      process.stdout.write(json ? 'null\n' : 'OK\n');
      return;
    case 'append':
      process.stdout.write(`${await store.append(key, value)}\n`);
      return;
    case 'list': // one JSON line: {"entries":[{key,value,revision}…],"revision":N,"more":bool}
      process.stdout.write(JSON.stringify(await store.list(key, { limit: app.limit, after: app.after, keysOnly: app.keysOnly })) + '\n');
      return;
    default: {
      const existed = await store.delete(key, cond);
      process.stdout.write(json ? `${existed}\n` : `${existed ? 1 : 0}\n`);
    }
  }
}

/**
 * `understudy atomic < commit.json`: `{"checks":[[key, rev]…],"ops":[["put"|"append", key, value] | ["delete", key]…]}`
 * on stdin; prints the result as one JSON line; exit 0 if committed, 1 if a check failed or it was refused.
 */
async function atomicFromStdin(store: Store): Promise<number> {
  try {
    let text = '';
    for await (const chunk of process.stdin) text += String(chunk);
    let body: { checks?: unknown; ops?: unknown };
    try { body = JSON.parse(text) as typeof body; } catch { return fail('atomic: stdin must be JSON: {"checks":[[key, revision]…],"ops":[["put", key, value]…]}', 2); }
    const commit = store.atomic();
    for (const c of Array.isArray(body.checks) ? body.checks as [string, number][] : []) commit.check(c[0], c[1]);
    if (!Array.isArray(body.ops)) return fail('atomic: "ops" must be an array of ["put"|"append", key, value] or ["delete", key]', 2);
    for (const o of body.ops as string[][]) {
      if (o[0] === 'put') commit.put(o[1], o[2]);
      else if (o[0] === 'append') commit.append(o[1], o[2]);
      else if (o[0] === 'delete') commit.delete(o[1]);
      else return fail(`atomic: unknown op ${JSON.stringify(o[0])}; use put, append or delete`, 2);
    }
    const res = await commit.commit();
    process.stdout.write(JSON.stringify(res) + '\n');
    return res.ok ? 0 : 1;
  } catch (err) {
    return fail(err instanceof UnderstudyError ? `${err.code}: ${err.message}` : String(err));
  } finally {
    await store.close().catch(() => {});
  }
}

/**
 * `understudy watch KEY|PREFIX*`: one JSON line per committed change,
 * `{"key":…,"value":…|null,"revision":N}` (plus `"resync":true` for a resync), across
 * failovers, until SIGINT/SIGTERM (exit 0). Exit 1 if the watch is refused.
 */
function watch(store: Store, pattern: string, fromRevision: number | undefined): Promise<number> {
  return new Promise<number>((resolve) => {
    let done = false;
    const finish = (code: number): void => {
      if (done) return;
      done = true;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      store.close().catch(() => {}).finally(() => resolve(code));
    };
    const onSignal = (): void => finish(0);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    process.stdout.on('error', () => finish(0)); // e.g. piped into `head`: the reader is gone
    store.on('error', (err) => {
      process.stderr.write(`understudy: ${err.code}: ${err.message}\n`);
      if (/^watch /.test(err.message)) finish(1); // the watch itself was refused
    });
    try {
      store.watch(pattern, (e) => {
        process.stdout.write(`${JSON.stringify({ key: e.key, value: e.value, revision: e.revision, ...(e.resync ? { resync: true } : {}) })}\n`);
      }, { fromRevision });
    } catch (err) {
      process.stderr.write(`understudy: ${err instanceof UnderstudyError ? `${err.code}: ` : ''}${err instanceof Error ? err.message : String(err)}\n`);
      finish(1);
    }
  });
}
