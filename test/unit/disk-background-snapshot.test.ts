/**
 * Background snapshots of a running replica (SPEC §9, docs/DURABILITY.md §3): the store is
 * written through the copy-on-write cursor, a chunk per turn, while writes go on; then the
 * manifest names it and the covered segments go. A power cut at ANY file-system call of the
 * run (the shim keeps only what was fsynced) recovers every acknowledged operation, and the
 * state recovered is exactly the state after the operations up to its index.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Durability, type DiskObserver } from '../../server/replica/durability';
import { ReplicaMachine } from '../../server/replica/replica-machine';
import { KvState, type TransferCursor, type SnapshotChunk } from '../../server/replica/kv-state';
import { digestOf } from '../../server/replica/http-routes';
import { encode } from '../../common/protocol';
import { DEFAULT_LIMITS } from '../../common/limits';
import type { ReqMsg } from '../../common/messages';
import type { DiskFs, Cb } from '../../server/replica/disk/disk-fs';
import { PowerLossFs } from '../support/power-loss-fs';
import { mulberry32 } from '../support/random';

const DATA = '/data';
const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

/**
 * The shim behind a real directory name (the lock is a real file; the data lives in the
 * shim under /data), counting calls and cutting the power at call number `cutAt`.
 */
class CuttingFs implements DiskFs {
  calls = 0;
  constructor(private readonly shim: PowerLossFs, private readonly real: string, private readonly cutAt = Infinity, private readonly rand?: () => number) {}
  private p(x: string): string { return x.startsWith(this.real) ? DATA + x.slice(this.real.length) : x; }
  private tick(): void { if (++this.calls === this.cutAt) this.shim.powerLoss(this.rand); }
  open(p: string, flags: string, cb: Cb<number>): void { this.tick(); this.shim.open(this.p(p), flags, cb); }
  writev(fd: number, b: Buffer[], pos: number, cb: Cb<number>): void { this.tick(); this.shim.writev(fd, b, pos, cb); }
  fdatasync(fd: number, cb: Cb): void { this.tick(); this.shim.fdatasync(fd, cb); }
  fsync(fd: number, cb: Cb): void { this.tick(); this.shim.fsync(fd, cb); }
  close(fd: number, cb: Cb): void { this.tick(); this.shim.close(fd, cb); }
  readFile(p: string, cb: Cb<Buffer>): void { this.tick(); this.shim.readFile(this.p(p), cb); }
  readdir(p: string, cb: Cb<string[]>): void { this.tick(); this.shim.readdir(this.p(p), cb); }
  rename(a: string, b: string, cb: Cb): void { this.tick(); this.shim.rename(this.p(a), this.p(b), cb); }
  unlink(p: string, cb: Cb): void { this.tick(); this.shim.unlink(this.p(p), cb); }
  truncate(p: string, n: number, cb: Cb): void { this.tick(); this.shim.truncate(this.p(p), n, cb); }
  mkdir(p: string, cb: Cb): void { this.tick(); this.shim.mkdir(this.p(p), cb); }
}

const KEYS = 200;
const TURNS = 70;
const OPS_PER_TURN = 5;

/** The workload: puts of ~100 B (some appends, some deletes) over 200 keys, the same for every seed. */
function workload(): ReqMsg[] {
  const rand = mulberry32(7);
  const out: ReqMsg[] = [];
  for (let i = 0; i < KEYS; i++) out.push({ type: 'req', client: 'c', seq: i + 1, ack: 0, op: 'put', key: `k${i}`, value: `${i}:`.padEnd(100, 'v') });
  for (let i = 0; i < TURNS * OPS_PER_TURN; i++) {
    const r = rand();
    const op = r < 0.1 ? 'delete' : r < 0.25 ? 'append' : 'put';
    out.push({ type: 'req', client: 'c', seq: out.length + 1, ack: 0, op, key: `k${Math.floor(rand() * KEYS)}`, ...(op === 'delete' ? {} : { value: `${i}`.padEnd(op === 'put' ? 100 : 10, 'w') }) });
  }
  return out;
}

/** digests[i]: the state after the first i operations. */
function referenceDigests(ops: ReqMsg[]): string[] {
  const s = new KvState();
  const out = [digestOf(s.sortedEntries())];
  for (const op of ops) { s.apply(op); out.push(digestOf(s.sortedEntries())); }
  return out;
}

const OPS = workload();
const DIGESTS = referenceDigests(OPS);

interface Run { installed: boolean; acked: number; fatal: Error | null; snapshots: number; calls: number; d: Durability }

/** The turn at which, with `install`, the store is replaced as a backup's installed transfer would replace it. */
const INSTALL_TURN = 20;

