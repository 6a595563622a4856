/**
 * The nemesis's fault schedule, generated from a seed alone (issue #3): the same seed gives
 * the same schedule. Targets are named by role ("the primary", "the backup's incoming link"),
 * resolved against the live view when the fault fires.
 */
import { seededRandom } from '../support/fault-proxy';

export type Role = 'primary' | 'backup' | 'idle' | 'any';

/**
 * Links the proxies sit on:
 * - `replica-vs`: a replica's link to the view service (pings, views);
 * - `to-replica`: everything into a replica: clients → it and, when it is the backup,
 *   primary → backup forwarding;
 * - `client-vs`: a client's subscription link to the view service.
 */
export type LinkKind = 'replica-vs' | 'to-replica' | 'client-vs';

export type Fault =
  | { kind: 'kill'; role: Role; downMs: number }
  | { kind: 'pause'; role: Role; downMs: number }
  | { kind: 'cut'; link: LinkKind; role: Role; client: number; downMs: number }
  | { kind: 'blackhole'; link: LinkKind; role: Role; client: number; direction: 'toTarget' | 'fromTarget'; downMs: number }
  | { kind: 'delay'; link: LinkKind; role: Role; client: number; fixedMs: number; randomMs: number; downMs: number }
  | { kind: 'flaky'; link: LinkKind; role: Role; client: number; p: number; downMs: number }
  | { kind: 'slow'; link: LinkKind; role: Role; client: number; bytesPerSecond: number; downMs: number }
  | { kind: 'restart-vs-links'; downMs: number };

export interface ScheduledFault {
  atMs: number;
  fault: Fault;
  /** With --unsafe: this fault may overlap the previous one (both primary and backup down). */
  overlaps: boolean;
}

export interface ScheduleOptions {
  seed: number;
  seconds: number;
  clients: number;
  unsafe: boolean;
}

export function makeSchedule(o: ScheduleOptions): ScheduledFault[] {
  const r = seededRandom(o.seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  const between = (a: number, b: number) => Math.round(a + r() * (b - a));
  const out: ScheduledFault[] = [];
  const roles: Role[] = ['primary', 'primary', 'backup', 'backup', 'idle', 'any'];
  const links: LinkKind[] = ['replica-vs', 'to-replica', 'to-replica', 'client-vs'];
  let t = between(500, 1200);
  let overlaps = false;
  const end = o.seconds * 1000 - 1500;
  while (t < end) {
    const downMs = between(300, 2500);
    const role = pick(roles);
    const link = pick(links);
    const client = Math.floor(r() * o.clients);
    const k = r();
    let fault: Fault;
    if (k < 0.2) fault = { kind: 'kill', role, downMs };
    else if (k < 0.3) fault = { kind: 'pause', role, downMs };
    else if (k < 0.5) fault = { kind: 'cut', link, role, client, downMs };
    else if (k < 0.6) fault = { kind: 'blackhole', link, role, client, direction: r() < 0.5 ? 'toTarget' : 'fromTarget', downMs };
    else if (k < 0.72) fault = { kind: 'delay', link, role, client, fixedMs: between(5, 60), randomMs: between(0, 120), downMs };
    else if (k < 0.84) fault = { kind: 'flaky', link, role, client, p: 0.01 + r() * 0.05, downMs };
    else if (k < 0.94) fault = { kind: 'slow', link, role, client, bytesPerSecond: between(20_000, 200_000), downMs };
    else fault = { kind: 'restart-vs-links', downMs: 0 };
    out.push({ atMs: t, fault, overlaps });
    // The next fault starts after this one heals, or (unsafe) while it is still in force, so
    // that primary and backup can both be down at once.
    overlaps = o.unsafe && r() < 0.35;
    t += overlaps ? between(100, Math.max(150, downMs - 50)) : downMs + between(300, 1200);
  }
  return out;
}

export function describeFault(f: Fault): string {
  switch (f.kind) {
    case 'kill': return `kill -9 ${f.role}, restart after ${f.downMs} ms`;
    case 'pause': return `SIGSTOP ${f.role} for ${f.downMs} ms`;
    case 'restart-vs-links': return 'restart every link to the view service';
    default: {
      const where = f.link === 'client-vs' ? `client ${f.client} → view service` : f.link === 'replica-vs' ? `${f.role} → view service` : `into ${f.role}`;
      const what = f.kind === 'blackhole' ? `blackhole ${f.direction}` : f.kind === 'delay' ? `delay ${f.fixedMs}+${f.randomMs} ms` : f.kind === 'flaky' ? `flaky p=${f.p.toFixed(3)}` : f.kind === 'slow' ? `slow ${f.bytesPerSecond} B/s` : 'cut';
      return `${what} on ${where} for ${f.downMs} ms`;
    }
  }
}
