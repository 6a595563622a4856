/**
 * A view service and replicas inside the test process, on 127.0.0.1:0, for the integration
 * suites. Each server is closed by the suite's teardown (test/support/teardown.ts).
 * deadPings × pingInterval = 1 s by default: failovers here come from a closed link
 * (immediate), and a loaded CI machine must not see replicas die of slow timers.
 */
import { startViewService, type ViewService } from '../../server/viewservice';
import { startReplica, type Replica } from '../../server/replica';
import { normalizeViewOptions, normalizeReplicaOptions } from '../../common/config';
import { noopLogger, type Logger } from '../../common/logger';
import type { Teardown } from './teardown';
import { loadAuth } from '../../server/auth/load';

type Flags = Record<string, string | number>;

export interface InProcess {
  startVs(flags?: Flags, extra?: { log?: Logger; idleLinkMs?: number; recoveryWindowMs?: number }): Promise<ViewService>;
  /** A replica linked to `vs` (a running view service or its URL). */
  startRep(vs: ViewService | string, flags?: Flags): Promise<Replica>;
}

export function inProcess(teardown: Teardown, pingIntervalMs = 20): InProcess {
  return {
    async startVs(flags = {}, extra = {}) {
      const options = normalizeViewOptions({ port: 0, host: '127.0.0.1', 'ping-interval': pingIntervalMs, 'dead-pings': 50, ...flags }, {});
      const vs = await startViewService({
        ...options,
        log: extra.log ?? noopLogger,
        ...(options.jwt ? { auth: loadAuth(options.jwt) } : {}), // SPEC §11, as the CLI loads it
        ...(extra.idleLinkMs !== undefined ? { idleLinkMs: extra.idleLinkMs } : {}),
        ...(extra.recoveryWindowMs !== undefined ? { recoveryWindowMs: extra.recoveryWindowMs } : {}),
      });
      teardown.push(() => vs.close());
      return vs;
    },
    async startRep(vs, flags = {}) {
      const view = typeof vs === 'string' ? vs : vs.url;
      const options = normalizeReplicaOptions({ port: 0, host: '127.0.0.1', view, 'ping-interval': pingIntervalMs, ...flags }, {});
      const r = await startReplica({ ...options, log: noopLogger, ...(options.jwt ? { auth: loadAuth(options.jwt) } : {}) });
      teardown.push(() => r.close());
      return r;
    },
  };
}
