import { expect } from 'chai';
import * as path from 'node:path';
import { Wal, WalOptions, DurableMark, segmentName, FsyncPolicy } from '../../server/replica/disk/wal';
import { scan, RecordType } from '../../server/replica/disk/log-format';
import { PowerLossFs } from '../support/power-loss-fs';

const DIR = '/data';
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

async function openWal(fs: PowerLossFs, o: Partial<WalOptions> = {}): Promise<{ wal: Wal; marks: DurableMark[]; errors: Error[] }> {
  await new Promise<void>((r) => fs.mkdir(DIR, () => r()));
  const marks: DurableMark[] = [];
  const errors: Error[] = [];
  const wal = new Wal({
    dir: DIR, fs, identity: '{"id":"ws://a","incarnation":"i1"}',
    onDurable: (m) => marks.push(m), onError: (e) => errors.push(e), ...o,
  });
  return { wal, marks, errors };
}

async function until(cond: () => boolean, fs?: PowerLossFs): Promise<void> {
  for (let i = 0; i < 10_000 && !cond(); i++) { fs?.releaseSyncs(); await turn(); }
  expect(cond(), 'condition never became true').to.equal(true);
}

function frame(i: number): string {
  return `{"type":"fwd","viewnum":2,"index":${i},"ops":[{"type":"req","client":"c","seq":${i},"op":"put","key":"k${i}","value":"v"}]}`;
}

const range = (a: number, b: number): number[] => Array.from({ length: b - a + 1 }, (_, k) => a + k);

function opsOnDisk(fs: PowerLossFs, seq = 1): number[] {
  const buf = fs.contentOf(path.join(DIR, segmentName(seq))) ?? Buffer.alloc(0);
  return scan(buf).records.filter((r) => r.type === RecordType.Ops).map((r) => r.index);
}