/**
 * Run the workload against a Durability over `cfs`: the initial keys in one turn, then a few
 * ops per turn. With `install`, the view is logged first and, at INSTALL_TURN, the store is
 * replaced by a copy built apart (a transfer installed at xfer-end: persistState).
 */
async function runWorkload(cfs: CuttingFs, dir: string, install = false): Promise<Run> {
  const out: Run = { installed: false, acked: 0, fatal: null, snapshots: 0, calls: 0, d: null as unknown as Durability };
  const observe: DiskObserver = { sync: () => undefined, snapshot: () => { out.snapshots++; }, walReplaced: () => undefined };
  let d: Durability;
  try {
    d = await Durability.open({ dir, fsync: 'always', resetData: false, id: 'ws://a', limits: DEFAULT_LIMITS, log: process.env.DBG ? { info: (o: object, m: string) => console.log(m, o), warn: silent.warn, error: silent.error } : silent, fatal: (e) => { out.fatal ??= e; }, fs: cfs, snapshotLogBytes: 8 * 1024, snapshotChunkBytes: 4 * 1024, observe });
  } catch (e) {
    out.fatal = e as Error; // the power went while opening
    return out;
  }
  out.d = d;
  let store = new KvState();
  d.start((input) => {
    if (input.kind === 'logged' || input.kind === 'stateLogged') out.acked = Math.max(out.acked, input.index);
    if (input.kind === 'stateLogged') out.installed = true;
  }, () => store);
  const apply = (n: number): void => {
    for (let k = 0; k < n && store.index < OPS.length; k++) {
      const req = OPS[store.index];
      store.apply(req);
      d.persistOps(store.index, 1, encode({ type: 'fwd', viewnum: 1, index: store.index, ops: [req] }));
    }
  };
  try {
    if (install) d.persistView({ viewnum: 1, primary: 'ws://p', backup: 'ws://a' }, { primary: 'p1', backup: 'a1' });
    apply(KEYS);
    for (let turn = 1; store.index < OPS.length && out.fatal === null; turn++) {
      await new Promise((r) => setImmediate(r));
      if (install && turn === INSTALL_TURN) {
        const copy = new KvState();
        for (let i = 0; i < store.index; i++) copy.apply(OPS[i]);
        store = copy;
        d.persistState(1, store, []);
      }
      apply(OPS_PER_TURN);
    }
    // Let the last batch and a snapshot under way finish (or fail).
    for (let i = 0; i < 300 && out.fatal === null; i++) await new Promise((r) => setImmediate(r));
  } catch (e) {
    out.fatal ??= e as Error; // an append after the power went (the log failed)
  }
  out.calls = cfs.calls;
  return out;
}

/** Recover from the shim: the state, its index. */
async function recoverStore(shim: PowerLossFs, dir: string): Promise<{ store: KvState; d: Durability; viewnum: number }> {
  const d = await Durability.open({ dir, fsync: 'always', resetData: false, id: 'ws://a', limits: DEFAULT_LIMITS, log: silent, fatal: (e) => { throw e; }, fs: new CuttingFs(shim, dir) });
  const m = new ReplicaMachine({ me: 'ws://a', incarnation: d.incarnation, limits: DEFAULT_LIMITS, durable: true });
  d.restore(m);
  return { store: m.store, d, viewnum: m.view.viewnum };
}

