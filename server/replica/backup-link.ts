/**
 * The primary's one link to its backup (Ready.backupTarget): opened to the target's /peer
 * with a peer hello, replaced when the target changes, closed when there is none. Its status
 * goes to the core (backupLinkUp/Down: the core resends or restarts the transfer on a new
 * link), the backup's frames come in as `fromBackup` inputs. Frames sent while it is down
 * are dropped: the core resends on link-up.
 */
import type { Limits } from '../../common/limits';
import type { Logger } from '../../common/logger';
import type { PeerHelloMsg } from '../../common/messages';
import { CloseCodes } from '../../common/errors';
import { decode, encode, isProtocolError, TRUSTED } from '../../common/protocol';
import { Link } from '../net/link';
import type { RateLimitedLog } from '../rate-limited-log';
import type { FromBackupMsg, ReplicaInput } from './replica-io';
import type { ReplicaId } from '../../common/view';

export interface BackupLinkOptions {
  me: () => { id: string; incarnation: string };
  log: () => Logger;
  warnings: () => RateLimitedLog;
  limits: Limits;
  pingIntervalMs: number;
  clusterToken: string | null;
  run(input: ReplicaInput): void;
  /** A frame from the backup, after the machine stepped it. */
  stepped(msg: FromBackupMsg): void;
  failed(err: unknown): void;
}

export class BackupLink {
  private current: { target: ReplicaId; link: Link } | null = null;

  constructor(private readonly o: BackupLinkOptions) {}

  get up(): boolean { return this.current?.link.status === 'open'; }

  /** Keep exactly one link, to `target` (none for null). */
  sync(target: ReplicaId | null): void {
    if ((this.current?.target ?? null) === target) return;
    if (this.current) {
      this.current.link.close(CloseCodes.Normal, 'no longer my backup');
      this.current = null;
    }
    if (target !== null) this.current = { target, link: this.open(target) };
  }

  private open(target: ReplicaId): Link {
    const o = this.o;
    const link = new Link({
      url: `${target.replace(/\/+$/, '')}/peer`, log: o.log(), name: 'backup',
      maxPayload: 64 * 1024, heartbeatMs: Math.max(1000, 10 * o.pingIntervalMs),
    });
    const current = (): boolean => this.current?.link === link;
    link.on('open', () => this.guard(() => {
      if (!current()) return;
      const hello: PeerHelloMsg = { type: 'peer', ...o.me() };
      if (o.clusterToken !== null) hello.token = o.clusterToken;
      link.send(encode(hello));
      o.run({ kind: 'backupLinkUp' });
    }));
    link.on('down', (code, reason) => this.guard(() => {
      if (!current()) return;
      o.log().info({ backup: target, code, reason }, 'backup link down');
      o.run({ kind: 'backupLinkDown' });
    }));
    link.on('message', (text) => this.guard(() => {
      if (current()) this.onMessage(target, text);
    }));
    return link;
  }

  private onMessage(target: ReplicaId, text: string): void {
    const msg = decode(text, this.o.limits, TRUSTED); // my backup, on a link I opened
    if (isProtocolError(msg)) {
      this.o.warnings().warn('backup-bad-message', { backup: target, code: msg.code, reason: msg.message }, 'undecodable message from the backup');
    } else if (msg.type === 'xferack' || msg.type === 'chunkack' || msg.type === 'fwdack' || msg.type === 'reject' || msg.type === 'xfer-pos') {
      this.o.run({ kind: 'fromBackup', msg });
      this.o.stepped(msg);
    } else {
      this.o.warnings().warn('backup-bad-message', { backup: target, type: msg.type }, 'unexpected message from the backup');
    }
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.o.failed(err);
    }
  }

  /** False while down (the core resends on link-up). */
  send(text: string): boolean {
    return this.current?.link.send(text) ?? false;
  }

  /** End the socket at once: the link reconnects with its backoff (a fresh transfer follows). */
  restart(): void {
    this.current?.link.restart();
  }

  close(code: number, reason: string): void {
    this.current?.link.close(code, reason);
    this.current = null;
  }
}
