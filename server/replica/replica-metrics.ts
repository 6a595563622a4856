/**
 * A replica's Prometheus metrics (SPEC §5 `GET /metrics`, issue #5). Every name starts with
 * `understudy_`; the README lists them all.
 *
 * The hot path (one request, one reply) only increments numbers in typed arrays. prom-client
 * is not called per operation — its labelled inc() builds a label hash string and its
 * observe() a closure and an object per call — but when /metrics is scraped: the counters
 * copy the totals in `collect()`, and the latency histogram formats its own buckets (OpLatency).
 *
 *   request in ──▶ request(op)               understudy_replica_requests_total{op} (retries too)
 *   clientOp   ──▶ ordered(conn, req)        start time kept per connection, keyed by seq
 *   reply out  ──▶ replied(conn, res)        understudy_ops_total{op,result}
 *                                            understudy_op_duration_seconds{op} (ordering → reply)
 *
 * Gauges read the machine when scraped (`collect`), so they cost nothing between scrapes.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { OpName, ReqMsg, ResMsg } from '../../common/messages';
import type { ReplicaMachine } from './replica-machine';

const OPS: readonly OpName[] = ['get', 'put', 'append', 'delete', 'getEntry', 'list', 'atomic'];
const OP_INDEX: Readonly<Record<OpName, number>> = { get: 0, put: 1, append: 2, delete: 3, getEntry: 4, list: 5, atomic: 6 };
/** `result` label values: ok, or the reply's error code. */
const RESULTS = ['ok', 'NOT_PRIMARY', 'BAD_REQUEST', 'TOO_LARGE', 'UNAUTHORIZED', 'CONFLICT'] as const;
type Result = (typeof RESULTS)[number];

const RESULT_INDEX: Readonly<Record<Result, number>> = { ok: 0, NOT_PRIMARY: 1, BAD_REQUEST: 2, TOO_LARGE: 3, UNAUTHORIZED: 4, CONFLICT: 5 };
const NOT_PRIMARY = RESULT_INDEX.NOT_PRIMARY;

/** Seconds; a local round trip through the backup is well under a millisecond. */
const OP_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
/** The latency buckets' upper bounds in ms, for the dashboard's p99 (replica-stats.ts). */
export const LATENCY_BOUNDS_MS: readonly number[] = OP_BUCKETS.map((s) => s * 1000);
const TRANSFER_BUCKETS = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300];

/**
 * Start times of ordered requests, per connection and seq. A value packs the op (2 bits)
 * and the ordering time in 0.1 ms ticks modulo 2^28 (7.4 h): a small integer, so V8 keeps
 * it unboxed and the map costs no allocation per request beyond its own storage.
 */
export type Inflight = Map<number, number>;
const TICK_MASK = 0x0fffffff;

function ticks(): number {
  return Math.floor(performance.now() * 10) & TICK_MASK;
}

/**
 * `understudy_op_duration_seconds{op}`: a Prometheus histogram whose observe() is three array
 * increments. It is registered as a metric object (name, help, type, get, reset) and hands
 * the registry the same series prom-client's Histogram would: cumulative `_bucket{le,op}`,
 * `_sum{op}`, `_count{op}`.
 */
class OpLatency {
  readonly name = 'understudy_op_duration_seconds';
  readonly help = 'Time from ordering an operation to replying to it (the backup applied it), by op. Refusals (NOT_PRIMARY) are not observed.';
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly buckets = new Float64Array(OPS.length * OP_BUCKETS.length); // not cumulative
  private readonly sums = new Float64Array(OPS.length);
  private readonly counts = new Float64Array(OPS.length);

  observe(op: number, seconds: number): void {
    let b = 0;
    while (b < OP_BUCKETS.length && seconds > OP_BUCKETS[b]) b++;
    if (b < OP_BUCKETS.length) this.buckets[op * OP_BUCKETS.length + b]++;
    this.sums[op] += seconds;
    this.counts[op]++;
  }

