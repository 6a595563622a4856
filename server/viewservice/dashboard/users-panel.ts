/**
 * The dashboard's list of connected users (SPEC §11): GET /users every few seconds, one line
 * per token `sub` with its number of links. Empty (and hidden) without --jwt-*.
 */
import { byId, el } from './dom';

const POLL_MS = 3000;

export function startUsersPanel(): void {
  const section = byId('users-section');
  const list = byId('users');
  const poll = (): void => {
    fetch('/users', { cache: 'no-store' })
      .then((r) => (r.ok ? r.json() : { users: [] }) as Promise<{ users?: { sub: string; links: number }[] }>)
      .then((body) => {
        const users = body.users || [];
        section.hidden = users.length === 0;
        list.replaceChildren(...users.map((u) => el('li', null, u.links > 1 ? `${u.sub} (${u.links} links)` : u.sub)));
      })
      .catch(() => undefined)
      .then(() => { setTimeout(poll, POLL_MS); });
  };
  poll();
}
