/**
 * `understudy dev`: a view service and N replicas on this machine, as child processes of
 * this one, logs merged and pretty-printed, dashboard URL printed. Ctrl-C (or SIGTERM)
 * stops them all; the children also exit by themselves if this process disappears (their
 * IPC channel closes), so nothing is left behind even after `kill -9` of `dev`.
 *
 * The view service keeps its view in `<data-dir>/view-<port>` (default `.understudy`), so it
 * can be restarted by hand on the same port and resume (docs/VIEW-SERVICE-RESTART.md). The
 * replicas of `dev` always start empty, so a view saved by an earlier run is stale: it is
 * removed at start (it names replicas whose state is gone, and would keep the view stuck).
 */
import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import * as fs from 'node:fs';
import { ConfigError, DEFAULTS, Env } from '../../common/config';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'understudy.js');
const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m', '\x1b[34m', '\x1b[91m', '\x1b[96m'];

function positiveInt(v: string | undefined, flag: string, dflt: number, max = 65535): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!/^\d+$/.test(v) || !Number.isSafeInteger(n) || n < 1 || n > max) throw new ConfigError(`--${flag} must be an integer in 1..${max} (got ${JSON.stringify(v)})`);
  return n;
}

/** One pino JSON line → one readable line; anything else passes through. */
export function prettyLine(name: string, line: string, color: boolean): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line);
  } catch {
    return `${name} ${line}`;
  }
  if (typeof o !== 'object' || o === null) return `${name} ${line}`;
  const { level, time, msg, pid: _pid, hostname: _h, role: _r, id: _id, ...rest } = o as Record<string, unknown>;
  const t = typeof time === 'string' ? time.slice(11, 23) : new Date().toISOString().slice(11, 23);
  const lv = (LEVEL_NAMES[level as number] ?? String(level)).padEnd(5);
  const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
  const lvColored = color && (level as number) >= 40 ? `\x1b[31m${lv}\x1b[0m` : lv;
  return `${t} ${name} ${lvColored} ${msg ?? ''}${extra}`;
}

export async function runDev(flags: Record<string, string>, env: Env): Promise<number> {
  const replicas = positiveInt(flags.replicas, 'replicas', DEFAULTS.devReplicas, 50);
  const port = positiveInt(flags.port ?? env.PORT, 'port', DEFAULTS.viewPort, 65535 - 200);
  const viewUrl = `ws://127.0.0.1:${port}`;
  const color = Boolean(process.stdout.isTTY) && !env.NO_COLOR;
  const common: string[] = [];
  if (flags['ping-interval']) common.push('--ping-interval', flags['ping-interval']);
  const logLevel = flags['log-level'] ?? env.LOG_LEVEL ?? 'info';
  const children: { name: string; child: ChildProcess }[] = [];
  const names = ['view', ...Array.from({ length: replicas }, (_, i) => `replica:${port + 101 + i}`)];
  const width = Math.max(...names.map((n) => n.length));

  const start = (name: string, args: string[], i: number) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, LOG_LEVEL: logLevel, PORT: '' },
    });
    const label = color ? `${COLORS[i % COLORS.length]}${name.padEnd(width)}\x1b[0m` : name.padEnd(width);
    for (const stream of [child.stdout!, child.stderr!]) {
      readline.createInterface({ input: stream }).on('line', (line) => process.stdout.write(prettyLine(label, line, color) + '\n'));
    }
    child.on('exit', (code, signal) => {
      if (!stopping) process.stdout.write(`${label} exited (${signal ?? code})\n`);
    });
    children.push({ name, child });
  };

  let stopping = false;
  const dataDir = path.join(flags['data-dir'] ?? env.UNDERSTUDY_DATA_DIR ?? '.understudy', `view-${port}`);
  fs.rmSync(path.join(dataDir, 'view.json'), { force: true });
  const viewArgs = ['view', '--port', String(port), '--host', '127.0.0.1', '--data-dir', dataDir, ...common];
  if (flags['dead-pings']) viewArgs.push('--dead-pings', flags['dead-pings']);
  start('view', viewArgs, 0);
  for (let i = 0; i < replicas; i++) {
    const p = port + 101 + i;
    start(names[i + 1], ['replica', '--view', viewUrl, '--port', String(p), '--host', '127.0.0.1', '--url', `ws://127.0.0.1:${p}`, ...common], i + 1);
  }
  process.stdout.write(
    `\nUnderstudy dev cluster: view service ${viewUrl}, ${replicas} replica(s) on ports ${port + 101}..${port + 100 + replicas}\n` +
    `Dashboard: http://127.0.0.1:${port}/\n` +
    `View data: ${dataDir}\n` +
    `Try:       npx understudy put hello world && npx understudy get hello${port !== DEFAULTS.viewPort ? ` --view ${viewUrl}` : ''}\n` +
    `Ctrl-C stops everything.\n\n`,
  );

  return new Promise<number>((resolve) => {
    const stop = () => {
      if (stopping) {
        for (const { child } of children) child.kill('SIGKILL');
        return;
      }
      stopping = true;
      process.stdout.write('\nstopping the dev cluster…\n');
      let left = children.filter(({ child }) => child.exitCode === null && child.signalCode === null).length;
      if (left === 0) resolve(0);
      const force = setTimeout(() => { for (const { child } of children) child.kill('SIGKILL'); }, 5000);
      for (const { child } of children) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        child.once('exit', () => { if (--left === 0) { clearTimeout(force); resolve(0); } });
        child.kill('SIGTERM');
      }
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
