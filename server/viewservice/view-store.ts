/**
 * The view service's state on disk (`--data-dir`, docs/VIEW-SERVICE-RESTART.md): one small
 * JSON file, `view.json`, replaced atomically on every change:
 *
 *   write view.json.tmp ─▶ fsync it ─▶ rename over view.json ─▶ fsync the directory
 *
 * A crash at any point leaves either the old file or the new one, never a torn one. The
 * writes are synchronous on purpose: the view machine saves BEFORE it commits a view, so the
 * view is on disk before any replica or client can hear of it. A view change is rare and the
 * file is a few hundred bytes, so the cost is one or two fsyncs per change.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parsePersistedView, type PersistedView, type ViewStorage } from '../../common/recovery';

export const STATE_FILE = 'view.json';

export class FileViewStorage implements ViewStorage {
  readonly file: string;
  private readonly tmp: string;

  /** Creates `dir` (and its parents) if it does not exist. */
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
    this.file = path.join(dir, STATE_FILE);
    this.tmp = `${this.file}.tmp`;
  }

  load(): PersistedView | null {
    let text: string;
    try {
      text = fs.readFileSync(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      return parsePersistedView(text);
    } catch (err) {
      // Never start over silently: a corrupt state is for the operator to look at.
      throw new Error(`${this.file}: ${(err as Error).message}; move it away to let the view service learn the view from the replicas`);
    }
  }

  save(state: PersistedView): void {
    const fd = fs.openSync(this.tmp, 'w', 0o600);
    try {
      fs.writeSync(fd, JSON.stringify(state) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(this.tmp, this.file);
    syncDir(this.dir);
  }
}

/** Make the rename durable. Some platforms cannot fsync a directory: that is not an error there. */
function syncDir(dir: string): void {
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM' && code !== 'EBADF') throw err;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}
