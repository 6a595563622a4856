/**
 * The view-service instances on etcd (SPEC §12): GET /instances every 2 s, one line per
 * instance — its URL (a link to its own dashboard), how long it has run, and which one leads
 * (from the leader key, server/viewservice/etcd/instances.ts). Hidden without --etcd: /view
 * then has no `role`, and the panel never asks for /instances (a 404 every 2 s would fill the
 * browser's console).
 */
import { byId, el } from './dom';

const POLL_MS = 2000;

interface Instance { id: string; url: string; startedAt: number; role: 'leader' | 'follower'; leading: boolean }
interface InstancesJson { self: string; leader: string | null; instances: Instance[]; stale: boolean }

function uptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + ' s';
  if (s < 3600) return Math.floor(s / 60) + ' min';
  if (s < 86400) return Math.floor(s / 3600) + ' h ' + (Math.floor(s / 60) % 60) + ' min';
  return Math.floor(s / 86400) + ' d';
}

/** The instance's dashboard: its ws(s):// URL as http(s)://. */
function pageOf(url: string): string {
  return url.replace(/^ws/i, 'http') + '/';
}

function row(x: Instance, self: string): HTMLLIElement {
  const li = el('li');
  li.dataset.leading = String(x.leading);
  li.appendChild(el('span', 'dot alive')).title = 'registered';
  const who = el('div');
  const link = el('a', null, x.url);
  link.href = pageOf(x.url);
  who.appendChild(el('p', 'id')).appendChild(link);
  who.appendChild(el('span', 'pill' + (x.leading ? ' ok' : ''), x.leading ? 'leader' : 'follower'));
  if (x.id === self) who.appendChild(el('span', 'pill', 'this instance'));
  li.appendChild(who);
  li.appendChild(el('span', 'age', 'up ' + uptime(Date.now() - x.startedAt)));
  return li;
}

function render(body: InstancesJson): void {
  const list = byId('instances');
  const rows = body.instances.map((x) => row(x, body.self));
  if (rows.length === 0) rows.push(el('li', 'empty', 'no instance registered'));
  list.replaceChildren(...rows);
  const note = byId('instances-note');
  note.hidden = !body.stale && body.leader !== null;
  note.textContent = body.stale ? 'etcd unreachable (no quorum?): the list as last read' : 'no instance leads right now';
}

export function startInstancesPanel(): void {
  const section = byId('instances-section');
  const poll = (): void => {
    fetch('/instances', { cache: 'no-store' })
      .then((r) => {
        if (r.status === 404) return null; // no --etcd: one instance, nothing to list
        if (!r.ok) throw new Error('HTTP ' + r.status);
        return r.json() as Promise<InstancesJson>;
      })
      .then((body) => {
        section.hidden = body === null;
        if (body !== null) render(body);
      })
      .catch(() => undefined)
      .then(() => { setTimeout(poll, POLL_MS); });
  };
  fetch('/view', { cache: 'no-store' })
    .then((r) => r.json() as Promise<{ role?: string }>)
    .then((view) => { if (view.role !== undefined) poll(); }, () => poll());
}
