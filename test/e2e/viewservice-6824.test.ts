/**
 * MIT 6.824's viewservice Test1 (viewservice/test_test.go), step by step and in its order,
 * against a real `understudy view` process (SPEC §2). The three servers are fake replicas:
 * raw WebSocket clients that send SPEC §6 pings and read the `view` answers, like 6.824's
 * clerks (`Ping(viewnum)` → the view; `Get()` → GET /view, which is not a ping, SPEC §2.9).
 * A server "fails" by falling silent (its link stays open, so only the timer finds it dead)
 * and "restarts" by pinging viewnum 0 again.
 *
 * The sequence runs in two orders, which differ only in how the view of "Idle third server
 * becomes backup if primary fails" forms:
 *  (a) inside a ping: the primary restarts (pings 0), which makes it dead at once, and the
 *      view {s1, s3} forms in that ping (SPEC §2.6);
 *  (b) on the view service's timer: the primary falls silent, the idle server keeps pinging
 *      0 from its own loop, and only the timer can find the primary dead. The new backup has
 *      not learned the view yet, so its next ping still carries 0: SPEC §2.1 says that is
 *      not a restart, and "Restarted primary treated as dead" must still find s3 primary.
 *
 * 6.824's loops run DeadPings × k ping intervals; the loops that wait for something to
 * happen here may run SLACK times longer (they stop as soon as it happened), so a loaded
 * machine's late timer does not fail a correct view service; the loops that check that
 * nothing happens keep 6.824's length. UNDERSTUDY_6824_RUNS repeats the sequence
 * (`npm run test:6824` runs it 20 times).
 */
import { assert } from 'chai';
import WebSocket from 'ws';
import { getJson, type ViewStatus } from '../support/processes';
import { startCluster } from '../support/cluster';
import { teardownAfterEach, type Teardown } from '../support/teardown';
import { sleep } from '../support/wait';

const PING = 25;
const DEAD_PINGS = 5;
const SLACK = 4;
const RUNS = Number(process.env.UNDERSTUDY_6824_RUNS ?? 1);

interface View { viewnum: number; primary: string | null; backup: string | null }

const show = (v: View) => `(${v.primary ?? '-'}, ${v.backup ?? '-'}, ${v.viewnum})`;

/**
 * One fake replica: one link to the view service, pinging with its id and one incarnation.
 * `ping(n)` resolves once the view service has handled the ping: the ping is followed by a
 * WebSocket-level ping, whose pong the server sends after the answer to the first (frames
 * of one link are handled in order), so the last view received before the pong is at least
 * as new as the answer. Views pushed meanwhile also arrive on the link (SPEC §2.9).
 */