describe('KvState.openSnapshot: a second copy-on-write cursor beside the transfer (docs/DURABILITY.md §3)', () => {
  /** Everything a cursor yields, as a transfer or writeSnapshot takes it, interleaved with `between` writes. */
  function drain(c: TransferCursor, meta: SnapshotChunk[], between: () => void): SnapshotChunk[] {
    const out = [...meta];
    while (!c.done) {
      between();
      const data = c.next(512);
      out.push(...c.takePulled(512), ...data);
    }
    out.push(...c.historyChunks(512));
    c.close();
    return out;
  }

  it('a transfer and a snapshot open at once both hold exactly the state as of their start, whatever is written meanwhile (puts, deletes, atomic commits)', () => {
    const rand = mulberry32(3);
    const s = new KvState();
    let seq = 0;
    const req = (op: ReqMsg['op'], key: string, value?: string): ReqMsg => ({ type: 'req', client: 'c', seq: ++seq, ack: 0, op, key, ...(value === undefined ? {} : { value }) });
    for (let i = 0; i < 300; i++) s.apply(req('put', `k${i}`, `v${i}`.padEnd(40, '.')));
    const write = (): void => {
      for (let n = 0; n < 5; n++) {
        const k = `k${Math.floor(rand() * 320)}`;
        const r = rand();
        if (r < 0.2) s.apply(req('delete', k));
        else if (r < 0.3) s.apply({ ...req('atomic', ''), checks: [], ops: [['put', k, 'A'], ['delete', `k${Math.floor(rand() * 300)}`]] });
        else s.apply(req('put', k, `w${seq}`));
      }
    };
    const t = s.openTransfer();
    const tBegin = { index: s.index, revision: s.revision };
    const tMeta = t.meta(512);
    const atT = digestOf(s.sortedEntries());
    write();
    const snap = s.openSnapshot();
    const sBegin = { index: s.index, revision: s.revision };
    const sMeta = snap.meta(512);
    const atS = digestOf(s.sortedEntries());
    expect(atS).to.not.equal(atT);
    const sChunks = drain(snap, sMeta, write);
    const tChunks = drain(t, tMeta, write);
    for (const [begin, chunks, want] of [[tBegin, tChunks, atT], [sBegin, sChunks, atS]] as const) {
      const copy = new KvState();
      copy.install(begin, chunks);
      expect(digestOf(copy.sortedEntries())).to.equal(want);
      expect(copy.revision).to.equal(begin.revision);
    }
  });
});

describe('background snapshots (SPEC §9, docs/DURABILITY.md §3)', function () {
  this.timeout(120_000);
  const dirs: string[] = [];
  const realDir = (): string => { const d = fs.mkdtempSync(path.join(os.tmpdir(), 'bgsnap-')); dirs.push(d); return d; };
  after(() => { for (const d of dirs) fs.rmSync(d, { recursive: true, force: true }); });

  it('snapshots a running store a chunk per turn while writes go on, drops the covered segments, and recovers the exact state', async () => {
    const shim = new PowerLossFs();
    const dir = realDir();
    const run = await runWorkload(new CuttingFs(shim, dir), dir);
    expect(run.fatal).to.equal(null);
    expect(run.acked).to.equal(OPS.length);
    expect(run.snapshots).to.be.at.least(2);
    const names = await new Promise<string[]>((r, j) => shim.readdir(DATA, (e, v) => (e ? j(e) : r(v))));
    expect(names.filter((n) => n.endsWith('.snap'))).to.have.length(1);
    expect(names.filter((n) => n.endsWith('.tmp'))).to.deep.equal([]);
    // Disk use: the snapshot and the log since (about the threshold), within 3× the live data.
    const bytes = names.reduce((n, f) => n + (shim.contentOf(path.join(DATA, f))?.length ?? 0), 0);
    const live = names.filter((n) => n.endsWith('.snap')).reduce((n, f) => n + shim.contentOf(path.join(DATA, f))!.length, 0);
    expect(bytes).to.be.at.most(3 * live);
    await new Promise<void>((r) => run.d.close().then(r));
    shim.powerLoss();
    shim.restart();
    const { store, d } = await recoverStore(shim, realDir());
    expect(store.index).to.equal(OPS.length);
    expect(digestOf(store.sortedEntries())).to.equal(DIGESTS[OPS.length]);
    await d.close();
  });

  for (const install of [false, true]) {
  it(`a power cut at every file-system call of the run (snapshots included${install ? ', and a backup\'s installed state written a chunk per turn' : ''}) loses no acknowledged operation and recovers an exact state`, async () => {
    const probe = await runWorkload(new CuttingFs(new PowerLossFs(), realDir()), dirs[dirs.length - 1], install);
    await probe.d.close();
    expect(probe.installed).to.equal(install);
    const total = probe.calls;
    expect(total).to.be.above(100);
    let torn = 0;
    for (let cut = 1; cut <= total; cut++) {
      const shim = new PowerLossFs();
      const rand = cut % 2 === 0 ? mulberry32(cut) : undefined; // half the cuts with torn writes
      if (rand) torn++;
      const dir = realDir();
      const cfs = new CuttingFs(shim, dir, cut, rand);
      const run = await runWorkload(cfs, dir, install);
      shim.restart();
      const where = `power cut at call ${cut} of ${total}`;
      const { store, d, viewnum } = await recoverStore(shim, realDir()).catch((e: Error) => { throw new Error(`${where}: recovery failed: ${e.message}`); });
      expect(store.index, where).to.be.at.least(run.acked);
      if (install && run.acked > 0) expect(viewnum, `${where}: the view logged before every op`).to.equal(1);
      expect(digestOf(store.sortedEntries()), where).to.equal(DIGESTS[store.index]);
      await d.close();
    }
    expect(torn).to.be.above(0);
  });
  }
});
