/**
 * Small helpers for integration tests that speak the wire protocol with raw `ws` sockets:
 * open a socket (terminated by the test's teardown), wait for the next matching message,
 * wait for the close. Waits are for events, bounded by a timeout; no fixed sleeps. (Waiting
 * for a condition: waitFor in ./wait.ts.)
 */
import WebSocket from 'ws';
import type { Teardown } from './teardown';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Msg = any;

/** An open client socket to `url`, terminated after the test. */
export async function openWs(url: string, teardown: Teardown): Promise<WebSocket> {
  const ws = new WebSocket(url);
  teardown.push(() => ws.terminate());
  await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
  return ws;
}

/** The next message on `ws` that satisfies `predicate` (register before sending what triggers it). */
export function nextMessage(ws: WebSocket, predicate: (m: Msg) => boolean = () => true, timeoutMs = 3000): Promise<Msg> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => { ws.off('message', onMessage); reject(new Error(`no matching message within ${timeoutMs} ms`)); }, timeoutMs);
    function onMessage(data: WebSocket.RawData): void {
      const m = JSON.parse(String(data));
      if (!predicate(m)) return;
      clearTimeout(timer);
      ws.off('message', onMessage);
      resolve(m);
    }
    ws.on('message', onMessage);
  });
}

/** Resolves with the close code and reason of `ws`. */
export function closed(ws: WebSocket, timeoutMs = 5000): Promise<{ code: number; reason: string }> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not closed within ${timeoutMs} ms`)), timeoutMs);
    ws.once('close', (code, reason) => { clearTimeout(timer); resolve({ code, reason: String(reason) }); });
  });
}
