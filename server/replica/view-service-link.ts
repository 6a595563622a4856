/**
 * The replica's link to the view service: its status goes to the core (vsLinkUp/Down: pings
 * go out only while it is up, and a new link lets a viewnum-0 ping go again), views come in
 * as `view` inputs, and the core's pings and the shutdown's `leave` go out. When to ping and
 * with what is the core's (ping-rules.ts).
 *
 * With several view-service instances (SPEC §12) the link uses one at a time and moves by
 * common/view-urls.ts: to the leader a follower names, and round the list when the link
 * closes (1012: the instance lost the lead) or cannot open. A follower's views are committed
 * ones (PROTOCOL §1.1), so they reach the core as any other: a lower view number is ignored.
 */
import type { Limits } from '../../common/limits';
import type { Logger } from '../../common/logger';
import type { LeaveMsg, PingMsg } from '../../common/messages';
import type { BackoffPolicy } from '../../common/backoff';
import { decode, encode, isProtocolError, TRUSTED } from '../../common/protocol';
import { ViewServiceUrls } from '../../common/view-urls';
import { Link } from '../net/link';
import type { PingOut, ReplicaInput } from './replica-io';

/**
 * The view-service link retries at least every pingInterval (never slower than 2 s): after a
 * view-service restart every replica must report within its recovery window (deadPings ×
 * pingInterval), docs/VIEW-SERVICE-RESTART.md.
 */
function viewServiceBackoff(pingIntervalMs: number): BackoffPolicy {
  return { minMs: Math.min(50, pingIntervalMs), maxMs: Math.max(50, Math.min(2000, pingIntervalMs)), factor: 2, jitter: 0.5 };
}

export interface ViewServiceLinkOptions {
  /** Every view-service instance (one without --etcd). */
  urls: readonly string[];
  log: Logger;
  limits: Limits;
  pingIntervalMs: number;
  clusterToken: string | null;
  run(input: ReplicaInput): void;
  failed(err: unknown): void;
}

export class ViewServiceLink {
  private readonly link: Link;
  private readonly urls: ViewServiceUrls;

  constructor(private readonly o: ViewServiceLinkOptions) {
    this.urls = new ViewServiceUrls(o.urls);
    this.link = new Link({
      url: this.urls.current, log: o.log, name: 'view service',
      ...(o.urls.length > 1 ? { failover: () => this.urls.failed() } : {}),
      heartbeatMs: Math.max(1000, 10 * o.pingIntervalMs), maxPayload: 64 * 1024,
      backoff: viewServiceBackoff(o.pingIntervalMs),
    });
    this.link.on('open', () => { this.urls.opened(); this.guard(() => o.run({ kind: 'vsLinkUp' })); });
    this.link.on('down', () => this.guard(() => o.run({ kind: 'vsLinkDown' })));
    this.link.on('message', (text) => this.guard(() => this.onMessage(text)));
  }

  get up(): boolean { return this.link.status === 'open'; }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.failed(err);
    }
  }

  private onMessage(text: string): void {
    const msg = decode(text, this.o.limits, TRUSTED); // the view service I was configured with
    if (isProtocolError(msg)) {
      this.o.log.warn({ code: msg.code, reason: msg.message }, 'undecodable message from the view service');
    } else if (msg.type === 'view') {
      if (msg.holders) this.o.run({ kind: 'view', view: msg.view, holders: msg.holders });
      else this.o.log.warn({ view: msg.view }, 'view without holders from the view service: ignored');
      const to = this.urls.hint(msg.leader);
      if (to !== null) {
        this.o.log.info({ from: this.link.url, to }, `view service: moving to the leader's instance ${to}`);
        this.link.moveTo(to);
      }
    } else if (msg.type === 'error') {
      this.o.log.warn({ code: msg.code, reason: msg.message }, 'the view service reported an error');
    } else {
      this.o.log.warn({ type: msg.type }, 'unexpected message from the view service');
    }
  }

  /** The core's ping, with the cluster token. */
  ping(p: PingOut): boolean {
    const msg: PingMsg = this.o.clusterToken !== null ? { ...p, token: this.o.clusterToken } : p;
    return this.link.send(encode(msg));
  }

  /** Graceful shutdown: this incarnation leaves (the view service fails over at once). */
  leave(id: string, incarnation: string): boolean {
    const leave: LeaveMsg = { type: 'leave', id, incarnation };
    if (this.o.clusterToken !== null) leave.token = this.o.clusterToken;
    return this.link.send(encode(leave));
  }

  close(code: number, reason: string): void {
    this.link.close(code, reason);
  }
}
