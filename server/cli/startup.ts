/**
 * The first five minutes (issue #16): a server that cannot start says why in one line with
 * the way out, never a stack trace; `dev` finds a taken port before it starts anything; a
 * one-shot command finds out at once that nothing listens at the view service's URL.
 */
import * as net from 'node:net';

type Errno = NodeJS.ErrnoException & { port?: number; address?: string };

/**
 * One line (no "understudy: " prefix) for a server that failed to start: the usual causes
 * named with the flag that changes them, anything else with its own message.
 */
export function startupFailure(role: 'view service' | 'replica', err: unknown, port: number): string {
  const e = err as Errno;
  const head = `cannot start the ${role}`;
  const message = e instanceof Error ? e.message : String(err);
  if (e?.syscall === 'listen' || e?.syscall === 'bind') {
    const p = e.port ?? port;
    if (e.code === 'EADDRINUSE') return `${head}: port ${p} is already in use; stop what listens there, or choose another port with --port`;
    if (e.code === 'EACCES' || e.code === 'EPERM') return `${head}: no permission to listen on port ${p} (ports below 1024 need privileges); choose another with --port`;
    if (e.code === 'EADDRNOTAVAIL') return `${head}: ${e.address ?? 'the address'} is not an address of this machine; choose another with --host`;
  }
  if (e?.path !== undefined && (e.code === 'EEXIST' || e.code === 'ENOTDIR')) {
    return `${head}: cannot use --data-dir ${JSON.stringify(e.path)}: a file is in the way (${e.code})`;
  }
  if (e?.path !== undefined && (e.code === 'EACCES' || e.code === 'EPERM' || e.code === 'EROFS')) {
    return `${head}: no permission to write ${JSON.stringify(e.path)} (${e.code}); choose another --data-dir`;
  }
  return `${head}: ${message.split('\n')[0]}`;
}

/**
 * Whether something already listens on `port` of this machine. The dev cluster listens on
 * 127.0.0.1, and on Linux a bind there also fails when another process holds the port on
 * 0.0.0.0 or [::], so one trial bind answers for all three.
 */
export function portInUse(port: number, host = '127.0.0.1'): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: Errno) => {
      if (err.code === 'EADDRINUSE') resolve(true);
      else reject(err);
    });
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(false)));
  });
}

const REFUSALS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'unknown host',
  EAI_AGAIN: 'host name lookup failed',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
};

/**
 * Open and close one TCP connection to the view service's host and port: why it failed
 * ("connection refused", …), or null when it connected or gave no answer within `ms` (then
 * the client's own timeout applies, as for any slow network). The client library keeps
 * buffering until its timeout, which a page that starts before its cluster wants; a one-shot
 * command wants the fast answer, so it asks with this probe first.
 */
export function viewRefusal(viewUrl: string, ms = 1000): Promise<string | null> {
  const u = new URL(viewUrl);
  const port = Number(u.port || (u.protocol === 'wss:' ? 443 : 80));
  const host = u.hostname.replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = net.connect({ port, host });
    const done = (why: string | null): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const timer = setTimeout(() => done(null), ms);
    socket.once('connect', () => done(null));
    socket.once('error', (err: Errno) => done(REFUSALS[err.code ?? ''] ?? err.code ?? err.message));
  });
}

/** The one line of a refused one-shot command. */
export function refusedLine(viewUrl: string, why: string): string {
  return `cannot connect to the view service at ${viewUrl} (${why}); is a cluster running? Start one with \`understudy dev\`, or name another with --view`;
}
