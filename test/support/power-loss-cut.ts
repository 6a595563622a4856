/**
 * The runner's half of the whole-process power-loss shim (power-loss-preload.js): after the
 * replica was killed, cut its data dir back to what its syncs made durable. TEST ONLY.
 *
 *  - a name created (or renamed into place) after its directory's last fsync is removed
 *    (renames are kept when the target name was already durable: old or new content, both
 *    complete, as the manifest swap allows);
 *  - a file is cut to its size at its last completed fdatasync/fsync (0 if never synced);
 *  - then a new journal is started whose baseline is the state after the cut.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

type Entry = { file: string; size: number } | { dir: string; names: string[] } | { rename: [string, string] };

/** NODE_OPTIONS and the journal variable for a child whose data dir is `dir`. */
export function powerLossEnv(journal: string): Record<string, string> {
  return { NODE_OPTIONS: `--require ${path.resolve(__dirname, 'power-loss-preload.js')}`, UNDERSTUDY_POWER_JOURNAL: journal };
}

/** Cut `dir` back to what `journal` says is durable; returns what was dropped (bytes, names). */
export function powerCut(dir: string, journal: string): { bytes: number; names: number } {
  const sizes = new Map<string, number>();
  let names: Set<string> | null = null;
  const lines = fs.existsSync(journal) ? fs.readFileSync(journal, 'utf8').split('\n').filter((l) => l.length > 0) : [];
  for (const line of lines) {
    const e = JSON.parse(line) as Entry;
    if ('file' in e) sizes.set(e.file, e.size);
    else if ('dir' in e) { if (e.dir === '') names = new Set(e.names); }
    else {
      const s = sizes.get(e.rename[0]);
      sizes.delete(e.rename[0]);
      if (s !== undefined) sizes.set(e.rename[1], s);
    }
  }
  let bytes = 0;
  let dropped = 0;
  if (!fs.existsSync(dir)) return { bytes, names: dropped };
  for (const name of fs.readdirSync(dir)) {
    const p = path.join(dir, name);
    if (!fs.statSync(p).isFile() || name.startsWith('LOCK')) continue; // the lock is no data: a crash leaves it stale anyway
    const size = fs.statSync(p).size;
    if (names !== null && !names.has(name)) { fs.rmSync(p); bytes += size; dropped++; continue; }
    const keep = sizes.get(name) ?? 0;
    if (keep < size) { fs.truncateSync(p, keep); bytes += size - keep; }
  }
  baseline(dir, journal);
  return { bytes, names: dropped };
}

/** A fresh journal: everything now in `dir` counts as durable. */
export function baseline(dir: string, journal: string): void {
  const out: Entry[] = [];
  if (fs.existsSync(dir)) {
    const names = fs.readdirSync(dir);
    for (const n of names) if (fs.statSync(path.join(dir, n)).isFile()) out.push({ file: n, size: fs.statSync(path.join(dir, n)).size });
    out.push({ dir: '', names });
  }
  fs.writeFileSync(journal, out.map((e) => JSON.stringify(e)).join('\n') + (out.length ? '\n' : ''));
}
