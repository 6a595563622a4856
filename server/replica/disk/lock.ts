/**
 * One process per data dir (SPEC §9, issue #11): `<dir>/LOCK` holds the owner's pid and host.
 *
 * Why a pid file and not flock: Node has no flock/fcntl lock without a native addon. Why it
 * is safe enough: the lock is created complete and atomically (written to a private temp
 * file, then link()ed to LOCK, which fails if LOCK exists: O_EXCL semantics with no window
 * where another process could read an empty lock).
 *
 * A lock is stale when its pid is dead on this host (kill(pid, 0) → ESRCH), or when it names
 * this very pid but this process does not hold it (a container restarts as pid 1 again).
 * A stale lock is taken over: a kill -9 or a power cut leaves one behind, and requiring a
 * manual cleanup after every crash would make the crash test (and operators) miserable.
 * A lock from another host is never taken over (its pid means nothing here): refused.
 * Known limit: two processes that find the same stale lock at the same instant may both
 * take it over (unlink + link is not one step); starting two replicas on one dir at the
 * same millisecond after a crash is the only way to get there.
 */
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

/** File name of the lock in the data dir. */
export const LOCK_FILE = 'LOCK';

/** What the lock file holds. */
interface LockOwner { pid: number; host: string; since: string }

/** The data dir is in use by another process (or by this one already). */
export class DataDirLocked extends Error {
  constructor(readonly lockPath: string, readonly owner: LockOwner | null, why: string) {
    super(`data dir ${path.dirname(lockPath)} is in use: ${why} (lock file ${lockPath}); stop that process or use another --data-dir`);
    this.name = 'DataDirLocked';
  }
}

/** A held lock. */
export interface DataDirLock {
  readonly path: string;
  /** Remove the lock file (if it is still ours). */
  release(): Promise<void>;
}

/** Injected for tests. */
export interface LockOptions {
  /** @default process.pid */
  pid?: number;
  /** @default os.hostname() */
  host?: string;
  /** @default kill(pid, 0) */
  isAlive?: (pid: number) => boolean;
}

/** Lock paths held by this process: a second open in the same process is refused too. */
const heldHere = new Set<string>();

/** Take the data dir's lock, taking over a stale one; DataDirLocked if another live process holds it. */
export async function acquireLock(dir: string, o: LockOptions = {}): Promise<DataDirLock> {
  const me: LockOwner = { pid: o.pid ?? process.pid, host: o.host ?? os.hostname(), since: new Date().toISOString() };
  const isAlive = o.isAlive ?? pidAlive;
  await fs.mkdir(dir, { recursive: true });
  const lockPath = path.join(path.resolve(dir), LOCK_FILE);
  if (heldHere.has(lockPath)) throw new DataDirLocked(lockPath, me, 'this process already holds it');
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await tryCreate(lockPath, me)) {
      heldHere.add(lockPath);
      return { path: lockPath, release: () => release(lockPath, me) };
    }
    const owner = await readOwner(lockPath);
    if (owner === 'gone') continue; // released meanwhile: try again
    if (owner === null) throw new DataDirLocked(lockPath, null, 'the lock file is unreadable; remove it if no process uses the directory');
    if (owner.host !== me.host) throw new DataDirLocked(lockPath, owner, `locked by pid ${owner.pid} on host ${owner.host}`);
    if (owner.pid !== me.pid && isAlive(owner.pid)) throw new DataDirLocked(lockPath, owner, `locked by running process ${owner.pid} since ${owner.since}`);
    await fs.unlink(lockPath).catch(() => undefined); // stale: its owner is dead
  }
  throw new DataDirLocked(lockPath, null, 'another process keeps taking the lock');
}

/** Create the lock complete and atomically; false if it exists. */
async function tryCreate(lockPath: string, me: LockOwner): Promise<boolean> {
  const tmp = `${lockPath}.${me.pid}.${process.hrtime.bigint()}.tmp`;
  await fs.writeFile(tmp, JSON.stringify(me) + '\n', { flag: 'wx' });
  try {
    await fs.link(tmp, lockPath);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  } finally {
    await fs.unlink(tmp).catch(() => undefined);
  }
}

async function readOwner(lockPath: string): Promise<LockOwner | null | 'gone'> {
  let text: string;
  try { text = await fs.readFile(lockPath, 'utf8'); } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'gone';
    throw err;
  }
  try {
    const o = JSON.parse(text) as LockOwner;
    return Number.isInteger(o.pid) && typeof o.host === 'string' ? o : null;
  } catch { return null; }
}

async function release(lockPath: string, me: LockOwner): Promise<void> {
  heldHere.delete(lockPath);
  const owner = await readOwner(lockPath);
  if (owner !== null && owner !== 'gone' && owner.pid === me.pid && owner.since === me.since) await fs.unlink(lockPath);
}

/** kill(pid, 0): ESRCH means no such process; EPERM means it exists (another user's). */
function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