describe('Wal', () => {
  describe('group commit (SPEC §9: one fsync per batch, never one per operation)', () => {
    it('batches every append that arrives during an fsync into the next one: 1024 appends, fsyncs < appends/5', async () => {
      const fs = new PowerLossFs();
      fs.holdSyncs = true; // each fdatasync lasts until the test releases it: about 4 turns
      const { wal, marks } = await openWal(fs);
      let next = 1;
      for (let t = 0; t < 64; t++) {
        for (let c = 0; c < 16; c++, next++) wal.appendOps(next, 1, frame(next));
        await turn();
        if (t % 4 === 3) fs.releaseSyncs();
      }
      await until(() => marks.length > 0 && marks[marks.length - 1].index === 1024, fs);
      expect(wal.stats.ops).to.equal(1024);
      expect(wal.stats.fsyncs).to.be.below(1024 / 5);
      expect(wal.stats.ops / wal.stats.fsyncs).to.be.at.least(16);
      for (let i = 1; i < marks.length; i++) expect(marks[i].seq).to.be.above(marks[i - 1].seq);
    });

    it('caps a batch at about 4 MiB after a stall; the marks still cover every append, in order', async () => {
      const fs = new PowerLossFs();
      const { wal, marks } = await openWal(fs);
      const big = 'x'.repeat(1024 * 1024);
      for (let i = 1; i <= 10; i++) wal.appendOps(i, 1, big);
      await until(() => marks.length > 0 && marks[marks.length - 1].index === 10);
      expect(wal.stats.batches).to.be.at.least(3); // 10 MiB (and the segment head) in batches of ≤ ~4 MiB
      expect(marks.map((m) => m.seq)).to.deep.equal([...marks.map((m) => m.seq)].sort((a, b) => a - b));
      expect(marks[marks.length - 1].seq).to.equal(10);
      expect(opsOnDisk(fs)).to.deep.equal(range(1, 10));
    });

    it('has at most one fdatasync in flight', async () => {
      const fs = new PowerLossFs();
      fs.holdSyncs = true;
      const { wal } = await openWal(fs);
      await until(() => fs.heldSyncs === 0 && wal.stats.batches === 1, fs); // the segment head
      for (let i = 1; i <= 50; i++) { wal.appendOps(i, 1, frame(i)); await turn(); }
      expect(fs.heldSyncs).to.equal(1);
    });

    it('reports durable only after the fdatasync returned (--fsync always)', async () => {
      const fs = new PowerLossFs();
      const { wal, marks } = await openWal(fs);
      await until(() => marks.length === 1, fs);
      fs.holdSyncs = true;
      wal.appendOps(1, 1, frame(1));
      for (let i = 0; i < 5; i++) await turn();
      expect(marks.map((m) => m.index)).to.deep.equal([0]);
      fs.releaseSyncs();
      await until(() => marks.length === 2);
      expect(marks[1]).to.deep.equal({ seq: 1, index: 1, viewnum: 0 });
    });
  });

  describe('power loss (the shim drops what was written but not fdatasynced)', () => {
    it('keeps every op reported durable under --fsync always', async () => {
      const fs = new PowerLossFs();
      const { wal, marks } = await openWal(fs);
      for (let i = 1; i <= 20; i++) { wal.appendOps(i, 1, frame(i)); if (i % 3 === 0) await turn(); }
      await until(() => marks.length > 0 && marks[marks.length - 1].index >= 10);
      const durable = marks[marks.length - 1].index;
      fs.holdSyncs = true;
      for (let i = 21; i <= 30; i++) wal.appendOps(i, 1, frame(i));
      await turn(); await turn();
      fs.powerLoss();
      const kept = opsOnDisk(fs);
      expect(kept.slice(0, durable)).to.deep.equal(Array.from({ length: durable }, (_, k) => k + 1));
      expect(kept).to.not.include(21);
    });

    it('loses ops reported written under --fsync no (the shim does tell fsynced from written)', async () => {
      const fs = new PowerLossFs();
      const { wal, marks } = await openWal(fs, { fsync: 'no' as FsyncPolicy });
      for (let i = 1; i <= 5; i++) wal.appendOps(i, 1, frame(i));
      await until(() => marks.length > 0 && marks[marks.length - 1].index === 5);
      expect(opsOnDisk(fs)).to.deep.equal([1, 2, 3, 4, 5]);
      fs.powerLoss();
      expect(opsOnDisk(fs)).to.deep.equal([]);
    });

    it('loses a new segment whose directory entry was never fsynced, so it reports nothing in it before that', async () => {
      const fs = new PowerLossFs();
      fs.crashAt('fsync', DIR); // the power goes during the directory fsync of the first segment
      const { wal, marks, errors } = await openWal(fs);
      wal.appendOps(1, 1, frame(1));
      for (let i = 0; i < 10; i++) await turn();
      expect(marks).to.deep.equal([]);
      expect(errors.map((e) => (e as NodeJS.ErrnoException).code)).to.deep.equal(['EPOWER']);
      fs.restart();
      expect(fs.contentOf(path.join(DIR, segmentName(1)))).to.equal(undefined);
    });
  });

  describe('--fsync everysec (SPEC §9: may lose the last second on power loss, never on a process crash)', () => {
    it('reports durable once written (in the page cache), and fdatasyncs on tick()', async () => {
      const fs = new PowerLossFs();
      const { wal, marks } = await openWal(fs, { fsync: 'everysec', autoTick: false });
      for (let i = 1; i <= 3; i++) wal.appendOps(i, 1, frame(i));
      await until(() => marks.length > 0 && marks[marks.length - 1].index === 3);
      expect(wal.stats.fsyncs).to.equal(0);
      expect(opsOnDisk(fs)).to.deep.equal([1, 2, 3]); // a process crash keeps these
      wal.tick();
      await until(() => wal.stats.fsyncs === 1);
      wal.appendOps(4, 1, frame(4));
      await until(() => marks[marks.length - 1].index === 4);
      fs.powerLoss(); // the power cut loses what came after the last tick
      expect(opsOnDisk(fs)).to.deep.equal([1, 2, 3]);
    });

    it('a tick that comes while a write is in flight syncs right after that write (a steady load never skips the second\'s fdatasync)', async () => {
      const fs = new PowerLossFs();
      const { wal, marks } = await openWal(fs, { fsync: 'everysec', autoTick: false });
      wal.appendOps(1, 1, frame(1));
      await until(() => marks.length > 0 && marks[marks.length - 1].index === 1);
      wal.appendOps(2, 1, frame(2));
      await Promise.resolve(); // the batch starts on the next microtask: its write is in flight now
      wal.tick();
      await until(() => marks[marks.length - 1].index === 2 && wal.stats.fsyncs === 1);
      fs.powerLoss();
      expect(opsOnDisk(fs)).to.deep.equal([1, 2]);
    });
  });

  describe('segments', () => {
    it('rolls past segmentBytes; each segment starts with the identity and the last view', async () => {
      const fs = new PowerLossFs();
      const { wal, marks } = await openWal(fs, { segmentBytes: 1024 });
      wal.appendView(2, '{"viewnum":2}');
      for (let i = 1; i <= 60; i++) { wal.appendOps(i, 1, frame(i)); await turn(); }
      await until(() => marks.length > 0 && marks[marks.length - 1].index === 60);
      const segs = wal.segmentList;
      expect(segs.length).to.be.above(3);
      const all: number[] = [];
      for (const s of segs) {
        const recs = scan(fs.contentOf(path.join(DIR, segmentName(s.seq)))!).records;
        expect(recs[0].type).to.equal(RecordType.Identity);
        expect(recs[1]).to.include({ type: RecordType.View, index: 2 });
        const ops = recs.filter((r) => r.type === RecordType.Ops).map((r) => r.index);
        if (ops.length > 0) expect(ops[0]).to.equal(s.firstIndex);
        all.push(...ops);
      }
      expect(all).to.deep.equal(Array.from({ length: 60 }, (_, k) => k + 1));
    });

    it('drops the segments a snapshot made unnecessary', async () => {
      const fs = new PowerLossFs();
      const { wal, marks } = await openWal(fs, { segmentBytes: 1024 });
      for (let i = 1; i <= 60; i++) { wal.appendOps(i, 1, frame(i)); await turn(); }
      await until(() => marks.length > 0 && marks[marks.length - 1].index === 60);
      const from = wal.segmentNeededAfter(30);
      const holder = wal.segmentList.find((s) => s.seq === from)!;
      expect(holder.firstIndex).to.be.at.most(31);
      await new Promise<void>((r, j) => wal.dropSegmentsBefore(from, (e) => (e ? j(e) : r())));
      expect(wal.segmentList[0].seq).to.equal(from);
      expect(fs.contentOf(path.join(DIR, segmentName(1)))).to.equal(undefined);
      fs.powerLoss(); // the removal was made durable by a directory fsync
      expect(fs.contentOf(path.join(DIR, segmentName(1)))).to.equal(undefined);
    });
  });

  describe('failures', () => {
    it('stops at the first failed write or fdatasync and reports it, never retrying (fsyncgate)', async () => {
      const fs = new PowerLossFs();
      const { wal, marks, errors } = await openWal(fs);
      await until(() => marks.length === 1);
      fs.crashAt('fdatasync', '.wal');
      wal.appendOps(1, 1, frame(1));
      await until(() => errors.length === 1);
      expect(marks.map((m) => m.index)).to.deep.equal([0]);
      expect(() => wal.appendOps(2, 1, frame(2))).to.throw(/failed/);
      await new Promise<void>((r) => wal.close(r)); // close still returns
    });

    it('reports a record over the limits through onError, not as an uncaught exception', async () => {
      const fs = new PowerLossFs();
      const { wal, errors } = await openWal(fs);
      wal.appendOps(1, 1, 'x'.repeat(17 * 1024 * 1024));
      await until(() => errors.length === 1);
      expect(errors[0]).to.be.instanceOf(RangeError);
    });
  });

  describe('#close', () => {
    it('writes and syncs what is queued, then closes', async () => {
      const fs = new PowerLossFs();
      const { wal } = await openWal(fs, { fsync: 'everysec' });
      for (let i = 1; i <= 3; i++) wal.appendOps(i, 1, frame(i));
      await new Promise<void>((r) => wal.close(r));
      fs.powerLoss();
      expect(opsOnDisk(fs)).to.deep.equal([1, 2, 3]);
      expect(() => wal.appendOps(4, 1, frame(4))).to.throw(/closed/);
    });
  });
});
