/**
 * The reference servers of the bench: what the wire alone costs, with the same `ws`
 * library, options and message sizes as Understudy. Each runs as its own process:
 *
 *   echo                          client → echo → client               (one hop)
 *   chain-a --b ws://…:B          client → A → B → A → client          (two hops: the minimum
 *                                 path of a replicated write; B is an `echo`)
 *   chain-a --b ws://…:B --batch  the same, with every message A receives in one turn of the
 *                                 event loop forwarded to B in one frame (newline-joined)
 *
 * A holds ONE persistent link to B. B echoes in order, so A matches B's echoes to the
 * waiting client sockets with a FIFO: no parsing, no re-encoding (frames are passed on as
 * the Buffers `ws` delivered). Prints one JSON line {"msg":"listening","port":N} when ready;
 * exits when its stdin closes (so it never outlives the bench) or on SIGTERM/SIGINT.
 *
 *   node -r ts-node/register bench/reference-servers.ts echo --port 0
 *   node -r ts-node/register bench/reference-servers.ts chain-a --b ws://127.0.0.1:PORT [--batch]
 */
import { WebSocketServer, WebSocket, RawData } from 'ws';
import type { AddressInfo } from 'node:net';

const MAX_PAYLOAD = 2 * 1024 * 1024; // the same limit as Understudy's (SPEC §8)
const HOST = '127.0.0.1';

/** A FIFO ring: shift without Array#shift's copying. */
class Fifo<T> {
  private items: (T | undefined)[] = new Array(1024);
  private head = 0;
  private size = 0;

  push(x: T): void {
    if (this.size === this.items.length) {
      const next: (T | undefined)[] = new Array(this.items.length * 2);
      for (let i = 0; i < this.size; i++) next[i] = this.items[(this.head + i) % this.items.length];
      this.items = next;
      this.head = 0;
    }
    this.items[(this.head + this.size) % this.items.length] = x;
    this.size++;
  }

  shift(): T | undefined {
    if (this.size === 0) return undefined;
    const x = this.items[this.head];
    this.items[this.head] = undefined;
    this.head = (this.head + 1) % this.items.length;
    this.size--;
    return x;
  }

  get length(): number {
    return this.size;
  }
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function listen(onConnection: (ws: WebSocket) => void): Promise<WebSocketServer> {
  const port = Number(arg('--port') ?? 0);
  return new Promise((resolve, reject) => {
    const wss = new WebSocketServer({ host: HOST, port, maxPayload: MAX_PAYLOAD, perMessageDeflate: false });
    wss.once('error', reject);
    wss.on('connection', (ws) => {
      ws.on('error', () => ws.terminate());
      onConnection(ws);
    });
    wss.once('listening', () => resolve(wss));
  });
}

function ready(role: string, wss: WebSocketServer): void {
  const { port } = wss.address() as AddressInfo;
  process.stdout.write(JSON.stringify({ msg: `${role} listening`, role, port, pid: process.pid }) + '\n');
}

async function echo(): Promise<void> {
  const wss = await listen((ws) => {
    ws.on('message', (data: RawData, isBinary: boolean) => ws.send(data as Buffer, { binary: isBinary }));
  });
  ready('echo', wss);
}

function connectB(url: string): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const b = new WebSocket(url, { perMessageDeflate: false, maxPayload: MAX_PAYLOAD * 64 });
    b.once('open', () => resolve(b));
    b.once('error', reject);
  });
}

async function chainA(): Promise<void> {
  const bUrl = arg('--b');
  if (!bUrl) throw new Error('chain-a needs --b ws://127.0.0.1:PORT');
  const batch = process.argv.includes('--batch');
  const b = await connectB(bUrl);
  b.on('close', () => process.exit(1));

  let wss: WebSocketServer;
  if (!batch) {
    // One B frame per client frame; B's echo goes back to whoever sent the oldest one.
    const waiting = new Fifo<WebSocket>();
    b.on('message', (data: RawData) => {
      const ws = waiting.shift();
      if (ws && ws.readyState === WebSocket.OPEN) ws.send(data as Buffer, { binary: false });
    });
    wss = await listen((ws) => {
      ws.on('message', (data: RawData) => {
        waiting.push(ws);
        b.send(data as Buffer, { binary: false });
      });
    });
  } else {
    // Everything received in one turn goes to B as one frame; when B's echo of that frame
    // comes back, each original goes back to its sender (a cumulative acknowledgement).
    // A frame holds at most BATCH_BYTES (B refuses frames over MAX_PAYLOAD, like a replica).
    const BATCH_BYTES = 256 * 1024;
    const batches = new Fifo<{ socks: WebSocket[]; bufs: Buffer[]; bytes: number }>();
    let cur: { socks: WebSocket[]; bufs: Buffer[]; bytes: number } | null = null;
    const NL = Buffer.from('\n');
    const flush = (): void => {
      const c = cur;
      if (c === null) return;
      cur = null;
      batches.push(c);
      if (c.bufs.length === 1) {
        b.send(c.bufs[0], { binary: false });
      } else {
        const parts: Buffer[] = [];
        for (let i = 0; i < c.bufs.length; i++) {
          if (i > 0) parts.push(NL);
          parts.push(c.bufs[i]);
        }
        b.send(Buffer.concat(parts), { binary: false });
      }
    };
    b.on('message', () => {
      const c = batches.shift();
      if (!c) return;
      for (let i = 0; i < c.socks.length; i++) {
        const ws = c.socks[i];
        if (ws.readyState === WebSocket.OPEN) ws.send(c.bufs[i], { binary: false });
      }
    });
    wss = await listen((ws) => {
      ws.on('message', (data: RawData) => {
        const buf = data as Buffer;
        if (cur !== null && cur.bytes + buf.length > BATCH_BYTES) flush();
        if (cur === null) {
          cur = { socks: [], bufs: [], bytes: 0 };
          setImmediate(flush);
        }
        cur.socks.push(ws);
        cur.bufs.push(buf);
        cur.bytes += buf.length + 1;
      });
    });
  }
  ready(batch ? 'chain-a-batch' : 'chain-a', wss);
}

async function main(): Promise<void> {
  const mode = process.argv[2];
  // Never outlive the bench: it holds our stdin.
  process.stdin.on('end', () => process.exit(0));
  process.stdin.on('error', () => process.exit(0));
  process.stdin.resume();
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGINT', () => process.exit(0));
  if (mode === 'echo') await echo();
  else if (mode === 'chain-a') await chainA();
  else throw new Error(`unknown mode ${String(mode)}: echo | chain-a --b URL [--batch]`);
}

main().catch((err) => {
  process.stderr.write(`reference-servers: ${err && (err as Error).stack || err}\n`);
  process.exit(1);
});
