/**
 * The power-loss shim under a whole process (test/support/power-loss-preload.js + power-loss-cut.ts):
 * after the process dies, what it wrote but never synced is gone (SPEC §9: the fsync discipline).
 */
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { powerLossEnv, powerCut } from '../support/power-loss-cut';

describe('power-loss shim under a whole process (SPEC §9)', () => {
  it('cuts each file to its size at its last sync and drops names created after the directory\'s last fsync; renames follow their file', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-pl-'));
    const journal = `${dir}.journal`;
    try {
      const script = `
        const fs = require('fs'); const p = require('path'); const d = ${JSON.stringify(dir)};
        const syncDir = (cb) => fs.open(d, 'r', 0o644, (e, fd) => fs.fsync(fd, () => fs.close(fd, cb)));
        fs.open(p.join(d, 'log'), 'wx', 0o644, (e, fd) => syncDir(() =>
          fs.writev(fd, [Buffer.from('0123456789')], 0, () => fs.fdatasync(fd, () =>
            fs.writev(fd, [Buffer.from('ABCDE')], 10, () =>
              fs.open(p.join(d, 'm.tmp'), 'wx', 0o644, (e2, fd2) => fs.writev(fd2, [Buffer.from('manifest')], 0, () => fs.fdatasync(fd2, () =>
                fs.rename(p.join(d, 'm.tmp'), p.join(d, 'log2'), () => fs.open(p.join(d, 'lost'), 'wx', 0o644, () => process.exit(0)))))))))));`;
      const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ...powerLossEnv(journal), UNDERSTUDY_DATA_DIR: dir } });
      expect(r.status, String(r.stderr)).to.equal(0);
      expect(fs.readFileSync(path.join(dir, 'log'), 'utf8')).to.equal('0123456789ABCDE'); // kill -9 would keep it all
      const cut = powerCut(dir, journal);
      expect(fs.readFileSync(path.join(dir, 'log'), 'utf8')).to.equal('0123456789');
      expect(fs.readdirSync(dir).sort()).to.deep.equal(['log']); // log2 and lost: names never made durable
      expect(cut).to.deep.equal({ bytes: 5 + 8 + 0, names: 2 });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(journal, { force: true });
    }
  });
});
