/**
 * The power-loss shim under a whole replica process (SPEC §9, docs/DURABILITY.md §10), TEST
 * ONLY. Loaded with `node --require` (NODE_OPTIONS) in a child whose environment has
 * UNDERSTUDY_POWER_JOURNAL and UNDERSTUDY_DATA_DIR: it wraps the callback `fs.open`,
 * `fs.fdatasync`, `fs.fsync` and `fs.rename` the disk layer uses (disk-fs.ts looks them up at
 * call time) and journals, synchronously, what each completed sync made durable: a file's
 * size at its fdatasync/fsync, a directory's names at its fsync, and renames. After the
 * process is killed, `powerCut` (power-loss-cut.ts) cuts the data dir back to that: what was
 * written but never synced is gone, as after a power cut (kill -9 alone keeps the page cache).
 */
'use strict';
const fs = require('fs');
const path = require('path');

const journal = process.env.UNDERSTUDY_POWER_JOURNAL;
const dataDir = process.env.UNDERSTUDY_DATA_DIR;
if (journal && dataDir) {
  const root = path.resolve(dataDir);
  const fds = new Map();
  const rel = (p) => path.relative(root, path.resolve(p));
  const inside = (p) => { const r = rel(p); return r === '' || (!r.startsWith('..') && !path.isAbsolute(r)); };
  const note = (o) => fs.appendFileSync(journal, JSON.stringify(o) + '\n');
  const open = fs.open;
  fs.open = function (p, flags, mode, cb) {
    const done = typeof mode === 'function' ? mode : cb;
    const wrapped = (err, fd) => { if (!err && typeof p === 'string' && inside(p)) fds.set(fd, p); done(err, fd); };
    return typeof mode === 'function' ? open.call(fs, p, flags, wrapped) : open.call(fs, p, flags, mode, wrapped);
  };
  const close = fs.close;
  fs.close = function (fd, cb) { fds.delete(fd); return close.call(fs, fd, cb); };
  const synced = (fd) => {
    const p = fds.get(fd);
    if (p === undefined) return;
    const st = fs.fstatSync(fd);
    if (st.isDirectory()) note({ dir: rel(p), names: fs.readdirSync(p) });
    else note({ file: rel(p), size: st.size });
  };
  for (const name of ['fdatasync', 'fsync']) {
    const orig = fs[name];
    fs[name] = function (fd, cb) { return orig.call(fs, fd, (err) => { if (!err) synced(fd); cb(err); }); };
  }
  const rename = fs.rename;
  fs.rename = function (a, b, cb) {
    return rename.call(fs, a, b, (err) => { if (!err && inside(a) && inside(b)) note({ rename: [rel(a), rel(b)] }); cb(err); });
  };
}
