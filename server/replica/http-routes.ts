/**
 * The replica's HTTP routes (SPEC §5): /healthz, /readyz, /info and /digest (/metrics is the
 * shared metrics handler's).
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendJson } from '../net/ws-server';
import { pathOf } from '../metrics';
import type { ReplicaMachine } from './replica-machine';

/** sha256 over the sorted keys and values (SPEC §5): `JSON.stringify(key) ":" JSON.stringify(value) "\n"` each. */
export function digestOf(entries: Iterable<[string, string]>): string {
  const h = createHash('sha256');
  for (const [k, v] of entries) h.update(`${JSON.stringify(k)}:${JSON.stringify(v)}\n`);
  return h.digest('hex');
}

/** The handler for the replica's routes; false for any other path. */
export function replicaHttp(machine: () => ReplicaMachine, notReady: () => string | null): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const p = pathOf(req);
    if (p === '/healthz') {
      sendJson(res, 200, { ok: true });
      return true;
    }
    if (p === '/readyz') {
      const reason = notReady();
      const m = machine();
      sendJson(res, reason === null ? 200 : 503, { ready: reason === null, role: m.role, viewnum: m.view.viewnum, ...(reason === null ? {} : { reason }) });
      return true;
    }
    if (p === '/info') {
      // For `understudy status` (issue #16): which process this is, since when, in what role.
      const m = machine();
      // durableIndex (with --data-dir): the last operation on this replica's disk (SPEC §9).
      sendJson(res, 200, { id: m.me, pid: process.pid, uptimeMs: Math.round(process.uptime() * 1000), role: m.role, viewnum: m.view.viewnum, ...(m.durable ? { durableIndex: m.loggedIndex } : {}) });
      return true;
    }
    if (p === '/digest') {
      const m = machine();
      sendJson(res, 200, {
        viewnum: m.view.viewnum,
        role: m.role,
        revision: m.store.revision,
        keys: m.store.size,
        sha256: digestOf(m.store.sortedEntries()),
      });
      return true;
    }
    return false;
  };
}
