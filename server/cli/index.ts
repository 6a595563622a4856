/**
 * The `understudy` command line (SPEC §4). Exit codes: 0 ok, 1 operation failed (message
 * on stderr), 2 usage error. Every flag has an environment variable (common/config.ts).
 */
import { parseArgs, UsageError } from './args';
import { ConfigError, normalizeViewOptions, normalizeReplicaOptions, DEFAULTS } from '../../common/config';
import { createLogger } from '../log';
import { runDev } from './dev';
import { runClientCommand, CLIENT_COMMANDS } from './client-commands';
import { HELP, commandHelp, packageVersion } from './help';
import { startupFailure } from './startup';
import { loadAuth, AuthConfigError } from '../auth/load';

const SERVER_FLAGS = [
  'port', 'host', 'ping-interval', 'dead-pings', 'cluster-token', 'client-token', 'log-level', 'max-connections', 'keepalive-interval',
  'jwt-secret', 'jwt-public-key', 'jwt-audience', 'jwt-issuer', 'rules', 'tls-cert', 'tls-key',
];

function failed(line: string): number {
  process.stderr.write(`understudy: ${line}\n`);
  return 1;
}

function usage(message: string): number {
  process.stderr.write(`understudy: ${message}\nRun \`understudy --help\` for usage.\n`);
  return 2;
}

/**
 * Run until a signal for the server roles; resolve with the exit code. The first SIGTERM or
 * SIGINT runs `close` (graceful: a replica drains and leaves, the view service closes its
 * links with 1012), a second one exits at once, and 25 s after the first the process exits
 * whatever is left.
 */
function untilSignal(close: () => Promise<void>, log: { info(o: object | string, m?: string): void }): Promise<number> {
  return new Promise((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) { process.exit(1); }
      stopping = true;
      log.info({ signal }, 'shutting down');
      const force = setTimeout(() => process.exit(1), 25_000);
      force.unref();
      close().then(() => resolve(0), () => resolve(1)).finally(() => {
        // Everything is closed; a handle left open must not hold the exit.
        setTimeout(() => process.exit(process.exitCode ?? 0), 1000).unref();
      });
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    // Started by `understudy dev` over IPC: never outlive it.
    if (process.send) process.on('disconnect', () => stop('parent gone'));
  });
}

/** `understudy COMMAND --help` and `understudy help COMMAND`: that command's text, exit 0. */
function showHelp(cmd: string | undefined): number {
  if (cmd === undefined) {
    process.stdout.write(HELP);
    return 0;
  }
  const text = commandHelp(cmd);
  if (text === undefined) return usage(`no help for ${JSON.stringify(cmd)}: not a command`);
  process.stdout.write(text);
  return 0;
}

async function runView(rest: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(rest, [...SERVER_FLAGS, 'max-subscribers', 'data-dir', 'etcd', 'etcd-prefix', 'lease-ttl', 'advertise-url']);
  if (flags.help) return showHelp('view');
  if (positionals.length) return usage(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const options = normalizeViewOptions(flags as Record<string, string>, process.env);
  const auth = options.jwt ? loadAuth(options.jwt) : undefined; // a bad rules file: exit 2 before anything starts
  const log = createLogger(options.logLevel, { role: 'view' });
  const { startViewService } = await import('../viewservice');
  let vs: Awaited<ReturnType<typeof startViewService>>;
  try {
    vs = await startViewService({ ...options, log, auth });
  } catch (err) {
    // e.g. a taken port, or an unreadable or corrupt --data-dir: say so, never start over silently.
    return failed(startupFailure('view service', err, options.port));
  }
  log.info({ port: vs.port, dashboard: `http://127.0.0.1:${vs.port}/` }, `view service listening on ${options.host}:${vs.port}`);
  return untilSignal(() => vs.close(), log);
}

async function runReplica(rest: string[]): Promise<number> {
  const { flags, positionals } = parseArgs(rest, [...SERVER_FLAGS, 'view', 'url', 'data-dir', 'fsync', 'reset-data', 'snapshot-log-bytes', 'standby'], ['help', 'reset-data']);
  if (flags.help) return showHelp('replica');
  if (positionals.length) return usage(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const options = normalizeReplicaOptions(flags as Record<string, string>, process.env);
  const auth = options.jwt ? loadAuth(options.jwt) : undefined; // a bad rules file: exit 2 before anything starts
  const log = createLogger(options.logLevel, { role: 'replica' });
  const { startReplica, enableHeapCompaction } = await import('../replica');
  enableHeapCompaction();
  let r: Awaited<ReturnType<typeof startReplica>>;
  try {
    r = await startReplica({ ...options, log, auth });
  } catch (err) {
    return failed(startupFailure('replica', err, options.port));
  }
  log.info({ id: r.id, port: r.port, view: options.viewUrl }, `replica ${r.id} listening on ${options.host}:${r.port}`);
  return untilSignal(() => r.shutdown(), log);
}

function runDevCommand(rest: string[]): Promise<number> | number {
  const { flags, positionals } = parseArgs(rest, ['replicas', 'port', 'ping-interval', 'dead-pings', 'log-level', 'data-dir']);
  if (flags.help) return showHelp('dev');
  if (positionals.length) return usage(`unexpected argument ${JSON.stringify(positionals[0])}`);
  return runDev(flags as Record<string, string>, process.env);
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd) {
    process.stdout.write(HELP);
    return 2;
  }
  if (cmd === '--help' || cmd === '-h') return showHelp(undefined);
  if (cmd === '--version' || cmd === '-v' || cmd === 'version') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  try {
    switch (cmd) {
      case 'help':
        return showHelp(rest[0]);
      case 'view':
        return await runView(rest);
      case 'replica':
        return await runReplica(rest);
      case 'dev':
        return await runDevCommand(rest);
      default:
        if (CLIENT_COMMANDS.includes(cmd)) return await runClientCommand(cmd, rest);
        return usage(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError || err instanceof AuthConfigError) return usage(err.message);
    throw err;
  }
}

export { DEFAULTS };
