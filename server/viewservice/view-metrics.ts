/** The metrics of one view service (SPEC §5 `GET /metrics`): gauges read at scrape time, counters moved by the shell. */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { ViewReader } from './view-http';

export type ViewMetrics = ReturnType<typeof viewMetrics>;

export function viewMetrics(registry: Registry, vm: ViewReader, connections: () => number, subscribers: () => number, leading?: () => boolean) {
  const gauge = (name: string, help: string, value: () => number): void => {
    new Gauge({ name, help, registers: [registry], collect() { this.set(value()); } });
  };
  gauge('understudy_viewnum', 'The current view number.', () => vm.view.viewnum);
  gauge('understudy_view_acked', '1 if the primary acknowledged the current view.', () => (vm.acked ? 1 : 0));
  gauge('understudy_replicas_alive', 'Replicas the view service considers alive.', () => vm.status().servers.filter((s) => s.alive).length);
  gauge('understudy_connections', 'Open WebSocket connections.', connections);
  gauge('understudy_subscribers', 'Subscribed clients.', subscribers);
  // Only with --etcd (SPEC §12): alert when no instance, or more than one, says 1.
  if (leading) gauge('understudy_view_leader', '1 while this view-service instance leads (--etcd).', () => (leading() ? 1 : 0));
  const counter = (name: string, help: string) => new Counter({ name, help, registers: [registry] });
  return {
    viewChanges: counter('understudy_view_changes_total', 'View changes since start.'),
    badMessages: counter('understudy_bad_messages_total', 'Messages answered with an error.'),
    slowConsumers: counter('understudy_slow_consumers_total', 'Links closed because their send buffer was over the bound.'),
    overloaded: counter('understudy_overloaded_total', 'Subscriptions refused (closed with 4429) because maxSubscribers was reached.'),
    unauthorized: counter('understudy_unauthorized_total', 'Links closed with 4401 (wrong or missing token).'),
    idleClosed: counter('understudy_idle_links_closed_total', 'Links closed because they neither pinged nor subscribed in time.'),
  };
}
