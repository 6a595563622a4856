/**
 * The file-system calls the disk layer makes, as an injected interface (STYLE "Growing the
 * layout": disk is injected like the clock). Production passes `nodeDiskFs`; tests pass the
 * power-loss shim (test/support/power-loss-fs.ts), which keeps what was written but not
 * fdatasynced in memory and drops it on a simulated power cut: kill -9 alone keeps the page
 * cache, so only the shim tests the fsync discipline itself.
 *
 * Callback style, like node:fs: the WAL's append path never waits on a promise chain and
 * never calls a *Sync function. `promisedFs` wraps it for startup code (recovery, manifest).
 */
import * as fs from 'node:fs';

/** Node-style callback. */
export type Cb<T = void> = (err: NodeJS.ErrnoException | null, value: T) => void;

/** The subset of node:fs the disk layer uses. */
export interface DiskFs {
  /** Flags as node:fs: 'wx' (create, fail if it exists), 'r', 'r+'. Directories open with 'r' (for fsync). */
  open(path: string, flags: string, cb: Cb<number>): void;
  /** Write `buffers` at `position`, all of them (libuv loops over partial writes). */
  writev(fd: number, buffers: Buffer[], position: number, cb: Cb<number>): void;
  fdatasync(fd: number, cb: Cb): void;
  /** Used on directories: makes created, renamed and removed names durable. */
  fsync(fd: number, cb: Cb): void;
  close(fd: number, cb: Cb): void;
  readFile(path: string, cb: Cb<Buffer>): void;
  /** Names only, any order. */
  readdir(path: string, cb: Cb<string[]>): void;
  rename(from: string, to: string, cb: Cb): void;
  unlink(path: string, cb: Cb): void;
  truncate(path: string, length: number, cb: Cb): void;
  /** Recursive; no error if it exists. */
  mkdir(path: string, cb: Cb): void;
}

/** The real file system. */
export const nodeDiskFs: DiskFs = {
  open: (p, flags, cb) => fs.open(p, flags, 0o644, cb),
  writev: (fd, buffers, position, cb) => fs.writev(fd, buffers, position, cb),
  fdatasync: (fd, cb) => fs.fdatasync(fd, (err) => cb(err, undefined)),
  fsync: (fd, cb) => fs.fsync(fd, (err) => cb(err, undefined)),
  close: (fd, cb) => fs.close(fd, (err) => cb(err, undefined)),
  readFile: (p, cb) => fs.readFile(p, cb),
  readdir: (p, cb) => fs.readdir(p, cb),
  rename: (a, b, cb) => fs.rename(a, b, (err) => cb(err, undefined)),
  unlink: (p, cb) => fs.unlink(p, (err) => cb(err, undefined)),
  truncate: (p, n, cb) => fs.truncate(p, n, (err) => cb(err, undefined)),
  mkdir: (p, cb) => fs.mkdir(p, { recursive: true }, (err) => cb(err, undefined)),
};

/** Promise versions of DiskFs, for startup and background work (never the append path). */
export interface PromisedFs {
  open(path: string, flags: string): Promise<number>;
  writev(fd: number, buffers: Buffer[], position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
  fsync(fd: number): Promise<void>;
  close(fd: number): Promise<void>;
  readFile(path: string): Promise<Buffer>;
  readdir(path: string): Promise<string[]>;
  rename(from: string, to: string): Promise<void>;
  unlink(path: string): Promise<void>;
  truncate(path: string, length: number): Promise<void>;
  mkdir(path: string): Promise<void>;
  /** open(dir) + fsync + close: makes the directory's entries durable. */
  syncDir(dir: string): Promise<void>;
}

/** Wrap a DiskFs in promises. */
export function promisedFs(d: DiskFs): PromisedFs {
  const p = <T>(f: (cb: Cb<T>) => void): Promise<T> =>
    new Promise((resolve, reject) => f((err, v) => (err ? reject(err) : resolve(v))));
  const out: PromisedFs = {
    open: (path, flags) => p((cb) => d.open(path, flags, cb)),
    writev: (fd, b, pos) => p((cb) => d.writev(fd, b, pos, cb)),
    fdatasync: (fd) => p((cb) => d.fdatasync(fd, cb)),
    fsync: (fd) => p((cb) => d.fsync(fd, cb)),
    close: (fd) => p((cb) => d.close(fd, cb)),
    readFile: (path) => p((cb) => d.readFile(path, cb)),
    readdir: (path) => p((cb) => d.readdir(path, cb)),
    rename: (a, b) => p((cb) => d.rename(a, b, cb)),
    unlink: (path) => p((cb) => d.unlink(path, cb)),
    truncate: (path, n) => p((cb) => d.truncate(path, n, cb)),
    mkdir: (path) => p((cb) => d.mkdir(path, cb)),
    syncDir: async (dir) => {
      const fd = await out.open(dir, 'r');
      try { await out.fsync(fd); } finally { await out.close(fd); }
    },
  };
  return out;
}

/** Write a whole file durably under a temporary name: create, write, fdatasync, close. */
export async function writeFileDurably(pfs: PromisedFs, path: string, data: Buffer): Promise<void> {
  const fd = await pfs.open(path, 'wx');
  try {
    await pfs.writev(fd, [data], 0);
    await pfs.fdatasync(fd);
  } finally {
    await pfs.close(fd);
  }
}
