import { expect } from 'chai';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { Wal, DurableMark } from '../../server/replica/disk/wal';
import { recover, walStateFrom } from '../../server/replica/disk/recovery';
import { teardownAfterEach } from '../support/teardown';

const teardown = teardownAfterEach();

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'understudy-wal-'));
  teardown.push(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

const frame = (i: number): string => `{"type":"fwd","viewnum":2,"index":${i},"ops":[{"type":"req","client":"c","seq":${i},"op":"put","key":"key${i % 1000}","value":"${'x'.repeat(100)}"}]}`;

describe('Wal on the real file system', () => {
  it('group-commits 16×64 concurrent writers: fsyncs < appends/5 (SPEC §9: one fsync per batch)', async () => {
    const dir = await tempDir();
    const rec = await recover({ dir, fresh: () => ({ id: 'ws://a', incarnation: 'i', lineage: 'L' }) });
    const waiting: { index: number; resolve: () => void }[] = [];
    const onDurable = (m: DurableMark): void => {
      while (waiting.length > 0 && waiting[0].index <= m.index) waiting.shift()!.resolve();
    };
    const wal = new Wal({ dir, ...walStateFrom(rec), onDurable, onError: (e) => { throw e; } });
    teardown.push(() => new Promise<void>((r) => wal.close(r)));
    let next = 1;
    // Each of 1024 writers appends, waits until its op is durable, appends again: closed loop, like a client.
    const writer = async (rounds: number): Promise<void> => {
      for (let k = 0; k < rounds; k++) {
        const i = next++;
        const durable = new Promise<void>((resolve) => waiting.push({ index: i, resolve }));
        wal.appendOps(i, 1, frame(i));
        await durable;
      }
    };
    await Promise.all(Array.from({ length: 16 * 64 }, () => writer(4)));
    expect(wal.stats.ops).to.equal(4096);
    expect(wal.stats.fsyncs).to.be.below(4096 / 5);
    // Recovery sees every op, in order.
    await new Promise<void>((r) => wal.close(r));
    const again = await recover({ dir, fresh: () => { throw new Error('not fresh'); } });
    expect(again.lastIndex).to.equal(4096);
    expect(again.ops.map((o) => o.index)).to.deep.equal(Array.from({ length: 4096 }, (_, k) => k + 1));
  });
});
