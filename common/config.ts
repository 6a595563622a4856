/**
 * Options, normalised once (STYLE §8): flag > environment > default, validated eagerly
 * with messages that name the flag, returned frozen. Pure: the environment is passed in.
 */
import { splitViewUrls } from './view-urls';
import { DEFAULT_LIMITS, Limits } from './limits';

export type Env = Record<string, string | undefined>;

export const DEFAULTS = Object.freeze({
  /** @default 7000 */
  viewPort: 7000,
  /** @default 7101 */
  replicaPort: 7101,
  /** @default '0.0.0.0' */
  host: '0.0.0.0',
  /** @default 100 */
  pingIntervalMs: 100,
  /** @default 5 */
  deadPings: 5,
  /** @default 'ws://127.0.0.1:7000' */
  viewUrl: 'ws://127.0.0.1:7000',
  /** @default 3 */
  devReplicas: 3,
  /** @default 'info' */
  logLevel: 'info',
  /** Client operation timeout. @default 5000 */
  timeoutMs: 5000,
  /**
   * WebSocket ping on every link this often; a link without a pong by the next one is
   * terminated (half-open links). Well under the 55 s idle timeout of common routers.
   * 0 turns it off. @default 15000
   */
  keepaliveMs: 15_000,
  /** Most connections a process accepts. @default 10000 */
  maxConnections: 10000,
  /**
   * Most view subscriptions (clients, dashboards) the view service keeps, as a share of
   * maxConnections when not set: the rest stays free for replica links, so a crowd of
   * subscribers can never lock the replicas out. @default 0.8 × maxConnections
   */
  maxSubscribersShare: 0.8,
  limits: DEFAULT_LIMITS,
});

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Input = Record<string, string | number | boolean | undefined>;

function pick(input: Input, flag: string, env: Env, envName: string | null): string | number | boolean | undefined {
  if (input[flag] !== undefined) return input[flag];
  if (envName && env[envName] !== undefined && env[envName] !== '') return env[envName];
  return undefined;
}

function int(value: string | number | boolean | undefined, flag: string, dflt: number, min: number, max: number): number {
  if (value === undefined) return dflt;
  const n = typeof value === 'number' ? value : /^\s*-?\d+\s*$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    // Say what kind of number is wanted ("a positive integer", STYLE §8); give the range
    // when the value is over the bound.
    const overMax = Number.isSafeInteger(n) && n > max;
    const what = overMax || min > 1 ? `an integer in ${min}..${max}` : min === 0 ? 'a non-negative integer' : 'a positive integer';
    throw new ConfigError(`--${flag} must be ${what} (got ${JSON.stringify(String(value))})`);
  }
  return n;
}

function str(value: string | number | boolean | undefined, dflt: string): string {
  return value === undefined ? dflt : String(value);
}

function wsUrl(value: string, flag: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new ConfigError(`--${flag} must be a ws:// or wss:// URL (got ${JSON.stringify(value)})`);
  }
  if (u.protocol !== 'ws:' && u.protocol !== 'wss:') {
    throw new ConfigError(`--${flag} must be a ws:// or wss:// URL (got ${JSON.stringify(value)})`);
  }
  return value.replace(/\/+$/, '');
}

