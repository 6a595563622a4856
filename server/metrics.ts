/**
 * Prometheus metrics for the servers (SPEC §5 `GET /metrics`): one Registry per server
 * instance (so several servers in one process, as in `understudy dev` or the tests, never
 * clash), default process metrics prefixed `understudy_`, and the HTTP handler.
 *
 * Usage (a replica, say):
 *   const registry = createMetricsRegistry();
 *   new Gauge({ name: 'understudy_revision', help: '…', registers: [registry], collect() { this.set(store.revision); } });
 *   startWsServer({ …, http: [metricsHandler(registry, log), …] });
 */
import { Registry, collectDefaultMetrics } from 'prom-client';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { HttpHandler } from './net/ws-server';
import type { Logger } from '../common/logger';

/** Every metric name starts with this. */
export const METRIC_PREFIX = 'understudy_';

export interface MetricsRegistryOptions {
  /** Collect the default process metrics (CPU, memory, event loop lag, …). @default true */
  readonly defaultMetrics?: boolean;
  /** Labels added to every metric of this registry, e.g. `{ role: 'view' }`. @default none */
  readonly labels?: Record<string, string>;
}

/** A fresh Registry, with the default process metrics prefixed `understudy_` unless told otherwise. */
export function createMetricsRegistry(options: MetricsRegistryOptions = {}): Registry {
  const registry = new Registry();
  if (options.labels) registry.setDefaultLabels(options.labels);
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry, prefix: METRIC_PREFIX });
  return registry;
}

/** `GET /metrics` (and HEAD) in the Prometheus text format; other methods get 405. */
export function metricsHandler(registry: Registry, log?: Logger): HttpHandler {
  return (req: IncomingMessage, res: ServerResponse): boolean => {
    if (pathOf(req) !== '/metrics') return false;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' });
      res.end('method not allowed\n');
      return true;
    }
    registry.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log?.error({ err }, 'collecting metrics failed');
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' });
        res.end('metrics unavailable\n');
      },
    );
    return true;
  };
}

/** The path of a request without its query string. */
export function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  return q < 0 ? url : url.slice(0, q);
}
