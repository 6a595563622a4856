/**
 * An in-memory DiskFs that models what survives a power cut (docs/DURABILITY.md §6):
 *   - file data survives only up to the last completed fdatasync/fsync of that file (the
 *     bytes as they were when the sync was called); everything written since is dropped;
 *   - names (create, rename, unlink) survive only once their directory was fsynced;
 *   - mkdir is taken as durable at once (the data dir exists before the layer starts).
 * This is stricter than any real file system, which is the point: a kill -9 keeps the page
 * cache, so only this shows that every acknowledged byte was fsynced, and that every name
 * was made durable by a directory fsync before it was relied on.
 *
 * `crashAt(op, pathPart)` cuts the power when that operation is about to run: the call and
 * every later one fail with EPOWER until `restart()`.
 */
import * as path from 'node:path';
import type { DiskFs, Cb } from '../../server/replica/disk/disk-fs';

class Inode {
  data: Buffer = Buffer.alloc(0);
  synced: Buffer = Buffer.alloc(0);
}

interface Handle { path: string; inode: Inode | null }

function err(code: string, message: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${message}`), { code });
}

/** Synced bytes, plus a random subset of the unsynced sectors after them (the rest zeros). */
function tornWrite(inode: Inode, rand: () => number): Buffer {
  const base = inode.synced;
  const cur = inode.data;
  if (cur.length <= base.length) return Buffer.from(base);
  const length = rand() < 0.5 ? base.length : cur.length;
  const out = Buffer.alloc(length);
  base.copy(out);
  for (let s = base.length - (base.length % SECTOR); s < length; s += SECTOR) {
    if (rand() < 0.5) cur.copy(out, s, s, Math.min(s + SECTOR, length));
  }
  return out;
}

const SECTOR = 512;

export class PowerLossFs implements DiskFs {
  private readonly dirs = new Set<string>();
  private live = new Map<string, Inode>();
  private durable = new Map<string, Inode>();
  private handles = new Map<number, Handle>();
  private nextFd = 100;
  private epoch = 0;
  private dead = false;
  private crash: { op: string; part: string } | null = null;
  /** While true, fdatasync/fsync completions wait for `releaseSyncs()` (a slow disk, deterministically). */
  holdSyncs = false;
  private held: (() => void)[] = [];
  /** Calls made, by operation. */
  readonly counts = { writev: 0, fdatasync: 0, fsync: 0 };

  /** Cut the power when `op` is called on a path containing `part`. */
  crashAt(op: keyof DiskFs, part: string): void { this.crash = { op, part }; }

  /**
   * Power cut now: unsynced data and names are gone, open files closed, pending callbacks
   * never fire. With `rand`, the disk had written some of the unsynced 512-byte sectors
   * past the synced end (each with probability 1/2) and maybe the new file length: the
   * others read as zeros. That is what a torn write looks like.
   */
  powerLoss(rand?: () => number): void {
    for (const inode of new Set([...this.live.values(), ...this.durable.values()])) {
      inode.data = rand === undefined ? Buffer.from(inode.synced) : tornWrite(inode, rand);
      inode.synced = Buffer.from(inode.data);
    }
    this.live = new Map(this.durable);
    this.handles.clear();
    this.held = [];
    this.epoch++;
    this.dead = true;
  }

  /** Power back on: calls work again. */
  restart(): void { this.dead = false; this.crash = null; }

  /** Complete the held syncs (in order). */
  releaseSyncs(): void {
    const held = this.held;
    this.held = [];
    for (const f of held) f();
  }

  /** Number of syncs waiting for releaseSyncs(). */
  get heldSyncs(): number { return this.held.length; }

  /** The current (page-cache) content of a file, for tests. */
  contentOf(p: string): Buffer | undefined { return this.live.get(path.resolve(p))?.data; }

  /** Overwrite a file's content as if on disk (tests: damage, truncation). */
  setContent(p: string, data: Buffer): void {
    const inode = this.live.get(path.resolve(p));
    if (inode === undefined) throw new Error(`no file ${p}`);
    inode.data = Buffer.from(data);
    inode.synced = Buffer.from(data);
  }

  private later<T>(op: string, p: string, cb: Cb<T>, run: () => T): void {
    const epoch = this.epoch;
    if (!this.dead && this.crash !== null && this.crash.op === op && p.includes(this.crash.part)) this.powerLoss();
    if (this.dead) { setImmediate(() => cb(err('EPOWER', `${op} ${p}: power lost`), undefined as T)); return; }
    let value: T;
    try { value = run(); } catch (e) { setImmediate(() => cb(e as NodeJS.ErrnoException, undefined as T)); return; }
    setImmediate(() => { if (epoch === this.epoch) cb(null, value); });
  }

  private sync(op: 'fdatasync' | 'fsync', fd: number, cb: Cb, apply: () => void): void {
    const h = this.handles.get(fd);
    const epoch = this.epoch;
    this.later(op, h?.path ?? '?', (e) => {
      if (e !== null) return cb(e, undefined);
      // The bytes written before the call are durable when it returns, not those written meanwhile.
      const done = (): void => { if (epoch === this.epoch) { apply(); cb(null, undefined); } };
      if (this.holdSyncs) this.held.push(done); else done();
    }, () => { if (h === undefined) throw err('EBADF', `fd ${fd}`); });
  }

  open(p: string, flags: string, cb: Cb<number>): void {
    const abs = path.resolve(p);
    this.later('open', abs, cb, () => {
      let inode: Inode | null = this.live.get(abs) ?? null;
      if (this.dirs.has(abs)) inode = null;
      else if (flags === 'wx' || flags === 'w') {
        if (!this.dirs.has(path.dirname(abs))) throw err('ENOENT', abs);
        if (inode !== null && flags === 'wx') throw err('EEXIST', abs);
        inode = new Inode();
        this.live.set(abs, inode);
      } else if (inode === null) throw err('ENOENT', abs);
      const fd = this.nextFd++;
      this.handles.set(fd, { path: abs, inode });
      return fd;
    });
  }

  writev(fd: number, buffers: Buffer[], position: number, cb: Cb<number>): void {
    this.counts.writev++;
    const h = this.handles.get(fd);
    this.later('writev', h?.path ?? '?', cb, () => {
      if (h?.inode == null) throw err('EBADF', `fd ${fd}`);
      const bytes = Buffer.concat(buffers);
      const end = position + bytes.length;
      const inode = h.inode;
      if (end > inode.data.length) inode.data = Buffer.concat([inode.data, Buffer.alloc(end - inode.data.length)]);
      bytes.copy(inode.data, position);
      return bytes.length;
    });
  }

  fdatasync(fd: number, cb: Cb): void {
    this.counts.fdatasync++;
    const inode = this.handles.get(fd)?.inode;
    const snap = inode ? Buffer.from(inode.data) : null;
    this.sync('fdatasync', fd, cb, () => { if (inode && snap) inode.synced = snap; });
  }

  fsync(fd: number, cb: Cb): void {
    this.counts.fsync++;
    const h = this.handles.get(fd);
    if (h === undefined || h.inode !== null) { this.fdatasync(fd, cb); return; }
    // A directory: its names become what they are now.
    const dir = h.path;
    const names = [...this.live].filter(([p]) => path.dirname(p) === dir);
    this.sync('fsync', fd, cb, () => {
      for (const p of [...this.durable.keys()]) if (path.dirname(p) === dir) this.durable.delete(p);
      for (const [p, inode] of names) this.durable.set(p, inode);
    });
  }

  close(fd: number, cb: Cb): void {
    const h = this.handles.get(fd);
    this.later('close', h?.path ?? '?', cb, () => { this.handles.delete(fd); });
  }

  readFile(p: string, cb: Cb<Buffer>): void {
    const abs = path.resolve(p);
    this.later('readFile', abs, cb, () => {
      const inode = this.live.get(abs);
      if (inode === undefined) throw err('ENOENT', abs);
      return Buffer.from(inode.data);
    });
  }

  readdir(p: string, cb: Cb<string[]>): void {
    const abs = path.resolve(p);
    this.later('readdir', abs, cb, () => {
      if (!this.dirs.has(abs)) throw err('ENOENT', abs);
      const names = [...this.live.keys(), ...this.dirs].filter((q) => path.dirname(q) === abs && q !== abs);
      return names.map((q) => path.basename(q));
    });
  }

  rename(from: string, to: string, cb: Cb): void {
    const a = path.resolve(from);
    const b = path.resolve(to);
    this.later('rename', `${a} -> ${b}`, cb, () => {
      const inode = this.live.get(a);
      if (inode !== undefined) { this.live.delete(a); this.live.set(b, inode); return; }
      if (!this.dirs.has(a)) throw err('ENOENT', a);
      // Directories (reset-data moves the data dir aside): taken as durable at once, like mkdir.
      for (const m of [this.live, this.durable]) {
        for (const [q, n] of [...m]) if (q.startsWith(a + path.sep)) { m.delete(q); m.set(b + q.slice(a.length), n); }
      }
      for (const q of [...this.dirs]) if (q === a || q.startsWith(a + path.sep)) { this.dirs.delete(q); this.dirs.add(b + q.slice(a.length)); }
    });
  }

  unlink(p: string, cb: Cb): void {
    const abs = path.resolve(p);
    this.later('unlink', abs, cb, () => { if (!this.live.delete(abs)) throw err('ENOENT', abs); });
  }

  truncate(p: string, length: number, cb: Cb): void {
    const abs = path.resolve(p);
    this.later('truncate', abs, cb, () => {
      const inode = this.live.get(abs);
      if (inode === undefined) throw err('ENOENT', abs);
      const data = Buffer.alloc(length);
      inode.data.copy(data, 0, 0, Math.min(length, inode.data.length));
      inode.data = data;
    });
  }

  mkdir(p: string, cb: Cb): void {
    const abs = path.resolve(p);
    this.later('mkdir', abs, cb, () => {
      for (let d = abs; !this.dirs.has(d) && d !== path.dirname(d); d = path.dirname(d)) this.dirs.add(d);
    });
  }
}
