/**
 * The client commands of the CLI (SPEC §4): get, put, append, del, status (one shot) and
 * watch (runs until Ctrl-C). They use the client library exactly as an application would.
 */
import { parseArgs } from './args';
import { DEFAULTS, ConfigError } from '../../common/config';
import { UnderstudyError } from '../../common/errors';
import type { Store } from '../../client/store';

export const CLIENT_COMMANDS = ['get', 'put', 'append', 'del', 'delete', 'status', 'watch'];

const ARITY: Record<string, number> = { get: 1, put: 2, append: 2, del: 1, delete: 1, status: 0, watch: 1 };

function fail(message: string, code = 1): number {
  process.stderr.write(`understudy: ${message}\n`);
  return code;
}

/** ws://host:port[/path] → http://host:port (wss → https). */
export function httpBaseOf(wsUrl: string): string {
  const u = new URL(wsUrl);
  u.protocol = u.protocol === 'wss:' ? 'https:' : 'http:';
  u.pathname = '';
  u.search = '';
  return u.toString().replace(/\/$/, '');
}

export async function runClientCommand(cmd: string, argv: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(argv, ['view', 'timeout', 'client-token', 'from'], ['help', 'json']);
  if (positionals.length !== ARITY[cmd]) {
    const want = { get: 'KEY', put: 'KEY VALUE', append: 'KEY VALUE', del: 'KEY', delete: 'KEY', status: '', watch: 'KEY|PREFIX* [--from REVISION]' }[cmd];
    return fail(`usage: understudy ${cmd} ${want}`.trimEnd(), 2);
  }
  const view = String(flags.view ?? process.env.UNDERSTUDY_VIEW ?? DEFAULTS.viewUrl);
  const timeoutRaw = flags.timeout ?? process.env.UNDERSTUDY_TIMEOUT;
  const timeoutMs = timeoutRaw === undefined ? DEFAULTS.timeoutMs : Number(timeoutRaw);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0) throw new ConfigError(`--timeout must be a positive integer (got ${JSON.stringify(String(timeoutRaw))})`);
  if (!/^wss?:\/\//.test(view)) throw new ConfigError(`--view must be a ws:// or wss:// URL (got ${JSON.stringify(view)})`);
  if (cmd === 'status') return status(view, timeoutMs);
  const fromRaw = flags.from ?? undefined;
  const from = fromRaw === undefined ? undefined : Number(fromRaw);
  if (from !== undefined && (cmd !== 'watch' || !Number.isSafeInteger(from) || from < 0)) {
    throw new ConfigError(cmd === 'watch' ? `--from must be a non-negative integer revision (got ${JSON.stringify(String(fromRaw))})` : '--from is only for watch');
  }

  const token = (flags['client-token'] as string | undefined) ?? process.env.UNDERSTUDY_CLIENT_TOKEN ?? undefined;
  const { connect } = await import('../../client/node');
  let store;
  try {
    store = await connect({ view, timeoutMs, token: token || undefined });
  } catch (err) {
    if (err instanceof UnderstudyError) return fail(`${err.code}: ${err.message}`);
    return fail(err instanceof Error ? err.message : String(err));
  }
  if (cmd === 'watch') return watch(store, positionals[0], from);
  try {
    const [key, value] = positionals;
    switch (cmd) {
      case 'get': {
        const v = await store.get(key);
        if (flags.json) process.stdout.write(JSON.stringify(v) + '\n');
        else if (v === null) process.stderr.write('(nil)\n');
        else process.stdout.write(v + '\n');
        break;
      }
      case 'put':
        await store.put(key, value);
        process.stdout.write(flags.json ? 'null\n' : 'OK\n');
        break;
      case 'append':
        process.stdout.write(`${await store.append(key, value)}\n`);
        break;
      default: {
        const existed = await store.delete(key);
        process.stdout.write(flags.json ? `${existed}\n` : `${existed ? 1 : 0}\n`);
      }
    }
    return 0;
  } catch (err) {
    if (err instanceof UnderstudyError) return fail(`${err.code}: ${err.message}`);
    return fail(err instanceof Error ? err.message : String(err));
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

interface ViewStatus {
  viewnum: number;
  primary: string | null;
  backup: string | null;
  acked: boolean;
  servers: { id: string; alive: boolean; lastPingMs: number | null }[];
}

async function status(view: string, timeoutMs: number): Promise<number> {
  const url = `${httpBaseOf(view)}/view`;
  let body: ViewStatus;
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!res.ok) return fail(`GET ${url}: HTTP ${res.status}`);
    body = (await res.json()) as ViewStatus;
  } catch (err) {
    return fail(`cannot reach the view service at ${url}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const lines = [`view ${body.viewnum} (${body.acked ? 'acknowledged by its primary' : 'waiting for the primary\'s acknowledgement'})`];
  const role = (id: string) => (id === body.primary ? 'primary' : id === body.backup ? 'backup' : 'idle');
  const ids = new Set(body.servers.map((s) => s.id));
  for (const id of [body.primary, body.backup]) if (id && !ids.has(id)) body.servers.push({ id, alive: false, lastPingMs: null });
  const order = { primary: 0, backup: 1, idle: 2 };
  body.servers.sort((a, b) => order[role(a.id)] - order[role(b.id)] || a.id.localeCompare(b.id));
  for (const s of body.servers) {
    const ping = s.lastPingMs === null || s.lastPingMs === undefined ? 'never pinged' : `last ping ${s.lastPingMs} ms ago`;
    lines.push(`  ${role(s.id).padEnd(8)} ${s.id.padEnd(28)} ${s.alive ? 'alive' : 'DEAD '}  ${ping}`);
  }
  if (body.servers.length === 0) lines.push('  no replicas have pinged');
  process.stdout.write(lines.join('\n') + '\n');
  return 0;
}
