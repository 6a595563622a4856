/**
 * The replica's peer endpoint, WebSocket "/peer": the link a primary opens to its backup.
 * The link must first say who it is (peer hello, with the cluster token when one is set);
 * then its xfer-*, fwd frames go to the machine as `fromPrimary` inputs tagged with the
 * link's id, and the machine's `toPrimary`, `readPeer` and `closePeer` effects come back
 * here by that id. Whether a frame is held for an unannounced view is the core's decision
 * (peer-hold.ts); this only pauses and resumes the socket when told.
 */
import type { IncomingMessage } from 'node:http';
import type WebSocket from 'ws';
import type { Limits } from '../../common/limits';
import type { Logger } from '../../common/logger';
import type { ErrorMsg } from '../../common/messages';
import { CloseCodes } from '../../common/errors';
import { decode, encode, isProtocolError, TRUSTED } from '../../common/protocol';
import { tokenMatches, frameText } from '../net/ws-server';
import { GuardedSocket, GuardPolicy, remoteOf } from '../net/guarded-socket';
import type { RateLimitedLog } from '../rate-limited-log';
import type { ReplicaMetrics } from './replica-metrics';
import type { PeerIdentity, PeerLinkId, ReplicaInput, FromBackupMsg } from './replica-io';
import { crashPoint } from './disk/crash-points';

/**
 * A /peer socket (a primary's link to me) with more than this queued is closed with 4408:
 * acks and rejects are small, so only a peer that stopped reading gets there. @default 16 MiB
 */
const MAX_PEER_BUFFERED_BYTES = 16 * 1024 * 1024;
/**
 * Open /peer links this replica accepts, apart from maxConnections (which bounds clients
 * on `/`): a crowd of clients must never lock out the primary's link. @default 128
 */
export const MAX_PEER_LINKS = 128;
/**
 * /peer links that have not sent their peer hello yet, at most: a newer one pushes the
 * oldest out (4401), so strangers that connect and say nothing can never fill the /peer
 * slots — a real primary says hello at once and is never among them. @default 16
 */
export const MAX_PEER_STRANGERS = 16;
/** A /peer link must send its peer hello within this long, or it is closed with 4401. @default 5 s */
const PEER_HELLO_MS = 5000;

interface PeerLink {
  readonly id: PeerLinkId;
  readonly socket: GuardedSocket;
  peer: PeerIdentity | null;
  helloTimer: NodeJS.Timeout | null;
}

export interface PeerEndpointOptions {
  limits: Limits;
  clusterToken: string | null;
  log: () => Logger;
  metrics: ReplicaMetrics;
  warnings: () => RateLimitedLog;
  run(input: ReplicaInput): void;
  failed(err: unknown): void;
}

export class PeerEndpoint {
  private readonly links = new Map<PeerLinkId, PeerLink>();
  /** /peer links before their hello, oldest first. */
  private readonly strangers = new Set<PeerLink>();
  private nextLink = 1;
  private helloed = 0;
  private readonly policy: GuardPolicy;

  constructor(private readonly o: PeerEndpointOptions) {
    this.policy = {
      maxBufferedBytes: MAX_PEER_BUFFERED_BYTES,
      slowConsumer: (s) => {
        o.metrics.slowConsumers.inc();
        o.warnings().warn('slow-consumer', { buffered: s.ws.bufferedAmount }, 'closing a /peer link whose peer does not read (4408)');
      },
      unauthorized: (s, why) => {
        o.metrics.unauthorized.inc();
        o.warnings().warn('peer-unauthorized', { remote: s.remote }, `peer link ${why}; closing with 4401`);
      },
    };
  }

  /** Open /peer links past their peer hello. */
  get size(): number { return this.helloed; }

