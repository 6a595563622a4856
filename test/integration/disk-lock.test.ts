import { expect } from 'chai';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireLock, DataDirLocked, LOCK_FILE } from '../../server/replica/disk/lock';
import { teardownAfterEach } from '../support/teardown';

const teardown = teardownAfterEach();

async function tempDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'understudy-lock-'));
  teardown.push(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

async function refusal(p: Promise<unknown>): Promise<DataDirLocked> {
  const err = await p.then(() => null, (e) => e);
  expect(err).to.be.instanceOf(DataDirLocked);
  return err as DataDirLocked;
}

describe('data dir lock (issue #11: two processes never share a data dir)', () => {
  it('refuses a second opener in the same process, with a message naming the lock file', async () => {
    const dir = await tempDir();
    const lock = await acquireLock(dir);
    teardown.push(() => lock.release());
    const err = await refusal(acquireLock(dir));
    expect(err.message).to.include(path.join(dir, LOCK_FILE)).and.to.include('--data-dir');
    await lock.release();
    const again = await acquireLock(dir); // released: free again
    await again.release();
  });

  it('refuses a second process while the first holds the lock, and takes it over once the first was killed -9', async () => {
    const dir = await tempDir();
    const script = `require(${JSON.stringify(path.resolve(__dirname, '../../server/replica/disk/lock'))})`
      + `.acquireLock(${JSON.stringify(dir)}).then(() => { console.log('locked'); setInterval(() => {}, 1000); })`;
    const child = spawn(process.execPath, ['-r', 'ts-node/register', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, TS_NODE_TRANSPILE_ONLY: 'true' },
    });
    teardown.push(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (d: Buffer) => { if (d.toString().includes('locked')) resolve(); });
      child.once('exit', (code) => reject(new Error(`child exited with ${code} before locking`)));
    });
    const err = await refusal(acquireLock(dir));
    expect(err.message).to.include(`running process ${child.pid}`).and.to.include(path.join(dir, LOCK_FILE));
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL'); // leaves its lock file behind, as a crash does
    await exited;
    const lock = await acquireLock(dir); // stale: its owner is dead
    const owner = JSON.parse(await fs.readFile(path.join(dir, LOCK_FILE), 'utf8'));
    expect(owner.pid).to.equal(process.pid);
    await lock.release();
    await fs.access(path.join(dir, LOCK_FILE)).then(() => expect.fail('lock file left behind'), () => undefined);
  });

  it('takes over a lock naming its own pid that it does not hold (a container restarted as the same pid)', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid: process.pid, host: os.hostname(), since: 'before' }));
    const lock = await acquireLock(dir);
    await lock.release();
  });

  it('never takes over a lock from another host, nor an unreadable one', async () => {
    const dir = await tempDir();
    await fs.writeFile(path.join(dir, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', since: 'x' }));
    expect((await refusal(acquireLock(dir))).message).to.include('on host elsewhere');
    await fs.writeFile(path.join(dir, LOCK_FILE), 'garbage');
    expect((await refusal(acquireLock(dir))).message).to.include('unreadable');
  });
});
