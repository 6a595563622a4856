/**
 * SPEC §10 with real processes and kill -9: a key put with `ttlMs` is gone within ttl + 100 ms
 * of its put, watchers get null, and no failover brings it back; an ephemeral key is deleted
 * within sessionTtlMs + 1 s of kill -9 of its client's PROCESS (a tiny node script on the
 * built client in dist/), and a client that follows a failover keeps its keys. Bad ttl values
 * are refused (BAD_REQUEST), nothing written. Needs `npx tsc -p tsconfig.json` first.
 */
import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import WebSocket from 'ws';
import type { Store, WatchEvent } from '../../client/node';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { waitForView, getJson, freePort, type ViewStatus } from '../support/processes';
import { startCluster, waitForEqualDigests, type Cluster } from '../support/cluster';
import { teardownAfterEach } from '../support/teardown';
import { waitFor, sleep } from '../support/wait';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'understudy.js');
const CLIENT = path.join(ROOT, 'dist', 'client', 'node.js');

/** A client in its own process: connects, makes `keys` ephemeral, prints "ready", then idles until killed. */
const SCRIPT = `
const { connect } = require(${JSON.stringify(CLIENT)});
(async () => {
  const s = await connect({ view: process.argv[1], sessionTtlMs: Number(process.argv[2]), timeoutMs: 15000 });
  for (const k of process.argv.slice(3)) await s.put(k, 'here', { ephemeral: true });
  process.stdout.write('ready\\n');
  setInterval(() => {}, 1000);
})().catch((e) => { process.stderr.write(String(e) + '\\n'); process.exit(1); });
`;

function spawnClient(view: string, sessionTtlMs: number, keys: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['-e', SCRIPT, view, String(sessionTtlMs), ...keys], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout as NodeJS.ReadableStream });
    lines.once('line', (l) => (l === 'ready' ? resolve(child) : reject(new Error(`client said ${l}`))));
    child.once('exit', (code) => reject(new Error(`client exited ${code}`)));
  });
}