const LEVELS = new Set(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

function logLevel(input: Input, env: Env): string {
  const v = str(pick(input, 'log-level', env, 'LOG_LEVEL'), DEFAULTS.logLevel);
  if (!LEVELS.has(v)) throw new ConfigError(`--log-level must be one of ${[...LEVELS].join(', ')} (got ${JSON.stringify(v)})`);
  return v;
}

export interface ViewOptions {
  readonly port: number;
  readonly host: string;
  readonly pingIntervalMs: number;
  readonly deadPings: number;
  readonly clusterToken: string | null;
  readonly clientToken: string | null;
  readonly logLevel: string;
  readonly maxConnections: number;
  /** Subscriptions beyond this are closed with 4429. Never more than maxConnections. */
  readonly maxSubscribers: number;
  readonly limits: Limits;
  /**
   * Where the view service keeps its view across restarts (docs/VIEW-SERVICE-RESTART.md);
   * null: nowhere, a restart learns the view from the replicas. @default null
   */
  readonly dataDir: string | null;
  /** @default DEFAULTS.keepaliveMs */
  readonly keepaliveMs: number;
  /** SPEC §12: share the view with other instances through etcd; absent without --etcd. */
  readonly etcd?: EtcdViewOptions;
  /** SPEC §11: JWT checks for subscriptions; absent without --jwt-*. */
  readonly jwt?: JwtOptions;
  /** SPEC §11: serve wss:// and https://; absent without --tls-*. */
  readonly tls?: TlsOptions;
}

function dataDirOf(input: Input, env: Env): string | null {
  const v = pick(input, 'data-dir', env, 'UNDERSTUDY_DATA_DIR');
  if (v === undefined) return null;
  if (typeof v !== 'string' || v.trim() === '' || v.includes('\0')) throw new ConfigError(`--data-dir must be a directory path (got ${JSON.stringify(String(v))})`);
  return v;
}

function keepaliveOf(input: Input, env: Env): number {
  return int(pick(input, 'keepalive-interval', env, 'UNDERSTUDY_KEEPALIVE_INTERVAL'), 'keepalive-interval', DEFAULTS.keepaliveMs, 0, 600_000);
}

/** Options of `understudy view` (SPEC §4). */
export function normalizeViewOptions(input: Input, env: Env): ViewOptions {
  const maxConnections = int(pick(input, 'max-connections', env, 'UNDERSTUDY_MAX_CONNECTIONS'), 'max-connections', DEFAULTS.maxConnections, 1, 1_000_000);
  const maxSubscribers = int(pick(input, 'max-subscribers', env, 'UNDERSTUDY_MAX_SUBSCRIBERS'), 'max-subscribers',
    Math.max(1, Math.floor(maxConnections * DEFAULTS.maxSubscribersShare)), 1, 1_000_000);
  if (maxSubscribers > maxConnections) {
    throw new ConfigError(`--max-subscribers must be at most --max-connections (${maxConnections}) (got ${JSON.stringify(String(maxSubscribers))})`);
  }
  return Object.freeze({
    port: int(pick(input, 'port', env, 'PORT'), 'port', DEFAULTS.viewPort, 0, 65535),
    host: str(pick(input, 'host', env, 'HOST'), DEFAULTS.host),
    pingIntervalMs: int(pick(input, 'ping-interval', env, 'UNDERSTUDY_PING_INTERVAL'), 'ping-interval', DEFAULTS.pingIntervalMs, 1, 600_000),
    deadPings: int(pick(input, 'dead-pings', env, 'UNDERSTUDY_DEAD_PINGS'), 'dead-pings', DEFAULTS.deadPings, 1, 10_000),
    clusterToken: tokenOf(input, env, 'cluster-token', 'UNDERSTUDY_CLUSTER_TOKEN'),
    clientToken: tokenOf(input, env, 'client-token', 'UNDERSTUDY_CLIENT_TOKEN'),
    logLevel: logLevel(input, env),
    maxConnections,
    maxSubscribers,
    limits: DEFAULTS.limits,
    dataDir: dataDirOf(input, env),
    keepaliveMs: keepaliveOf(input, env),
    ...etcdOf(input, env),
    ...jwtOf(input, env),
    ...tlsOf(input, env),
  });
}

// ── SPEC §12: several view services on etcd (`--etcd`, `--etcd-prefix`, `--lease-ttl`) ──

export interface EtcdViewOptions {
  /** The etcd members' client URLs (http:// or https://). */
  readonly endpoints: readonly string[];
  /** Keys live under it; one prefix per cluster of replicas. @default '/understudy/default' */
  readonly prefix: string;
  /** The leader's lease, in seconds. @default 2 (etcd's practical minimum) */
  readonly leaseTtlSeconds: number;
  /**
   * What other processes and browsers reach this instance by (`--advertise-url`): the leader
   * hint and the dashboard's list of instances. null: ws://HOST:PORT as bound (127.0.0.1 for
   * 0.0.0.0). @default null
   */
  readonly advertiseUrl: string | null;
}

function etcdOf(input: Input, env: Env): { etcd?: EtcdViewOptions } {
  const v = pick(input, 'etcd', env, 'UNDERSTUDY_ETCD');
  if (v === undefined) {
    // Without --etcd nobody is told this URL: a given one is a mistake, not a no-op.
    if (input['advertise-url'] !== undefined) throw new ConfigError('--advertise-url needs --etcd (it is the URL the other instances give out)');
    return {};
  }
  const endpoints = String(v).split(',').map((s) => s.trim()).filter((s) => s !== '');
  const bad = endpoints.find((e) => !/^https?:\/\/[^/\s]+\/?$/.test(e));
  if (endpoints.length === 0 || bad !== undefined) {
    throw new ConfigError(`--etcd must be http://HOST:PORT URLs, comma-separated (got ${JSON.stringify(String(v))})`);
  }
  const prefix = str(pick(input, 'etcd-prefix', env, 'UNDERSTUDY_ETCD_PREFIX'), '/understudy/default').replace(/\/+$/, '');
  if (!prefix.startsWith('/') || prefix.length < 2) throw new ConfigError(`--etcd-prefix must be a key path like /understudy/NAME (got ${JSON.stringify(prefix)})`);
  const leaseTtlSeconds = int(pick(input, 'lease-ttl', env, 'UNDERSTUDY_LEASE_TTL'), 'lease-ttl', 2, 2, 3600);
  const advertise = pick(input, 'advertise-url', env, 'UNDERSTUDY_ADVERTISE_URL');
  const advertiseUrl = advertise === undefined ? null : wsUrl(String(advertise), 'advertise-url');
  return { etcd: Object.freeze({ endpoints: Object.freeze(endpoints.map((e) => e.replace(/\/+$/, ''))), prefix, leaseTtlSeconds, advertiseUrl }) };
}

export interface ReplicaOptions {
  readonly port: number;
  readonly host: string;
  /** The first of viewUrls (what logs and start-up messages name). */
  readonly viewUrl: string;
  /** Every view-service instance given (`--view ws://a:7000,ws://b:7000`, SPEC §12); the replica uses the one that leads. */
  readonly viewUrls: readonly string[];
  /** The advertised URL: the replica's id. */
  readonly url: string | null;
  readonly pingIntervalMs: number;
  readonly clusterToken: string | null;
  readonly clientToken: string | null;
  readonly logLevel: string;
  readonly maxConnections: number;
  readonly limits: Limits;
  /** @default DEFAULTS.keepaliveMs */
  readonly keepaliveMs: number;
  /** SPEC §11: per-user tokens and rules; absent without --jwt-*. */
  readonly jwt?: JwtOptions;
  /** SPEC §11: serve wss:// and https://; absent without --tls-*. */
  readonly tls?: TlsOptions;
  /** SPEC §9: where the replica keeps its log, snapshots and identity; null: memory only. @default null */
  readonly dataDir: string | null;
  /** SPEC §9 `--fsync`: when a logged operation counts as on disk. @default 'always' */
  readonly fsync: 'always' | 'everysec' | 'no';
  /** `--reset-data`: move the data dir's content aside and start as a new, empty server. @default false */
  readonly resetData: boolean;
  /** `--snapshot-log-bytes`: log since the last snapshot that starts a background one, at least (docs/DURABILITY.md §3). @default 8 MiB */
  readonly snapshotLogBytes: number;
  /** SPEC §9 `--standby cold`: as backup, log forwards without applying them (needs --data-dir). @default 'hot' */
  readonly standby: 'hot' | 'cold';
}

function standbyOf(input: Input, env: Env, dataDir: string | null): 'hot' | 'cold' {
  const v = pick(input, 'standby', env, 'UNDERSTUDY_STANDBY') ?? 'hot';
  if (v !== 'hot' && v !== 'cold') throw new ConfigError(`--standby must be hot or cold (got ${JSON.stringify(String(v))})`);
  if (v === 'cold' && dataDir === null) throw new ConfigError('--standby cold needs --data-dir: a cold standby keeps the operations in its log, not in memory');
  return v;
}

function fsyncOf(input: Input, env: Env): 'always' | 'everysec' | 'no' {
  const v = pick(input, 'fsync', env, 'UNDERSTUDY_FSYNC') ?? 'always';
  if (v !== 'always' && v !== 'everysec' && v !== 'no') throw new ConfigError(`--fsync must be always, everysec or no (got ${JSON.stringify(String(v))})`);
  return v;
}

function tokenOf(input: Input, env: Env, flag: string, envName: string): string | null {
  const v = pick(input, flag, env, envName);
  if (v === undefined) return null;
  const s = String(v);
  if (s.length === 0) return null;
  return s;
}

/** Options of `understudy replica` (SPEC §4). */
export function normalizeReplicaOptions(input: Input, env: Env): ReplicaOptions {
  const port = int(pick(input, 'port', env, 'PORT'), 'port', DEFAULTS.replicaPort, 0, 65535);
  const viewUrls = Object.freeze(splitViewUrls(str(pick(input, 'view', env, 'UNDERSTUDY_VIEW'), DEFAULTS.viewUrl)).map((u) => wsUrl(u, 'view')));
  if (viewUrls.length === 0) throw new ConfigError('--view must be one or more ws:// or wss:// URLs, comma-separated');
  const urlIn = pick(input, 'url', env, 'UNDERSTUDY_URL');
  // With --port 0 the real port is known only after listen(); the shell fills it in then.
  const scheme = tlsOf(input, env).tls ? 'wss' : 'ws';
  const url = urlIn === undefined ? (port === 0 ? null : `${scheme}://127.0.0.1:${port}`) : wsUrl(String(urlIn), 'url');
  return Object.freeze({
    port,
    host: str(pick(input, 'host', env, 'HOST'), DEFAULTS.host),
    viewUrl: viewUrls[0],
    viewUrls,
    url,
    pingIntervalMs: int(pick(input, 'ping-interval', env, 'UNDERSTUDY_PING_INTERVAL'), 'ping-interval', DEFAULTS.pingIntervalMs, 1, 600_000),
    clusterToken: tokenOf(input, env, 'cluster-token', 'UNDERSTUDY_CLUSTER_TOKEN'),
    clientToken: tokenOf(input, env, 'client-token', 'UNDERSTUDY_CLIENT_TOKEN'),
    logLevel: logLevel(input, env),
    maxConnections: int(pick(input, 'max-connections', env, 'UNDERSTUDY_MAX_CONNECTIONS'), 'max-connections', DEFAULTS.maxConnections, 1, 1_000_000),
    limits: DEFAULTS.limits,
    keepaliveMs: keepaliveOf(input, env),
    ...jwtOf(input, env),
    ...tlsOf(input, env),
    dataDir: dataDirOf(input, env),
    fsync: fsyncOf(input, env),
    resetData: pick(input, 'reset-data', env, null) === true,
    snapshotLogBytes: int(pick(input, 'snapshot-log-bytes', env, 'UNDERSTUDY_SNAPSHOT_LOG_BYTES'), 'snapshot-log-bytes', 8 * 1024 * 1024, 1, Number.MAX_SAFE_INTEGER),
    standby: standbyOf(input, env, dataDirOf(input, env)),
  });
}

// ── SPEC §11: users and rules (`--jwt-*`, `--rules`), TLS (`--tls-cert`, `--tls-key`) ──

/** Where the keys and rules are; the server reads the files at start (server/auth/load.ts). */
export interface JwtOptions {
  /** HS256 secret. */
  readonly secret: string | null;
  /** PEM file of the RS256/ES256 public key. */
  readonly publicKeyFile: string | null;
  readonly audience: string | null;
  readonly issuer: string | null;
  /** The rules file; null: a valid token may do everything. */
  readonly rulesFile: string | null;
}

export interface TlsOptions {
  readonly certFile: string;
  readonly keyFile: string;
}

function jwtOf(input: Input, env: Env): { jwt?: JwtOptions } {
  const secret = tokenOf(input, env, 'jwt-secret', 'UNDERSTUDY_JWT_SECRET');
  const publicKeyFile = tokenOf(input, env, 'jwt-public-key', 'UNDERSTUDY_JWT_PUBLIC_KEY');
  const audience = tokenOf(input, env, 'jwt-audience', 'UNDERSTUDY_JWT_AUDIENCE');
  const issuer = tokenOf(input, env, 'jwt-issuer', 'UNDERSTUDY_JWT_ISSUER');
  const rulesFile = tokenOf(input, env, 'rules', 'UNDERSTUDY_RULES');
  if (secret === null && publicKeyFile === null) {
    const stray = audience !== null ? 'jwt-audience' : issuer !== null ? 'jwt-issuer' : rulesFile !== null ? 'rules' : null;
    if (stray !== null) throw new ConfigError(`--${stray} needs --jwt-secret or --jwt-public-key (the key that verifies the tokens)`);
    return {};
  }
  if (secret !== null && publicKeyFile !== null) throw new ConfigError('--jwt-secret and --jwt-public-key: give one of them (HS256 or RS256/ES256), not both');
  // A short HMAC secret can be guessed offline from any one token: RFC 7518 §3.2 asks for 256 bits.
  if (secret !== null && secret.length < 32) throw new ConfigError(`--jwt-secret must be at least 32 characters (got ${secret.length})`);
  return { jwt: Object.freeze({ secret, publicKeyFile, audience, issuer, rulesFile }) };
}

function tlsOf(input: Input, env: Env): { tls?: TlsOptions } {
  const certFile = tokenOf(input, env, 'tls-cert', 'UNDERSTUDY_TLS_CERT');
  const keyFile = tokenOf(input, env, 'tls-key', 'UNDERSTUDY_TLS_KEY');
  if (certFile === null && keyFile === null) return {};
  if (certFile === null || keyFile === null) throw new ConfigError(`--${certFile === null ? 'tls-cert' : 'tls-key'} is needed with --${certFile === null ? 'tls-key' : 'tls-cert'}`);
  return { tls: Object.freeze({ certFile, keyFile }) };
}
