/**
 * What the view service logs of its machine's events (joins, deaths, recovery) and the
 * logger it logs through. The new views themselves are logged where they are broadcast
 * (view-server.ts flush).
 */
import type { Logger } from '../../common/logger';
import { createLogger } from '../log';
import type { ViewMachineEvent } from './view-machine';
import type { ViewServiceOptions } from './view-server';

/** Log one machine event: info for the normal course, warn for deaths and recovery. */
export function logEvent(log: Logger, e: ViewMachineEvent): void {
  if (e.kind === 'resumed') {
    log.info({ view: e.view, acked: e.acked }, `resumed view ${e.view.viewnum} from the data dir`);
    return;
  }
  if (e.kind === 'recovering') {
    const why = e.reason === 'no-state' ? 'no saved view' : `a replica knows view ${e.viewnum}, newer than ours`;
    log.warn({ reason: e.reason }, `recovering: ${why}; learning the view from the replicas' reports before forming any`);
    return;
  }
  if (e.kind === 'recovered') {
    log.info({ view: e.view, acked: e.acked, reports: e.reports },
      e.view.viewnum === 0 ? 'recovered: no replica knows a view (a fresh cluster)' : `recovered view ${e.view.viewnum} from ${e.reports} replica report(s)`);
    return;
  }
  const fields = { id: e.id, incarnation: e.incarnation };
  switch (e.kind) {
    case 'joined': log.info(fields, `replica ${e.id} joined`); break;
    case 'revived': log.info(fields, `replica ${e.id} pings again`); break;
    case 'dead': log.warn({ ...fields, reason: e.reason }, `replica ${e.id} dead (${e.reason})`); break;
    case 'forgotten': log.debug(fields, `replica ${e.id} forgotten`); break;
  }
}

/** The child logger `{ role: 'view' }`, unless the given logger already carries that binding. */
export function viewLogger(options: Pick<ViewServiceOptions, 'log' | 'logLevel'>): Logger {
  const base = options.log ?? createLogger(options.logLevel);
  const bindings = (base as { bindings?: () => Record<string, unknown> }).bindings;
  if (typeof bindings === 'function' && bindings.call(base).role === 'view') return base;
  return base.child({ role: 'view' });
}