class FakeServer {
  private latest: View | null = null;
  private received = 0;
  private constructor(readonly id: string, private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const m = JSON.parse(String(data));
      if (m.type !== 'view') return;
      this.latest = m.view;
      this.received++;
    });
  }

  static async open(url: string, id: string, teardown: Teardown): Promise<FakeServer> {
    const ws = new WebSocket(url);
    teardown.push(() => ws.terminate());
    await new Promise<void>((resolve, reject) => { ws.once('open', () => resolve()); ws.once('error', reject); });
    return new FakeServer(id, ws);
  }

  /** SPEC §6: `{"type":"ping","id":…,"incarnation":…,"viewnum":N}`; resolves with the view it got. */
  async ping(viewnum: number): Promise<View> {
    const before = this.received;
    const handled = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.id}: no answer to ping ${viewnum} within 2 s`)), 2000);
      this.ws.once('pong', () => { clearTimeout(timer); resolve(); });
    });
    this.ws.send(JSON.stringify({ type: 'ping', id: this.id, incarnation: `${this.id}-1`, viewnum }));
    this.ws.ping();
    await handled;
    if (this.received === before || this.latest === null) throw new Error(`${this.id}: ping ${viewnum} was not answered with a view`);
    return this.latest;
  }

  /** Ping `viewnum` every interval from the server's own loop, until `stop()`. */
  pingLoop(viewnum: number): { stop(): Promise<void> } {
    let stopped = false;
    const loop = (async () => {
      while (!stopped) {
        await this.ping(viewnum);
        await sleep(PING);
      }
    })();
    return { stop: async () => { stopped = true; await loop; } };
  }
}

/** One step of Test1: its failures name it. */
async function step(name: string, body: () => Promise<void>): Promise<void> {
  try {
    await body();
  } catch (err) {
    if (err instanceof Error) err.message = `${name}: ${err.message}`;
    throw err;
  }
}

function test1(order: 'a' | 'b', teardown: Teardown): () => Promise<void> {
  return async () => {
    const c = await startCluster(0, { pingMs: PING, deadPings: DEAD_PINGS, teardown });
    const get = async (): Promise<View> => {
      const v = await getJson<ViewStatus>(`${c.vs.http}/view`);
      return { viewnum: v.viewnum, primary: v.primary, backup: v.backup };
    };
    /** 6.824's check(): the view service's view is exactly (p, b, n). */
    const check = async (p: string, b: string | null, n: number) => {
      const v = await get();
      if (v.primary !== p || v.backup !== b || v.viewnum !== n) assert.fail(`want ${show({ viewnum: n, primary: p, backup: b })}, got ${show(v)}`);
    };
    const [s1, s2, s3] = await Promise.all(['s1', 's2', 's3'].map((id) => FakeServer.open(c.vs.url, id, teardown)));
    const tries = (k: number) => DEAD_PINGS * k * SLACK;

    if ((await get()).primary !== null) assert.fail('there was a primary too soon');

    await step('First primary', async () => {
      for (let i = 0; i < tries(2); i++) {
        if ((await s1.ping(0)).primary === 's1') break;
        await sleep(PING);
      }
      await check('s1', null, 1);
    });

    await step('First backup', async () => {
      const vx = await get();
      for (let i = 0; i < tries(2); i++) {
        await s1.ping(1);
        if ((await s2.ping(0)).backup === 's2') break;
        await sleep(PING);
      }
      await check('s1', 's2', vx.viewnum + 1);
    });

    await step('Backup takes over if primary fails', async () => {
      await s1.ping(2);
      const vx = await s2.ping(2);
      for (let i = 0; i < tries(2); i++) { // s1 is silent from now on
        const v = await s2.ping(vx.viewnum);
        if (v.primary === 's2' && v.backup === null) break;
        await sleep(PING);
      }
      await check('s2', null, vx.viewnum + 1);
    });

    await step('Restarted server becomes backup', async () => {
      const vx = await get();
      await s2.ping(vx.viewnum);
      for (let i = 0; i < tries(2); i++) {
        await s1.ping(0);
        const v = await s2.ping(vx.viewnum);
        if (v.primary === 's2' && v.backup === 's1') break;
        await sleep(PING);
      }
      await check('s2', 's1', vx.viewnum + 1);
    });

    // Kill the primary (s2): the backup (s1) becomes primary and the idle s3 backup, in a
    // single view change, without any period in which there is no backup.
    await step('Idle third server becomes backup if primary fails', async () => {
      let vx = await get();
      await s2.ping(vx.viewnum);
      const logsBefore = c.vs.logs.length;
      let idle: { stop(): Promise<void> } | null = null;
      if (order === 'a') {
        await s3.ping(0);
        await s2.ping(0); // the primary restarted: dead at once, the view changes in this ping
      } else {
        idle = s3.pingLoop(0); // s2 is silent from now on: only the timer finds it dead
      }
      for (let i = 0; i < tries(2); i++) {
        const v = await s1.ping(vx.viewnum);
        if (v.primary === 's1' && v.backup === 's3') break;
        vx = v;
        await sleep(PING);
      }
      if (idle !== null) {
        await idle.stop();
        // s3 has not learned the view that names it: its next ping still carries 0 (SPEC §2.1).
        await s3.ping(0);
      }
      await check('s1', 's3', vx.viewnum + 1);
      // The order is what it says: how the view service found s2 dead.
      const reason = order === 'a' ? 'restarted' : 'silent';
      const found = c.vs.logs.slice(logsBefore).some((l) => l.includes(`replica s2 dead (${reason})`));
      if (!found) assert.fail(`the view service did not log "replica s2 dead (${reason})"`);
    });

    // Kill and immediately restart the primary: the view service must conclude it is down
    // even though it is pinging.
    await step('Restarted primary treated as dead', async () => {
      const vx = await get();
      await s1.ping(vx.viewnum);
      for (let i = 0; i < tries(2); i++) {
        await s1.ping(0);
        await s3.ping(vx.viewnum);
        if ((await get()).primary !== 's1') break;
        await sleep(PING);
      }
      const vy = await get();
      if (vy.primary !== 's3') assert.fail(`want primary s3, got ${show(vy)}`);
    });

    // Sets up a view with s3 alone as primary, for the next step.
    await step('Dead backup is removed from view', async () => {
      const s3Pings = async () => { await s3.ping((await get()).viewnum); await sleep(PING); };
      for (let i = 0; i < DEAD_PINGS * 3; i++) await s3Pings();
      for (let i = DEAD_PINGS * 3; i < tries(3); i++) {
        const v = await get();
        if (v.primary === 's3' && v.backup === null) break;
        await s3Pings();
      }
      const v = await get();
      if (v.primary !== 's3' || v.backup !== null) assert.fail(`want (s3, -), got ${show(v)}`);
    });

    await step('Viewserver waits for primary to ack view', async () => {
      // Set up p=s3 b=s1, but s3 does not acknowledge it.
      const vx = await get();
      for (let i = 0; i < tries(3); i++) {
        await s1.ping(0);
        await s3.ping(vx.viewnum);
        if ((await get()).viewnum > vx.viewnum) break;
        await sleep(PING);
      }
      await check('s3', 's1', vx.viewnum + 1);
      const vy = await get();
      // s3 is the primary but never acknowledged: it dies; s1 must not be promoted (SPEC §2.3).
      for (let i = 0; i < DEAD_PINGS * 3; i++) {
        const v = await s1.ping(vy.viewnum);
        if (v.viewnum > vy.viewnum) break;
        await sleep(PING);
      }
      await check('s3', 's1', vy.viewnum);
    });

    // If the old servers die, a new (uninitialised) server cannot take over (SPEC §2.4).
    await step("Uninitialized server can't become primary", async () => {
      for (let i = 0; i < DEAD_PINGS * 2; i++) {
        const v = await get();
        await s1.ping(v.viewnum);
        await s2.ping(0);
        await s3.ping(v.viewnum);
        await sleep(PING);
      }
      for (let i = 0; i < DEAD_PINGS * 2; i++) {
        await s2.ping(0);
        await sleep(PING);
      }
      const vz = await get();
      if (vz.primary === 's2') assert.fail(`uninitialized backup promoted to primary: ${show(vz)}`);
    });
  };
}

describe('e2e: MIT 6.824 viewservice Test1 against a real `understudy view` (SPEC §2)', function () {
  this.timeout(60_000);
  const teardown = teardownAfterEach();
  for (let run = 1; run <= RUNS; run++) {
    const of = RUNS > 1 ? ` (run ${run} of ${RUNS})` : '';
    it(`the whole sequence passes when "Idle third server becomes backup" forms its view inside a ping (SPEC §2.6)${of}`, test1('a', teardown));
    it(`the whole sequence passes when that view forms on the timer and the new backup still pings 0 (SPEC §2.1)${of}`, test1('b', teardown));
  }
});