  async get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: { labels: Record<string, string | number>; value: number; metricName: string }[] }> {
    const values: { labels: Record<string, string | number>; value: number; metricName: string }[] = [];
    for (let o = 0; o < OPS.length; o++) {
      const op = OPS[o];
      let acc = 0;
      for (let b = 0; b < OP_BUCKETS.length; b++) {
        acc += this.buckets[o * OP_BUCKETS.length + b];
        values.push({ labels: { le: OP_BUCKETS[b], op }, value: acc, metricName: `${this.name}_bucket` });
      }
      values.push({ labels: { le: '+Inf', op }, value: this.counts[o], metricName: `${this.name}_bucket` });
      values.push({ labels: { op }, value: this.sums[o], metricName: `${this.name}_sum` });
      values.push({ labels: { op }, value: this.counts[o], metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  /** Into `out`: the counts per bucket summed over ops, the last slot above every bound. Answers the total count. */
  totals(out: Float64Array): number {
    out.fill(0);
    let total = 0;
    for (let o = 0; o < OPS.length; o++) {
      total += this.counts[o];
      for (let b = 0; b < OP_BUCKETS.length; b++) out[b] += this.buckets[o * OP_BUCKETS.length + b];
    }
    let inBuckets = 0;
    for (let b = 0; b < OP_BUCKETS.length; b++) inBuckets += out[b];
    out[OP_BUCKETS.length] = total - inBuckets;
    return total;
  }

  reset(): void {
    this.buckets.fill(0);
    this.sums.fill(0);
    this.counts.fill(0);
  }
}

/** Where the shell reports what the metrics need; see the diagram above. */
export class ReplicaMetrics {
  /** Requests received, by op index. */
  private readonly received = new Float64Array(OPS.length);
  /** Operations answered, at [op × RESULTS.length + result]. */
  private readonly answered = new Float64Array(OPS.length * RESULTS.length);
  private readonly latency = new OpLatency();
  private readonly badMessages: Counter<'route' | 'code'>;
  readonly viewChanges: Counter;
  readonly failovers: Counter;
  readonly slowConsumers: Counter;
  readonly unauthorized: Counter;
  /** SPEC §11: operations and watches the rules refused (the link stays open), by what. */
  readonly accessDenied: Counter<'what'>;
  /** SPEC §11: tokens refused (malformed, signature, algorithm, expired, …), by reason. */
  readonly tokensRefused: Counter<'reason'>;
  private readonly transfers: Counter;
  private readonly transferSeconds: Histogram;
  private readonly transferBytes: Gauge;
  private readonly transferKeys: Gauge;
  /** The transfer being sent: from its xfer-begin until the backup's xferack. */
  private transfer: { viewnum: number; start: number; bytes: number; keys: number; keysSent: number } | null = null;

  constructor(registry: Registry) {
    const registers = [registry];
    const received = this.received;
    const answered = this.answered;
    new Counter({
      name: 'understudy_replica_requests_total', help: 'Client requests received, by op (retries included).', labelNames: ['op'], registers,
      collect() {
        this.reset();
        for (let o = 0; o < OPS.length; o++) this.inc({ op: OPS[o] }, received[o]);
      },
    });
    new Counter({
      name: 'understudy_ops_total', help: 'Client operations answered, by op and result (ok, or the error code).', labelNames: ['op', 'result'], registers,
      collect() {
        this.reset();
        for (let o = 0; o < OPS.length; o++) {
          for (let r = 0; r < RESULTS.length; r++) this.inc({ op: OPS[o], result: RESULTS[r] }, answered[o * RESULTS.length + r]);
        }
      },
    });
    registry.registerMetric(this.latency as unknown as Histogram);
    this.badMessages = new Counter({
      name: 'understudy_bad_messages_total', help: 'Frames refused with an error or a close, by route (client, peer) and code.',
      labelNames: ['route', 'code'], registers,
    });
    this.viewChanges = new Counter({ name: 'understudy_view_changes_total', help: 'Views this replica adopted.', registers });
    this.failovers = new Counter({ name: 'understudy_failovers_total', help: 'Times this replica became primary (a backup taking over, or the first view).', registers });
    this.slowConsumers = new Counter({ name: 'understudy_slow_consumers_total', help: 'Links closed with 4408 because their send buffer was over the bound.', registers });
    this.unauthorized = new Counter({ name: 'understudy_unauthorized_total', help: 'Links closed with 4401 (wrong or missing token).', registers });
    this.accessDenied = new Counter({ name: 'understudy_access_denied_total', help: 'Operations and watches refused UNAUTHORIZED by the rules or an expired token (SPEC §11).', labelNames: ['what'], registers });
    this.tokensRefused = new Counter({ name: 'understudy_tokens_refused_total', help: 'JWTs refused, by reason (SPEC §11).', labelNames: ['reason'], registers });
    this.transfers = new Counter({ name: 'understudy_state_transfers_total', help: 'State transfers this replica sent and its backup confirmed.', registers });
    this.transferSeconds = new Histogram({
      name: 'understudy_state_transfer_duration_seconds', help: 'State transfer time, from the snapshot to the backup\'s xferack.',
      buckets: TRANSFER_BUCKETS, registers,
    });
    this.transferBytes = new Gauge({ name: 'understudy_state_transfer_bytes', help: 'Bytes of xfer-data frames in the last confirmed state transfer.', registers });
    this.transferKeys = new Gauge({ name: 'understudy_state_transfer_keys', help: 'Keys in the last confirmed state transfer.', registers });
  }

  /** A request arrived (counted before ordering, retries too). */
  request(op: OpName): void {
    this.received[OP_INDEX[op]]++;
  }

  /** A request is about to be ordered on `inflight`'s connection. */
  ordered(inflight: Inflight, req: ReqMsg): void {
    inflight.set(req.seq, (ticks() << 3) | OP_INDEX[req.op]);
  }

  /**
   * A reply to `res.seq` goes out. Counted once per ordered request: a retry answered
   * while the first attempt is still in flight on the same connection is not a second
   * operation (understudy_replica_requests_total counts it).
   */
  replied(inflight: Inflight, res: ResMsg): void {
    const packed = inflight.get(res.seq);
    if (packed === undefined) return;
    inflight.delete(res.seq);
    const op = packed & 7; // (3 bits: up to 8 ops)
    const result = res.ok ? 0 : RESULT_INDEX[res.code];
    if (result === undefined) return;
    this.answered[op * RESULTS.length + result]++;
    if (result !== NOT_PRIMARY) this.latency.observe(op, ((ticks() - (packed >>> 3)) & TICK_MASK) / 10_000);
  }

  /** A frame refused on `route` with `code` (BAD_REQUEST, TOO_LARGE, UNAUTHORIZED). */
  bad(route: 'client' | 'peer', code: string): void {
    this.badMessages.inc({ route, code });
  }

  /** An xfer-begin went to the backup: time it from here. */
  transferStarted(viewnum: number, keys: number): void {
    this.transfer = { viewnum, start: performance.now(), bytes: 0, keys, keysSent: 0 };
  }

  /** An xfer-data frame of `bytes` with `keys` data entries went out. */
  transferChunk(bytes: number, keys: number): void {
    if (!this.transfer) return;
    this.transfer.bytes += bytes;
    this.transfer.keysSent += keys;
  }

  /** For the dashboard's stats (replica-stats.ts): the latency buckets into `out`; answers the operations observed. */
  latencyTotals(out: Float64Array): number {
    return this.latency.totals(out);
  }

  /** The transfer being sent for `viewnum`, for the dashboard's progress bar; null when none. */
  transferProgress(viewnum: number): { keys: number; keysTotal: number; bytes: number; elapsedMs: number } | null {
    const t = this.transfer;
    return t === null || t.viewnum !== viewnum ? null : { keys: t.keysSent, keysTotal: t.keys, bytes: t.bytes, elapsedMs: performance.now() - t.start };
  }

  /** The backup confirmed the transfer for `viewnum`. */
  transferAcked(viewnum: number): void {
    const t = this.transfer;
    if (!t || t.viewnum !== viewnum) return;
    this.transfer = null;
    this.transfers.inc();
    this.transferSeconds.observe((performance.now() - t.start) / 1000);
    this.transferBytes.set(t.bytes);
    this.transferKeys.set(t.keys);
  }

  /** Gauges read from the machine and the shell when scraped. */
  registerGauges(registry: Registry, m: () => ReplicaMachine, shell: {
    clientConnections(): number; peerConnections(): number; backupLinkUp(): boolean; viewServiceLinkUp(): boolean;
  }): void {
    const registers = [registry];
    const gauge = (name: string, help: string, value: () => number): void => {
      new Gauge({ name, help, registers, collect() { this.set(value()); } });
    };
    gauge('understudy_viewnum', 'The latest view number this replica knows.', () => m().view.viewnum);
    gauge('understudy_ping_viewnum', 'The view number this replica reports in pings (acknowledged views).', () => m().pingViewnum);
    new Gauge({
      name: 'understudy_replica_role', help: '1 for the role this replica has.', labelNames: ['role'], registers,
      collect() { for (const r of ['primary', 'backup', 'idle']) this.set({ role: r }, m().role === r ? 1 : 0); },
    });
    gauge('understudy_revision', 'Applied writes that changed the data.', () => m().store.revision);
    gauge('understudy_log_index', 'The log index of the last applied operation.', () => m().store.index);
    gauge('understudy_keys', 'Keys in the store.', () => m().store.size);
    gauge('understudy_pending_requests', 'Forwarding queue depth: requests ordered but not yet acknowledged by the backup.', () => m().pendingCount());
    gauge('understudy_pending_bytes', 'About how much memory the requests waiting for the backup hold.', () => m().pendingBytes());
    gauge('understudy_client_connections', 'Open client connections (path /).', shell.clientConnections);
    gauge('understudy_peer_connections', 'Open replica links to this replica (path /peer, after the peer hello).', shell.peerConnections);
    gauge('understudy_backup_link_up', '1 while this replica (as primary) has an open link to its backup.', () => (shell.backupLinkUp() ? 1 : 0));
    gauge('understudy_view_service_link_up', '1 while the link to the view service is open.', () => (shell.viewServiceLinkUp() ? 1 : 0));
  }
}
