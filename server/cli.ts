/**
 * The `understudy` command line (SPEC §4). Exit codes: 0 ok, 1 operation failed (message
 * on stderr), 2 usage error. Every flag has an environment variable (common/config.ts).
 */
import { parseArgs, UsageError } from './args';
import { ConfigError, normalizeViewOptions, normalizeReplicaOptions, DEFAULTS } from '../common/config';
import { createLogger } from './log';
import { runDev } from './dev';
import { runClientCommand, CLIENT_COMMANDS } from './client-commands';

const HELP = `understudy — a replicated key-value store

Usage:
  understudy view    [--port 7000] [--host 0.0.0.0] [--ping-interval 100] [--dead-pings 5] [--data-dir DIR]
                     [--etcd http://H:2379[,...] [--etcd-prefix /understudy/NAME] [--lease-ttl 2]]
  understudy replica --view ws://HOST:7000 [--port 7101] [--host 0.0.0.0] [--url ws://PUBLIC:PORT]
  understudy dev     [--replicas 3] [--port 7000] [--data-dir .understudy]
  understudy get KEY | put KEY VALUE | append KEY VALUE | del KEY   [--view URL] [--timeout MS]
  understudy status  [--view URL]
  understudy watch KEY|PREFIX*  [--from REVISION] [--view URL]   one JSON line per change, until Ctrl-C

Options (each also from the environment):
  --port             PORT                      listen port
  --host             HOST                      listen address (default 0.0.0.0)
  --view             UNDERSTUDY_VIEW           view service URL (default ws://127.0.0.1:7000)
  --url              UNDERSTUDY_URL            a replica's public address (default ws://127.0.0.1:PORT)
  --ping-interval    UNDERSTUDY_PING_INTERVAL  ms between pings (default 100)
  --dead-pings       UNDERSTUDY_DEAD_PINGS     missed pings before a replica is dead (default 5)
  --data-dir         UNDERSTUDY_DATA_DIR       where the view service keeps its view across restarts
                                               (default: none, it learns the view from the replicas;
                                               dev: .understudy)
  --keepalive-interval UNDERSTUDY_KEEPALIVE_INTERVAL  ms between WebSocket keepalive pings on every
                                               link; 0 turns them off (default 15000)
  --etcd             UNDERSTUDY_ETCD           etcd URLs: several view services share the view, one leads (SPEC §12)
  --etcd-prefix      UNDERSTUDY_ETCD_PREFIX    the cluster's keys in etcd (default /understudy/default)
  --lease-ttl        UNDERSTUDY_LEASE_TTL      the leader's etcd lease in seconds (default 2)
  --cluster-token    UNDERSTUDY_CLUSTER_TOKEN  shared secret of view service and replicas
  --client-token     UNDERSTUDY_CLIENT_TOKEN   secret clients must present
  --log-level        LOG_LEVEL                 fatal|error|warn|info|debug|trace|silent (default info)
  --timeout          UNDERSTUDY_TIMEOUT        client operation timeout in ms (default 5000)
  --max-connections  UNDERSTUDY_MAX_CONNECTIONS  connections a server accepts (default 10000)
  --max-subscribers  UNDERSTUDY_MAX_SUBSCRIBERS  view subscriptions (default 80% of max-connections)

Exit codes: 0 ok, 1 operation failed, 2 usage error.
`;

const SERVER_FLAGS = ['port', 'host', 'ping-interval', 'dead-pings', 'cluster-token', 'client-token', 'log-level', 'max-connections', 'keepalive-interval'];

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

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (!cmd || cmd === '--help' || cmd === '-h' || cmd === 'help') {
    process.stdout.write(HELP);
    return cmd ? 0 : 2;
  }
  try {
    switch (cmd) {
      case 'view': {
        const { flags, positionals } = parseArgs(rest, [...SERVER_FLAGS, 'max-subscribers', 'data-dir', 'etcd', 'etcd-prefix', 'lease-ttl']);
        if (flags.help) { process.stdout.write(HELP); return 0; }
        if (positionals.length) return usage(`unexpected argument ${JSON.stringify(positionals[0])}`);
        const options = normalizeViewOptions(flags as Record<string, string>, process.env);
        const log = createLogger(options.logLevel, { role: 'view' });
        const { startViewService } = await import('./viewservice');
        let vs: Awaited<ReturnType<typeof startViewService>>;
        try {
          vs = await startViewService({ ...options, log });
        } catch (err) {
          // e.g. an unreadable or corrupt --data-dir: say so, never start over silently.
          process.stderr.write(`understudy: cannot start the view service: ${(err as Error).message}\n`);
          return 1;
        }
        log.info({ port: vs.port, dashboard: `http://127.0.0.1:${vs.port}/` }, `view service listening on ${options.host}:${vs.port}`);
        return untilSignal(() => vs.close(), log);
      }
      case 'replica': {
        const { flags, positionals } = parseArgs(rest, [...SERVER_FLAGS, 'view', 'url']);
        if (flags.help) { process.stdout.write(HELP); return 0; }
        if (positionals.length) return usage(`unexpected argument ${JSON.stringify(positionals[0])}`);
        const options = normalizeReplicaOptions(flags as Record<string, string>, process.env);
        const log = createLogger(options.logLevel, { role: 'replica' });
        const { startReplica, enableHeapCompaction } = await import('./replica');
        enableHeapCompaction();
        const r = await startReplica({ ...options, log });
        log.info({ id: r.id, port: r.port, view: options.viewUrl }, `replica ${r.id} listening on ${options.host}:${r.port}`);
        return untilSignal(() => r.shutdown(), log);
      }
      case 'dev': {
        const { flags, positionals } = parseArgs(rest, ['replicas', 'port', 'ping-interval', 'dead-pings', 'log-level', 'data-dir']);
        if (flags.help) { process.stdout.write(HELP); return 0; }
        if (positionals.length) return usage(`unexpected argument ${JSON.stringify(positionals[0])}`);
        return runDev(flags as Record<string, string>, process.env);
      }
      default:
        if (CLIENT_COMMANDS.includes(cmd)) return runClientCommand(cmd, rest);
        return usage(`unknown command ${JSON.stringify(cmd)}`);
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof ConfigError) return usage(err.message);
    throw err;
  }
}

export { DEFAULTS };
