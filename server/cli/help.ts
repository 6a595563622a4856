/**
 * The CLI's help texts (SPEC §4): the overview (`understudy --help`) and one text per command
 * (`understudy help COMMAND`, `understudy COMMAND --help`), and the package version.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const HELP = `understudy — a replicated key-value store

Usage:
  understudy view    [--port 7000] [--host 0.0.0.0] [--ping-interval 100] [--dead-pings 5] [--data-dir DIR]
                     [--etcd http://H:2379[,...] [--etcd-prefix /understudy/NAME] [--lease-ttl 2]
                      [--advertise-url wss://PUBLIC]]
  understudy replica --view ws://HOST:7000 [--port 7101] [--host 0.0.0.0] [--url ws://PUBLIC:PORT]
  understudy dev     [--replicas 3] [--port 7000] [--data-dir .understudy]
  understudy get KEY | put KEY VALUE | append KEY VALUE | del KEY   [--view URL] [--timeout MS]
  understudy list PREFIX [--limit N --after KEY --keys-only]; put/del --if-revision N; put --ttl MS; atomic < COMMIT.json
  understudy status  [--view URL] [--pid primary|backup]
  understudy watch KEY|PREFIX*  [--from REVISION] [--view URL]   one JSON line per change, until Ctrl-C
  understudy help COMMAND        more about one command
  understudy --version           the version of understudy

Options (each also from the environment):
  --port             PORT                      listen port
  --host             HOST                      listen address (default 0.0.0.0)
  --view             UNDERSTUDY_VIEW           view service URL (default ws://127.0.0.1:7000); with several
                                               view services on etcd, all of them, comma-separated
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
  --advertise-url    UNDERSTUDY_ADVERTISE_URL  with --etcd: the URL replicas, clients and browsers reach this
                                               instance by (the leader hint, the dashboard's list of
                                               instances; default ws://HOST:PORT as bound)
  --cluster-token    UNDERSTUDY_CLUSTER_TOKEN  shared secret of view service and replicas
  --client-token     UNDERSTUDY_CLIENT_TOKEN   secret clients must present
  --jwt-secret       UNDERSTUDY_JWT_SECRET     per-user JWTs, HS256 (SPEC §11, docs/SECURITY.md)
  --jwt-public-key   UNDERSTUDY_JWT_PUBLIC_KEY per-user JWTs, RS256/ES256: a PEM file
  --jwt-audience     UNDERSTUDY_JWT_AUDIENCE   required aud of the JWTs
  --jwt-issuer       UNDERSTUDY_JWT_ISSUER     required iss of the JWTs
  --rules            UNDERSTUDY_RULES          a JSON rules file: who reads and writes which keys
  --tls-cert         UNDERSTUDY_TLS_CERT       serve wss:// and https:// with this PEM certificate…
  --tls-key          UNDERSTUDY_TLS_KEY        …and this PEM key
  --log-level        LOG_LEVEL                 fatal|error|warn|info|debug|trace|silent (default info)
  --timeout          UNDERSTUDY_TIMEOUT        client operation timeout in ms (default 5000)
  --max-connections  UNDERSTUDY_MAX_CONNECTIONS  connections a server accepts (default 10000)
  --max-subscribers  UNDERSTUDY_MAX_SUBSCRIBERS  view subscriptions (default 80% of max-connections)

Exit codes: 0 ok, 1 operation failed, 2 usage error.
`;

const SERVER_OPTIONS = `
Options: --port, --host, --ping-interval, --cluster-token, --client-token, --log-level,
--max-connections, --keepalive-interval, --jwt-secret, --jwt-public-key, --jwt-audience,
--jwt-issuer, --rules, --tls-cert, --tls-key (see \`understudy --help\`).
A bad --rules file stops it at start: the line and the problem on stderr, exit 2.
A start-up failure (port in use, no permission, unusable --data-dir) is one line on stderr, exit 1.
SIGTERM or SIGINT stops it gracefully (exit 0); a second signal exits at once.
`;

const CLIENT_OPTIONS = `
Options: --view URL (default ws://127.0.0.1:7000, or UNDERSTUDY_VIEW), --timeout MS (default 5000),
--client-token TOKEN, --json.
When nothing listens at the view service's URL, it fails within about a second (exit 1).
`;

/** One text per command, shown by `understudy help COMMAND` and `understudy COMMAND --help`. */
export const COMMAND_HELP: Readonly<Record<string, string>> = {
  view: `understudy view [--port 7000] [--host 0.0.0.0] [--ping-interval 100] [--dead-pings 5] [--data-dir DIR]

Runs the view service: WebSocket and HTTP (dashboard, /view, /metrics) on one port.
--data-dir DIR keeps the view in DIR/view.json across restarts; without it a restarted view
service learns the view from the replicas. --max-subscribers caps view subscriptions.
--etcd URLS: several view services share the view through etcd; one leads (SPEC §12).
Each instance registers itself there (GET /instances, the dashboard lists them and marks the
leader); --advertise-url wss://PUBLIC is the URL it is listed by and named by as the leader.
${SERVER_OPTIONS}`,
  replica: `understudy replica --view ws://HOST:7000 [--port 7101] [--host 0.0.0.0] [--url ws://PUBLIC:PORT]

Runs a replica that pings the view service at --view. --url is the address clients and the
primary use to reach it (default ws://127.0.0.1:PORT). HTTP: /healthz, /readyz, /info, /digest, /metrics.
${SERVER_OPTIONS}`,
  dev: `understudy dev [--replicas 3] [--port 7000] [--data-dir .understudy]

A view service on PORT and N replicas on PORT+101.. on this machine, logs merged. It checks
every port first: a taken one is named on stderr (exit 1; choose others with --port). If a
child fails to start, it stops the others and exits 1. The dashboard line is printed once
the cluster serves. Ctrl-C stops everything.
Options: --ping-interval, --dead-pings, --log-level.
`,
  get: `understudy get KEY [--view URL] [--json]

Prints the value of KEY; a missing key prints nothing on stdout and (nil) on stderr (exit 0;
--json prints null).
${CLIENT_OPTIONS}`,
  put: `understudy put KEY VALUE [--if-revision N] [--ttl MS] [--view URL]

Stores VALUE under KEY and prints OK. --if-revision N: only if KEY's revision is N (0: KEY must
not exist); otherwise exit 1 with "CONFLICT: … is at revision R" and nothing written.
--ttl MS: the store deletes KEY MS milliseconds later (1 to 2592000000, 30 days); a put
without --ttl clears an earlier one.
${CLIENT_OPTIONS}`,
  append: `understudy append KEY VALUE [--view URL]

Appends VALUE to KEY's value (a missing key counts as empty) and prints the new length.
${CLIENT_OPTIONS}`,
  del: `understudy del KEY [--if-revision N] [--view URL]

Deletes KEY and prints 1 if it existed, 0 if not (--json: true or false). Also: understudy delete KEY.
--if-revision N as for put.
${CLIENT_OPTIONS}`,
  status: `understudy status [--view URL] [--pid primary|backup]

Prints the current view and each replica: its role, liveness, pid and uptime (from the
replica's own /info). --pid ROLE prints only the pid of the replica in that role, e.g.
  kill -9 $(npx understudy status --pid primary)
${CLIENT_OPTIONS}`,
  list: `understudy list PREFIX [--limit N] [--after KEY] [--keys-only] [--view URL]

One page of the keys starting with PREFIX, in key order, as one JSON line:
{"entries":[{"key":…,"value":…,"revision":N}…],"revision":N,"more":true|false}. --limit 1..10000
(default 1000); --after KEY starts after KEY (the last key of the previous page); --keys-only
leaves the values out.
${CLIENT_OPTIONS}`,
  atomic: `understudy atomic [--view URL] < COMMIT.json

Reads one atomic commit as JSON on stdin,
{"checks":[["a",3],["b",0]],"ops":[["put","a","1"],["delete","c"],["append","d","!"]]},
and prints {"ok":true,"revision":N} (exit 0) or {"ok":false,"key":…,"revision":N} (a check
failed, nothing written; exit 1). Up to 1000 checks and writes.
${CLIENT_OPTIONS}`,
  watch: `understudy watch KEY|PREFIX* [--from REVISION] [--view URL]

One JSON line per committed change, {"key":…,"value":…|null,"revision":N} ("resync":true after
a resync), across failovers, until Ctrl-C (exit 0). --from REVISION replays from there.
${CLIENT_OPTIONS}`,
};

/** `delete` is another name of `del`. */
export function commandHelp(cmd: string): string | undefined {
  return COMMAND_HELP[cmd === 'delete' ? 'del' : cmd];
}

/**
 * The version in the package's package.json: the nearest one above this file, whether it
 * runs from dist/server/cli/ (the installed bin) or from server/cli/ (ts-node).
 */
export function packageVersion(): string {
  for (let dir = __dirname; ; dir = path.dirname(dir)) {
    const file = path.join(dir, 'package.json');
    if (fs.existsSync(file)) {
      const pkg = JSON.parse(fs.readFileSync(file, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'understudy' && pkg.version) return pkg.version;
    }
    if (path.dirname(dir) === dir) return 'unknown';
  }
}
