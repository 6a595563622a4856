/**
 * A minimal, pipelined RESP2 client over node:net, for the `--redis` comparison: no npm
 * dependency. Commands are written as RESP arrays of bulk strings; replies are matched to
 * callbacks in order (Redis answers in order on one connection, also behind a blocking WAIT).
 */
import * as net from 'node:net';

export type RespValue = string | number | null | RespValue[] | RespError;

export class RespError extends Error {}

type Callback = (err: RespError | null, value: RespValue) => void;

/** Encode one command as a RESP array of bulk strings. */
export function encodeCommand(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a) : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, CRLF);
  }
  return Buffer.concat(parts);
}

const CRLF = Buffer.from('\r\n');

/**
 * Incremental RESP2 parser: feed it chunks, it calls `onValue` per complete top-level reply.
 * Returns the parse position on a partial reply so the rest is kept for the next chunk.
 */
class Parser {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onValue: (v: RespValue) => void) {}

  feed(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    let pos = 0;
    for (;;) {
      const r = this.parse(pos);
      if (r === null) break;
      pos = r.next;
      this.onValue(r.value);
    }
    this.buf = pos >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(pos);
  }

  private line(pos: number): { text: string; next: number } | null {
    const end = this.buf.indexOf(CRLF, pos);
    if (end < 0) return null;
    return { text: this.buf.toString('latin1', pos + 1, end), next: end + 2 };
  }

  private parse(pos: number): { value: RespValue; next: number } | null {
    if (pos >= this.buf.length) return null;
    const type = this.buf[pos];
    const l = this.line(pos);
    if (l === null) return null;
    switch (type) {
      case 0x2b: // +
        return { value: l.text, next: l.next };
      case 0x2d: // -
        return { value: new RespError(l.text), next: l.next };
      case 0x3a: // :
        return { value: Number(l.text), next: l.next };
      case 0x24: { // $
        const len = Number(l.text);
        if (len < 0) return { value: null, next: l.next };
        if (this.buf.length < l.next + len + 2) return null;
        return { value: this.buf.toString('utf8', l.next, l.next + len), next: l.next + len + 2 };
      }
      case 0x2a: { // *
        const n = Number(l.text);
        if (n < 0) return { value: null, next: l.next };
        const out: RespValue[] = [];
        let p = l.next;
        for (let i = 0; i < n; i++) {
          const r = this.parse(p);
          if (r === null) return null;
          out.push(r.value);
          p = r.next;
        }
        return { value: out, next: p };
      }
      default:
        throw new Error(`RESP: unexpected type byte 0x${type.toString(16)}`);
    }
  }
}

export class RespClient {
  private readonly sock: net.Socket;
  private readonly pending: Callback[] = [];
  private head = 0;
  private closed = false;

  private constructor(sock: net.Socket) {
    this.sock = sock;
    sock.setNoDelay(true);
    const parser = new Parser((v) => {
      const cb = this.pending[this.head];
      this.pending[this.head++] = undefined as unknown as Callback;
      if (this.head > 4096 && this.head * 2 > this.pending.length) {
        this.pending.splice(0, this.head);
        this.head = 0;
      }
      if (cb) cb(v instanceof RespError ? v : null, v);
    });
    sock.on('data', (chunk: Buffer) => parser.feed(chunk));
    sock.on('close', () => {
      this.closed = true;
      const err = new RespError('connection closed');
      for (let i = this.head; i < this.pending.length; i++) this.pending[i]?.(err, null);
      this.pending.length = 0;
      this.head = 0;
    });
    sock.on('error', () => { /* close follows */ });
  }

  static connect(port: number, host = '127.0.0.1'): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect({ port, host });
      sock.once('connect', () => resolve(new RespClient(sock)));
      sock.once('error', reject);
    });
  }

  /** Send raw, already-encoded commands; `replies` callbacks are queued in order. */
  writeRaw(buf: Buffer, callbacks: Callback[]): void {
    if (this.closed) {
      for (const cb of callbacks) cb(new RespError('connection closed'), null);
      return;
    }
    for (const cb of callbacks) this.pending.push(cb);
    this.sock.write(buf);
  }

  command(args: (string | Buffer)[]): Promise<RespValue> {
    return new Promise((resolve, reject) => {
      this.writeRaw(encodeCommand(args), [(err, v) => (err ? reject(err) : resolve(v))]);
    });
  }

  close(): void {
    this.sock.end();
    this.sock.destroy();
  }
}