  accept(ws: WebSocket, req: IncomingMessage, url: URL): void {
    const link: PeerLink = { id: this.nextLink++, socket: new GuardedSocket(ws, remoteOf(req), this.policy), peer: null, helloTimer: null };
    const urlToken = url.searchParams.get('token');
    // A link that never says who it is must not hold one of the few /peer slots.
    link.helloTimer = setTimeout(() => { if (link.peer === null && link.socket.open) link.socket.refuse('sent no peer hello in time'); }, PEER_HELLO_MS);
    link.helloTimer.unref?.();
    this.links.set(link.id, link);
    this.strangers.add(link);
    if (this.strangers.size > MAX_PEER_STRANGERS) {
      const oldest = this.strangers.values().next().value as PeerLink;
      this.strangers.delete(oldest);
      oldest.socket.refuse('pushed out by newer links without a hello');
    }
    ws.on('close', () => this.guard(() => this.onClose(link)));
    ws.on('message', (data, isBinary) => this.guard(() => this.onMessage(link, frameText(data, isBinary), urlToken)));
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.failed(err);
    }
  }

  private onClose(link: PeerLink): void {
    this.links.delete(link.id);
    this.strangers.delete(link);
    if (link.helloTimer) clearTimeout(link.helloTimer);
    if (link.peer !== null) this.helloed--;
    this.o.run({ kind: 'peerClosed', link: link.id });
  }

  private onMessage(link: PeerLink, text: string | null, urlToken: string | null): void {
    if (!link.socket.open) return; // closing (e.g. 4401): what follows is ignored
    if (link.peer === null) return this.onHello(link, text, urlToken);
    if (text === null) return this.error(link, 'BAD_REQUEST', 'binary frames are not accepted');
    // A peer that showed the cluster token is a replica: its large batches skip the depth scan.
    const msg = decode(text, this.o.limits, this.o.clusterToken !== null ? TRUSTED : undefined);
    if (isProtocolError(msg)) return this.error(link, msg.code, msg.message);
    link.socket.good();
    switch (msg.type) {
      case 'xfer-begin': case 'xfer-data': case 'xfer-end': case 'fwd':
        if (msg.type === 'xfer-data') crashPoint('transfer'); // test-only (UNDERSTUDY_CRASH_AT)
        this.o.run({ kind: 'fromPrimary', link: link.id, peer: link.peer, msg, text }); // text: a durable backup logs the fwd as received
        return;
      default:
        this.error(link, 'BAD_REQUEST', `a peer link takes xfer-begin, xfer-data, xfer-end and fwd (got ${JSON.stringify(msg.type)})`);
    }
  }

  private onHello(link: PeerLink, text: string | null, urlToken: string | null): void {
    const hello = text === null ? null : decode(text, this.o.limits);
    if (hello === null || isProtocolError(hello) || hello.type !== 'peer' || !tokenMatches(this.o.clusterToken, hello.token ?? urlToken ?? undefined)) {
      link.socket.refuse('without a valid peer hello or cluster token');
      return;
    }
    if (link.helloTimer) clearTimeout(link.helloTimer);
    link.helloTimer = null;
    this.strangers.delete(link);
    link.peer = { id: hello.id, incarnation: hello.incarnation };
    this.helloed++;
    this.o.log().debug({ remote: link.socket.remote, peer: link.peer }, 'peer link from a primary');
  }

  private error(link: PeerLink, code: ErrorMsg['code'], message: string): void {
    this.o.metrics.bad('peer', code);
    this.o.warnings().warn('peer-bad-message', { remote: link.socket.remote, code, reason: message }, 'bad message on a peer link');
    link.socket.send(encode({ type: 'error', code, message }));
    link.socket.bad();
  }

  /** The core's answer on link `id` (gone links drop it). */
  send(id: PeerLinkId, msg: FromBackupMsg): void {
    if (msg.type === 'fwdack') crashPoint('before-fwdack'); // test-only (UNDERSTUDY_CRASH_AT)
    this.links.get(id)?.socket.send(encode(msg));
  }

  /** The core holds (off) or releases (on) the link's frames: stop or resume reading it. */
  read(id: PeerLinkId, on: boolean): void {
    const s = this.links.get(id)?.socket;
    if (!s) return;
    if (on) s.resume();
    else s.pause();
  }

  close(id: PeerLinkId, code: number, reason: string): void {
    const link = this.links.get(id);
    if (!link) return;
    if (code === CloseCodes.TryAgainLater) {
      this.o.metrics.bad('peer', 'UNANNOUNCED_VIEW');
      this.o.warnings().warn('peer-unannounced-view', { remote: link.socket.remote, peer: link.peer }, `closing a peer link with ${code}: ${reason}`);
    }
    link.socket.close(code, reason);
  }
}
