/**
 * What a durable replica (--data-dir) knows of its log, and the view fence (part of the
 * replica core; docs/DURABILITY.md §8). The shell feeds `logged` from Wal.onDurable; the
 * machine releases replies up to min(backup-acked, logged), a backup acknowledges up to
 * min(applied, logged), and a new view is entered only once it is on disk.
 */
import type { View, ViewHolders } from '../../common/view';

export interface FencedView { view: View; holders: ViewHolders }

export class DurableGate {
  /** The last op index the log has on disk. */
  index = 0;
  /** The newest view the log has on disk. */
  viewnum = 0;
  private fenced: FencedView | null = null;

  /** A newer view arrived: true if it is to be logged now (a newer one than any waiting). */
  fence(view: View, holders: ViewHolders): boolean {
    if (view.viewnum <= (this.fenced?.view.viewnum ?? 0)) return false;
    this.fenced = { view, holders };
    return true;
  }

  /** The log advanced; the fenced view, once on disk, is returned (once) to be entered. */
  logged(index: number, viewnum: number): FencedView | null {
    if (index > this.index) this.index = index;
    if (viewnum > this.viewnum) this.viewnum = viewnum;
    const f = this.fenced;
    if (f === null || f.view.viewnum > this.viewnum) return null;
    this.fenced = null;
    return f;
  }
}
