import { expect } from 'chai';
import * as path from 'node:path';
import { recover, walStateFrom, Recovered, RecoverOptions } from '../../server/replica/disk/recovery';
import { Wal, segmentName } from '../../server/replica/disk/wal';
import { DataDamage } from '../../server/replica/disk/log-format';
import { promisedFs } from '../../server/replica/disk/disk-fs';
import { SnapshotWriter, installSnapshot, readSnapshot, snapshotName } from '../../server/replica/disk/snapshot-file';
import { decodeManifest, encodeManifest, Manifest } from '../../server/replica/disk/manifest';
import { PowerLossFs } from '../support/power-loss-fs';

const DIR = '/data';
const options = (fs: PowerLossFs): RecoverOptions => ({ dir: DIR, fs, fresh: () => ({ id: 'ws://a', incarnation: 'inc1', lineage: 'L1' }) });
const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, k) => a + k);
const chunk = (i: number): string => JSON.stringify({ data: [[`k${i}`, 'v'.repeat(100)]], dedup: [] });

/** 30 ops over several small segments, the log closed. */
async function logOf30(fs: PowerLossFs): Promise<{ rec: Recovered; wal: Wal }> {
  const rec = await recover(options(fs));
  const wal = new Wal({ dir: DIR, fs, ...walStateFrom(rec), segmentBytes: 1024, onDurable: () => undefined, onError: () => undefined });
  for (let i = 1; i <= 30; i++) {
    wal.appendOps(i, 1, `{"type":"fwd","viewnum":2,"index":${i},"ops":[{"op":"put","key":"k${i}"}]}`);
    await new Promise((r) => setImmediate(r));
  }
  await new Promise<void>((r) => wal.close(r));
  return { rec, wal };
}

/** Snapshot at index 20 (3 chunks), install it, drop the segments it covers. */
async function snapshotAt20(fs: PowerLossFs, rec: Recovered, wal: Wal): Promise<void> {
  const pfs = promisedFs(fs);
  const w = await SnapshotWriter.create(pfs, DIR, 20, '{"revision":20}');
  for (let i = 0; i < 3; i++) await w.write(chunk(i));
  const { file } = await w.finish();
  const logFrom = wal.segmentNeededAfter(20);
  await installSnapshot(pfs, DIR, rec.manifest, file, 20, logFrom);
  await new Promise<void>((r, j) => wal.dropSegmentsBefore(logFrom, (e) => (e ? j(e) : r())));
}

/** Every op 1..30 is there: all in the log, or the snapshot at 20 and 21..30 after it. */
function expectAll30(r: Recovered): 'log' | 'snapshot' {
  const after = r.ops.flatMap((o) => range(o.index, o.index + o.count - 1)).filter((i) => i > (r.snapshot?.index ?? 0));
  if (r.snapshot === null) { expect(after).to.deep.equal(range(1, 30)); return 'log'; }
  expect(r.snapshot.index).to.equal(20);
  expect(r.snapshot.chunks.map((c) => c.toString())).to.deep.equal([chunk(0), chunk(1), chunk(2)]);
  expect(after).to.deep.equal(range(21, 30));
  return 'snapshot';
}

describe('snapshot files and the manifest swap', () => {
  it('recovers the snapshot, then the ops after it; the covered segments are gone', async () => {
    const fs = new PowerLossFs();
    const { rec, wal } = await logOf30(fs);
    const before = wal.segmentList.length;
    await snapshotAt20(fs, rec, wal);
    expect(wal.segmentList.length).to.be.below(before);
    fs.powerLoss(); fs.restart();
    const r = await recover(options(fs));
    expect(expectAll30(r)).to.equal('snapshot');
    expect(r.snapshot!.meta.toString()).to.equal('{"revision":20}');
    expect(r.manifest.logFrom).to.equal(wal.segmentList[0].seq);
  });

  const crashPoints: [string, Parameters<PowerLossFs['crashAt']>, 'log' | 'snapshot'][] = [
    ['while the snapshot is written', ['writev', '.snap.tmp'], 'log'],
    ['before the manifest rename', ['rename', 'MANIFEST.tmp'], 'log'],
    ['after the manifest rename, before the directory fsync', ['fsync', DIR], 'log'],
    ['after the manifest is durable, before the old segments are dropped', ['unlink', '.wal'], 'snapshot'],
  ];
  for (const [when, at, expected] of crashPoints) {
    it(`loses nothing when the power goes ${when} (write, fsync, rename, fsync the directory)`, async () => {
      const fs = new PowerLossFs();
      const { rec, wal } = await logOf30(fs);
      fs.crashAt(...at);
      let failed: NodeJS.ErrnoException | null = null;
      await snapshotAt20(fs, rec, wal).catch((e) => { failed = e; });
      expect(failed!.code).to.equal('EPOWER');
      fs.restart();
      const r = await recover(options(fs));
      expect(expectAll30(r)).to.equal(expected);
      const names = await promisedFs(fs).readdir(DIR);
      expect(names.filter((n) => n.endsWith('.tmp'))).to.deep.equal([]); // strays removed
      if (expected === 'snapshot') expect(names).to.not.include(segmentName(1));
    });
  }

  it('refuses a snapshot without its end record (never named by a manifest when complete)', async () => {
    const fs = new PowerLossFs();
    const pfs = promisedFs(fs);
    await pfs.mkdir(DIR);
    const w = await SnapshotWriter.create(pfs, DIR, 5, '{}');
    await w.write(chunk(0));
    await pfs.rename(path.join(DIR, snapshotName(5) + '.tmp'), path.join(DIR, snapshotName(5)));
    const err = await readSnapshot(pfs, DIR, snapshotName(5)).catch((e) => e);
    expect(err).to.be.instanceOf(DataDamage);
    expect(err.reason).to.match(/incomplete/);
  });

  it('round-trips a manifest and rejects one with a bad field', () => {
    const m: Manifest = { version: 1, id: 'ws://a', incarnation: 'i', lineage: 'L', snapshot: { file: 'snap-1.snap', index: 1 }, logFrom: 2 };
    expect(decodeManifest(encodeManifest(m))).to.deep.equal(m);
    const evil = { ...m, snapshot: { file: '../etc/passwd', index: 1 } };
    expect(decodeManifest(encodeManifest(evil))).to.be.a('string');
  });
});