describe('e2e: ttlMs and ephemeral keys with real processes (SPEC §10)', function () {
  this.timeout(120_000);
  const teardown = teardownAfterEach();
  const view = (c: Cluster): Promise<ViewStatus> => getJson<ViewStatus>(`${c.vs.http}/view`);

  it('a ttl key is gone within ttl + 100 ms of its put, watchers get null, and it does not come back after kill -9 of the primary (SPEC §10)', async () => {
    const TTL = 1000;
    const c = await startCluster(3, { teardown });
    const watcher = await c.client();
    const writer = await c.client();
    const events: { e: WatchEvent; at: number }[] = [];
    watcher.watch('ttl:*', (e) => events.push({ e, at: Date.now() }));
    await sleep(100); // the watch is registered
    const t0 = Date.now();
    await writer.put('ttl:a', 'v', { ttlMs: TTL });
    const tAck = Date.now();
    await writer.put('ttl:b', 'v', { ttlMs: 4000 }); // still alive when the primary dies
    const gone = await waitFor('the null event of ttl:a', () => events.find((x) => x.e.key === 'ttl:a' && x.e.value === null), 10_000);
    const after = gone.at - t0;
    console.log(`      ttl:a (ttlMs ${TTL}) deleted ${after} ms after its put was issued (${gone.at - tAck} ms after its ack)`);
    expect(after, 'never before its ttl').to.be.at.least(TTL);
    expect(gone.at - tAck, 'within ttl + 100 ms of the put').to.be.at.most(TTL + 100);
    expect(await writer.get('ttl:a')).to.equal(null);

    const v = await view(c);
    await c.byId(v.primary).kill('SIGKILL');
    await waitForView(c.vs, (x) => x.viewnum > v.viewnum && x.primary === v.backup && x.backup !== null && x.acked, 15_000);
    expect(await writer.get('ttl:a'), 'an expired key never comes back').to.equal(null);
    const b = await waitFor('ttl:b expired by the new primary', () => events.find((x) => x.e.key === 'ttl:b' && x.e.value === null), 15_000);
    expect(b.at - t0, 'not before its ttl').to.be.at.least(4000);
    expect(await writer.get('ttl:b')).to.equal(null);
    await waitForEqualDigests(c);
    const values = events.map((x) => `${x.e.key}=${x.e.value}`);
    expect(values).to.deep.equal(['ttl:a=v', 'ttl:b=v', 'ttl:a=null', 'ttl:b=null']);
  });

  it('bad ttl values are refused BAD_REQUEST and nothing is written, by the client, the replica and the CLI; understudy put --ttl expires the key (SPEC §10)', async () => {
    const c = await startCluster(1, { teardown });
    const s = await c.client();
    for (const ttlMs of [0, -5, 1.5, 30 * 24 * 3600 * 1000 + 1]) {
      const err = await s.put('bad', 'v', { ttlMs }).then(() => null, (e) => e);
      expect(err?.code, `ttlMs ${ttlMs}`).to.equal('BAD_REQUEST');
    }
    const v = await view(c);
    const ws = new WebSocket(v.primary as string);
    teardown.push(() => ws.terminate());
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
    const reply = new Promise<Record<string, unknown>>((resolve) => ws.once('message', (d) => resolve(JSON.parse(String(d)))));
    ws.send(JSON.stringify({ type: 'req', client: 'raw', seq: 1, ack: 1, op: 'put', key: 'bad', value: 'v', ttlMs: 0 }));
    expect(await reply).to.include({ ok: false, code: 'BAD_REQUEST' });
    const cli = spawn(process.execPath, [BIN, 'put', 'bad', 'v', '--ttl', '0', '--view', c.vs.url], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    cli.stderr?.on('data', (d) => { stderr += String(d); });
    const code = await new Promise((resolve) => cli.once('exit', resolve));
    expect(code).to.equal(2);
    expect(stderr).to.match(/--ttl must be an integer/);
    expect(await s.get('bad')).to.equal(null);
    expect((await s.getEntry('bad')).revision).to.equal(0);

    const ok = spawn(process.execPath, [BIN, 'put', 'cli:k', 'v', '--ttl', '700', '--view', c.vs.url], { stdio: 'ignore' });
    expect(await new Promise((resolve) => ok.once('exit', resolve)), 'understudy put --ttl 700').to.equal(0);
    expect(await s.get('cli:k')).to.equal('v');
    await waitFor('cli:k expired', async () => ((await s.get('cli:k')) === null ? true : undefined), 10_000, 50);
  });

  it('kill -9 of a client process removes its ephemeral keys within sessionTtlMs + 1 s, in one revision; its plain keys stay (SPEC §10)', async () => {
    const SESSION = 1000;
    const c = await startCluster(2, { teardown });
    const s = await c.client();
    await s.put('eph:plain', 'stays');
    const events: WatchEvent[] = [];
    s.watch('eph:*', (e) => events.push(e));
    const child = await spawnClient(c.vs.url, SESSION, ['eph:a', 'eph:b']);
    teardown.push(() => child.kill('SIGKILL'));
    expect(await s.get('eph:a')).to.equal('here');
    await sleep(2 * SESSION);
    expect(await s.get('eph:a'), 'alive while its link is open').to.equal('here');
    const tKill = Date.now();
    child.kill('SIGKILL');
    await waitFor('eph:a and eph:b deleted', async () => ((await s.get('eph:a')) === null && (await s.get('eph:b')) === null ? true : undefined), 10_000, 20);
    const after = Date.now() - tKill;
    console.log(`      ephemeral keys deleted ${after} ms after kill -9 of their client (sessionTtlMs ${SESSION})`);
    expect(after, 'within sessionTtlMs + 1 s').to.be.at.most(SESSION + 1000);
    expect(after, 'not before sessionTtlMs').to.be.at.least(SESSION);
    expect(await s.get('eph:plain')).to.equal('stays');
    await waitFor('both null events', () => (events.filter((e) => e.value === null).length === 2 ? true : undefined), 5000);
    const nulls = events.filter((e) => e.value === null);
    expect(nulls[0].revision, 'one revision for the session end').to.equal(nulls[1].revision);
    await waitForEqualDigests(c);
  });

  it('a client that follows a failover (kill -9 of the primary) keeps its ephemeral keys (SPEC §10)', async () => {
    const SESSION = 2000; // (a margin for a loaded machine: the client must reach the new primary within it)
    const c = await startCluster(3, { teardown });
    const s = await c.client();
    const child = await spawnClient(c.vs.url, SESSION, ['eph:x']);
    teardown.push(() => child.kill('SIGKILL'));
    const v = await view(c);
    await c.byId(v.primary).kill('SIGKILL');
    await waitForView(c.vs, (x) => x.viewnum > v.viewnum && x.primary === v.backup && x.backup !== null && x.acked, 15_000);
    await sleep(3 * SESSION);
    expect(await s.get('eph:x'), 'kept: the client linked to the new primary in time').to.equal('here');
    child.kill('SIGKILL');
    await waitFor('eph:x deleted once its client is gone', async () => ((await s.get('eph:x')) === null ? true : undefined), 10_000, 50);
  });

  it('with --data-dir, kill -9 and restart: a logged expiry stays done, and a ttl replayed from the log still expires (SPEC §10, §9)', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-ttl-'));
    teardown.push(() => fs.rmSync(dir, { recursive: true, force: true }));
    const env = { UNDERSTUDY_DATA_DIR: dir, UNDERSTUDY_FSYNC: 'always' };
    const c = await startCluster(0, { teardown });
    const port = await freePort();
    const a = await c.startReplica({ port, env });
    await waitForView(c.vs, (v) => v.primary === a.id && v.acked);
    const s = await c.client({ timeoutMs: 15_000 });
    await s.put('ttl:short', 'v', { ttlMs: 200 });
    await s.put('ttl:long', 'v', { ttlMs: 2000 });
    await waitFor('ttl:short expired', async () => ((await s.get('ttl:short')) === null ? true : undefined), 10_000, 20);
    await a.kill('SIGKILL');
    await waitForView(c.vs, (v) => v.servers.every((x) => !x.alive));
    const a2 = await c.startReplica({ port, env });
    teardown.push(() => a2.kill('SIGKILL'));
    expect(await s.get('ttl:short'), 'the logged expiry is replayed: not back').to.equal(null);
    await waitFor('ttl:long expired after the restart', async () => ((await s.get('ttl:long')) === null ? true : undefined), 15_000, 50);
    await a2.kill('SIGKILL');
    await waitForView(c.vs, (v) => v.servers.every((x) => !x.alive));
    await c.startReplica({ port, env });
    expect(await s.get('ttl:long')).to.equal(null);
    expect(await s.get('ttl:short')).to.equal(null);
  });
});
