/**
 * The view service's rules (SPEC §2), on the deterministic core: a manual clock, no ports,
 * no sleeps. Titles cite the rule; the '6.824 scenarios' block follows the classic
 * viewservice test_test.go steps.
 */
import { expect } from 'chai';
import { ViewMachine } from '../../server/viewservice/view-machine';
import type { View, ViewHolders } from '../../common/view';
import { ManualClock } from '../support/manual-clock';
import { mulberry32 } from '../support/random';

const PING = 100;
const DEAD = 5;

/** A machine on a manual clock, with shorthands. Server `X` has incarnation `X1` unless told. */
class Harness {
  readonly clock = new ManualClock();
  readonly vm: ViewMachine;

  constructor(forgetAfterMs?: number) {
    this.vm = new ViewMachine({ pingIntervalMs: PING, deadPings: DEAD, clock: this.clock, forgetAfterMs });
  }

  private readonly linked = new Set<string>();

  ping(id: string, viewnum: number, incarnation = `${id}1`): View {
    this.linked.add(`${id}/${incarnation}`);
    return this.vm.ping(id, incarnation, viewnum);
  }

  /**
   * A healthy replica's ping: 0 on its first ping, afterwards the newest view number (a linked
   * replica gets every new view pushed at once, SPEC §2.9). A primary pinging this way
   * acknowledges each view at once.
   */
  live(id: string, incarnation = `${id}1`): View {
    return this.ping(id, this.linked.has(`${id}/${incarnation}`) ? this.viewnum : 0, incarnation);
  }

  get viewnum(): number {
    return this.vm.view.viewnum;
  }

  /** `n` pingIntervals pass; in each, `pings` runs (the live servers ping), then the shell's tick. */
  intervals(n: number, pings: () => void = () => {}): void {
    for (let i = 0; i < n; i++) {
      this.clock.advance(PING);
      pings();
      this.vm.tick();
    }
  }

  /** View 1 {A, -}, acknowledged. */
  primaryOnly(): this {
    this.ping('A', 0);
    this.ping('A', 1);
    this.vm.takeNewView();
    return this;
  }

  /** View 2 {A, B}, acknowledged. */
  pair(): this {
    this.primaryOnly();
    this.ping('B', 0);
    this.ping('A', 2);
    this.vm.takeNewView();
    return this;
  }
}

function expectView(v: View, viewnum: number, primary: string | null, backup: string | null): void {
  expect({ viewnum: v.viewnum, primary: v.primary, backup: v.backup }).to.deep.equal({ viewnum, primary, backup });
}

describe('ViewMachine', () => {
  describe('SPEC §2.1: liveness and death', () => {
    it('declares a server dead after deadPings intervals without a ping (SPEC §2.1)', () => {
      const h = new Harness().pair();
      h.intervals(DEAD - 1, () => { h.ping('A', h.viewnum); });
      expect(h.vm.status().servers.find((s) => s.id === 'B')?.alive).to.equal(true);
      h.intervals(1, () => { h.ping('A', h.viewnum); });
      expect(h.vm.status().servers.find((s) => s.id === 'B')?.alive).to.equal(false);
      expectView(h.vm.view, 3, 'A', null);
    });

    it('keeps a server alive that pings once per interval, however long (SPEC §2.1)', () => {
      const h = new Harness().pair();
      h.intervals(10 * DEAD, () => { h.ping('A', h.viewnum); h.ping('B', h.viewnum); });
      expectView(h.vm.view, 2, 'A', 'B');
      expect(h.vm.status().servers.every((s) => s.alive)).to.equal(true);
    });

    it('linkClosed kills the current incarnation at once, without waiting for deadPings (SPEC §2.1)', () => {
      const h = new Harness().pair();
      h.vm.linkClosed('A', 'A1');
      expectView(h.vm.view, 3, 'B', null);
      expect(h.vm.status().servers.find((s) => s.id === 'A')?.alive).to.equal(false);
    });

    it('linkClosed of a stale incarnation does nothing (SPEC §2.1)', () => {
      const h = new Harness().pair();
      h.vm.linkClosed('A', 'A0');
      h.vm.linkClosed('nobody', 'x');
      expectView(h.vm.view, 2, 'A', 'B');
      expect(h.vm.takeNewView()).to.equal(null);
      expect(h.vm.status().servers.every((s) => s.alive)).to.equal(true);
    });

    it('leave() is a graceful linkClosed: the backup takes over at once (SPEC §2.1)', () => {
      const h = new Harness().pair();
      h.vm.leave('A', 'A1');
      expectView(h.vm.view, 3, 'B', null);
    });

    it('a ping with a new incarnation kills the old one; the new process is idle (SPEC §2.1)', () => {
      const h = new Harness().pair();
      // A restarts quickly under the same URL: its state is gone, B takes over at once.
      expectView(h.ping('A', 0, 'A2'), 3, 'B', null);
      expect(h.vm.holders).to.deep.equal({ primary: 'B1', backup: null });
      // It is a fresh idle server: it fills the backup slot once B acknowledges view 3.
      expectView(h.ping('B', 3), 4, 'B', 'A');
      expect(h.vm.holders).to.deep.equal({ primary: 'B1', backup: 'A2' });
    });

    it('a ping with viewnum 0 from the primary holder is a restart: the holder is dead (SPEC §2.1)', () => {
      const h = new Harness().pair();
      expectView(h.ping('A', 0), 3, 'B', null);
    });

    it('a ping with a viewnum above the current one is not an ack, only liveness (SPEC §2.1)', () => {
      const h = new Harness();
      h.ping('A', 0);
      expectView(h.ping('A', 7), 1, 'A', null);
      expect(h.vm.acked).to.equal(false);
      h.intervals(3 * DEAD, () => { h.ping('A', 7); });
      expect(h.vm.status().servers[0].alive).to.equal(true);
    });
  });

  describe('SPEC §2.2: first primary', () => {
    it('the first ping in view 0 forms view 1 with that server as primary (SPEC §2.2)', () => {
      const h = new Harness();
      expectView(h.vm.view, 0, null, null);
      expectView(h.ping('A', 0), 1, 'A', null);
      expect(h.vm.holders).to.deep.equal({ primary: 'A1', backup: null });
      expect(h.vm.acked).to.equal(false);
      // A second server pinging before A's ack does not change view 1.
      expectView(h.ping('B', 0), 1, 'A', null);
    });
  });

  describe('SPEC §2.3: acknowledgement', () => {
    it('stays in the current view until the primary acknowledges it, whatever dies (SPEC §2.3)', () => {
      const h = new Harness().primaryOnly();
      expectView(h.ping('B', 0), 2, 'A', 'B');
      // A never acks view 2 and dies; B keeps pinging: B is not promoted.
      h.intervals(3 * DEAD, () => { h.ping('B', 2); });
      expectView(h.vm.view, 2, 'A', 'B');
      expect(h.vm.acked).to.equal(false);
      h.vm.linkClosed('B', 'B1');
      expectView(h.vm.view, 2, 'A', 'B');
    });

    it('only the primary holder pinging with the current viewnum acknowledges (SPEC §2.3)', () => {
      const h = new Harness().primaryOnly();
      h.ping('B', 0); // view 2 {A, B}
      h.ping('B', 2);
      expect(h.vm.acked, 'backup ping').to.equal(false);
      h.ping('A', 1);
      expect(h.vm.acked, 'old viewnum').to.equal(false);
      h.ping('A', 2);
      expect(h.vm.acked).to.equal(true);
    });
  });

  describe('SPEC §2.4: who may become primary', () => {
    it("an uninitialised server can't become primary (SPEC §2.4)", () => {
      const h = new Harness().pair();
      h.ping('C', 0);
      h.intervals(3 * DEAD, () => { h.ping('C', 0); }); // A and B die together
      expectView(h.vm.view, 2, 'A', 'B');
      expect(h.vm.view.primary).to.not.equal('C');
    });

    it('a stuck view with no backup serves again when the same primary returns (SPEC §2.4)', () => {
      const h = new Harness().primaryOnly();
      h.intervals(DEAD);
      h.ping('C', 0);
      h.intervals(DEAD, () => { h.ping('C', 0); });
      expectView(h.vm.view, 1, 'A', null); // stuck: A had the only copy
      // A returns with its state (same incarnation): it is primary again, and C becomes backup.
      expectView(h.ping('A', 1), 2, 'A', 'C');
    });

    it('a restarted primary of a no-backup view stays dead: never primary or backup of it again (SPEC §2.4)', () => {
      for (const restart of [{ inc: 'A2', viewnum: 0 }, { inc: 'A1', viewnum: 0 }]) {
        const h = new Harness().primaryOnly();
        h.intervals(DEAD);
        expectView(h.ping('A', restart.viewnum, restart.inc), 1, 'A', null);
        h.intervals(3 * DEAD, () => { h.ping('A', h.viewnum, restart.inc); h.ping('C', 0); });
        expectView(h.vm.view, 1, 'A', null);
        expect(h.vm.holders).to.deep.equal({ primary: 'A1', backup: null });
        expect(h.vm.takeNewView()).to.equal(null);
      }
    });

    it('a server in the view declared dead that pings again with the same incarnation is alive in its slot (SPEC §2.4)', () => {
      const h = new Harness().pair();
      h.live('C');
      h.clock.advance(DEAD * PING);
      h.vm.tick(); // a pause (e.g. the VS host stalled): everyone is declared dead at once
      expectView(h.vm.view, 2, 'A', 'B');
      expect(h.vm.status().servers.every((s) => !s.alive)).to.equal(true);
      // B returns first with its state: primary dead, backup alive → promote B; C is dead.
      expectView(h.ping('B', 2), 3, 'B', null);
    });
  });

  describe('SPEC §2.5: who replaces whom', () => {
    it('promotes the backup when the primary misses deadPings (SPEC §2.5)', () => {
      const h = new Harness().pair();
      h.intervals(DEAD, () => { h.ping('B', 2); });
      expectView(h.vm.view, 3, 'B', null);
      expect(h.vm.holders).to.deep.equal({ primary: 'B1', backup: null });
    });

    it('replaces a dead backup with an idle server (SPEC §2.5)', () => {
      const h = new Harness().pair();
      h.live('C');
      h.intervals(DEAD, () => { h.live('A'); h.live('C'); });
      expectView(h.vm.view, 3, 'A', 'C');
    });

    it('removes a dead backup when there is no idle server (SPEC §2.5)', () => {
      const h = new Harness().pair();
      h.intervals(DEAD, () => { h.ping('A', h.viewnum); });
      expectView(h.vm.view, 3, 'A', null);
    });

    it('a dead idle server is not made backup (SPEC §2.5)', () => {
      const h = new Harness().pair();
      h.ping('C', 0);
      h.intervals(DEAD, () => { h.ping('A', 2); h.ping('B', 2); }); // C dies while idle
      expect(h.vm.status().servers.find((s) => s.id === 'C')?.alive).to.equal(false);
      h.intervals(DEAD, () => { h.ping('A', h.viewnum); }); // then B dies
      expectView(h.vm.view, 3, 'A', null);
    });

    it('chooses the earliest-registered idle server; a re-registered one goes to the end (SPEC §2.5)', () => {
      const h = new Harness().pair();
      h.ping('C', 0);
      h.ping('D', 0);
      h.ping('C', 0, 'C2'); // C restarts: it now queues behind D
      h.vm.linkClosed('B', 'B1');
      expectView(h.vm.view, 3, 'A', 'D');
    });
  });

  describe('SPEC §2.6: changes happen in the input that allows them', () => {
    it("an idle server's ping fills an empty backup slot of an acknowledged view at once (SPEC §2.6)", () => {
      const h = new Harness().primaryOnly();
      expectView(h.ping('B', 0), 2, 'A', 'B');
    });

    it("the primary's acknowledging ping installs a pending change at once (SPEC §2.6)", () => {
      const h = new Harness();
      h.ping('A', 0);
      h.ping('B', 0); // waiting: view 1 is not acknowledged
      expectView(h.vm.view, 1, 'A', null);
      expectView(h.ping('A', 1), 2, 'A', 'B');
    });

    it('deaths are found on tick(), not in other servers\' pings (SPEC §2.6)', () => {
      const h = new Harness().pair();
      h.clock.advance(10 * DEAD * PING);
      expectView(h.ping('B', 2), 2, 'A', 'B');
      h.vm.tick();
      expectView(h.vm.view, 3, 'B', null);
    });
  });

  describe('SPEC §2.7: consecutive views differ', () => {
    it('consecutive views differ; viewnum never grows while unchanged over many ticks and pings (SPEC §2.7)', () => {
      const h = new Harness().primaryOnly();
      h.intervals(100, () => { h.ping('A', h.viewnum); });
      expectView(h.vm.view, 1, 'A', null);
      h.ping('B', 0);
      h.intervals(100, () => { h.ping('A', h.viewnum); h.ping('B', h.viewnum); });
      expectView(h.vm.view, 2, 'A', 'B');
    });

    it('a restarted backup does not take back its own slot in the very next view (SPEC §2.7)', () => {
      const h = new Harness().pair();
      h.ping('B', 2); // B learned the view that named it …
      expectView(h.ping('B', 0), 3, 'A', null); // … so this 0 is a restart: B's holder died; B is idle, not the backup of view 3
      expectView(h.ping('A', 3), 4, 'A', 'B'); // one view later it fills the slot
      expect(h.vm.holders.backup).to.equal('B1');
    });
  });

  describe('SPEC §2.8: a dead idle server that returns', () => {
    it('a server declared dead that pings again with an old viewnum becomes backup (SPEC §2.8)', () => {
      const h = new Harness().pair();
      h.intervals(DEAD, () => { h.ping('A', h.viewnum); }); // B dies: view 3 {A, -}
      expectView(h.vm.view, 3, 'A', null);
      h.ping('A', 3);
      expectView(h.ping('B', 2), 4, 'A', 'B');
    });
  });

  describe('6.824 viewservice scenarios', () => {
    it('first primary', () => {
      const h = new Harness();
      expectView(h.live('ck1'), 1, 'ck1', null);
    });

    it('first backup', () => {
      const h = new Harness();
      h.live('ck1');
      h.live('ck1'); // acknowledges view 1
      expectView(h.live('ck2'), 2, 'ck1', 'ck2');
    });

    it('backup takes over if primary fails', () => {
      const h = new Harness();
      h.live('ck1'); h.live('ck1'); h.live('ck2'); h.live('ck1');
      h.intervals(2 * DEAD, () => { h.live('ck2'); });
      expectView(h.vm.view, 3, 'ck2', null);
    });

    it('restarted server becomes backup', () => {
      const h = new Harness();
      h.live('ck1'); h.live('ck1'); h.live('ck2'); h.live('ck1');
      h.intervals(2 * DEAD, () => { h.live('ck2'); });
      h.intervals(1, () => { h.ping('ck1', 0, 'ck1-restarted'); h.live('ck2'); });
      expectView(h.vm.view, 4, 'ck2', 'ck1');
    });

    it('idle third server becomes backup if primary fails', () => {
      const h = new Harness().pair(); // {A, B}
      h.live('C');
      h.intervals(2 * DEAD, () => { h.live('B'); h.live('C'); });
      expectView(h.vm.view, 3, 'B', 'C');
    });

    it('restarted primary treated as dead', () => {
      const h = new Harness().pair();
      h.live('C');
      h.intervals(1, () => { h.ping('A', 0); h.live('B'); h.live('C'); });
      expect(h.vm.view.primary).to.equal('B');
      expectView(h.vm.view, 3, 'B', 'C');
    });

    it('dead backup is removed from view', () => {
      const h = new Harness().pair();
      h.intervals(2 * DEAD, () => { h.live('A'); });
      expectView(h.vm.view, 3, 'A', null);
    });

    it('viewserver waits for primary to ack view', () => {
      const h = new Harness().primaryOnly();
      h.live('B'); // view 2 {A, B}, never acknowledged: A is silent from now on
      h.intervals(3 * DEAD, () => { h.live('B'); });
      expectView(h.vm.view, 2, 'A', 'B');
    });

    it("uninitialized server can't become primary", () => {
      const h = new Harness().pair();
      h.intervals(2 * DEAD, () => { h.live('A'); h.live('B'); h.live('C'); });
      h.intervals(2 * DEAD, () => { h.live('C'); });
      expectView(h.vm.view, 2, 'A', 'B');
    });
  });

  describe('#holders', () => {
    it('tracks the incarnation put into each slot, across promotions (SPEC §2.1)', () => {
      const h = new Harness();
      expect(h.vm.holders).to.deep.equal({ primary: null, backup: null });
      h.ping('A', 0, 'a1'); h.ping('A', 1, 'a1'); h.ping('B', 0, 'b1');
      expect(h.vm.holders).to.deep.equal({ primary: 'a1', backup: 'b1' });
      h.ping('A', 2, 'a1');
      h.ping('B', 0, 'b2'); // B restarted: its holder b1 is dead
      expect(h.vm.holders).to.deep.equal({ primary: 'a1', backup: null });
      h.ping('A', 3, 'a1');
      expect(h.vm.holders).to.deep.equal({ primary: 'a1', backup: 'b2' });
    });
  });

  describe('#status', () => {
    it('reports viewnum, acked, alive and lastPingMs by the clock (SPEC §5)', () => {
      const h = new Harness().pair();
      h.clock.advance(250);
      h.ping('A', 2);
      h.clock.advance(50);
      const s = h.vm.status();
      expect(s).to.deep.include({ viewnum: 2, primary: 'A', backup: 'B', acked: true });
      expect(s.servers).to.deep.equal([
        { id: 'A', alive: true, lastPingMs: 50, incarnation: 'A1' },
        { id: 'B', alive: true, lastPingMs: 300, incarnation: 'B1' },
      ]);
    });

    it('reading the status never counts as a ping (SPEC §2.9)', () => {
      const h = new Harness().pair();
      h.intervals(DEAD, () => { h.vm.status(); h.ping('A', h.viewnum); });
      expect(h.vm.status().servers.find((s) => s.id === 'B')?.alive).to.equal(false);
    });
  });

  describe('#takeNewView', () => {
    it('returns each change once, and only the latest of several (SPEC §2.9)', () => {
      const h = new Harness();
      expect(h.vm.takeNewView()).to.equal(null);
      h.ping('A', 0);
      expect(h.vm.takeNewView()).to.deep.equal({ view: { viewnum: 1, primary: 'A', backup: null }, holders: { primary: 'A1', backup: null } });
      expect(h.vm.takeNewView()).to.equal(null);
      h.ping('A', 1); h.ping('B', 0); h.ping('A', 2); h.vm.linkClosed('B', 'B1');
      expect(h.vm.takeNewView()).to.deep.equal({ view: { viewnum: 3, primary: 'A', backup: null }, holders: { primary: 'A1', backup: null } });
      expect(h.vm.takeNewView()).to.equal(null);
    });
  });

  describe('#takeEvents', () => {
    it('reports joins, deaths with their reason, and revivals, for the shell to log', () => {
      const h = new Harness().pair();
      h.vm.takeEvents();
      h.vm.linkClosed('B', 'B1');
      h.ping('B', 2);
      h.ping('A', 0, 'A2');
      expect(h.vm.takeEvents()).to.deep.equal([
        { kind: 'dead', id: 'B', incarnation: 'B1', reason: 'link-closed' },
        { kind: 'revived', id: 'B', incarnation: 'B1' },
        { kind: 'dead', id: 'A', incarnation: 'A1', reason: 'new-incarnation' },
        { kind: 'joined', id: 'A', incarnation: 'A2' },
      ]);
      expect(h.vm.takeEvents()).to.deep.equal([]);
    });
  });

  describe('#tick', () => {
    it('forgets a dead server outside the view after forgetAfterMs; if it returns it is idle again (SPEC §2.8)', () => {
      const h = new Harness(10 * DEAD * PING).pair();
      h.ping('C', 0);
      h.intervals(10 * DEAD - 1, () => { h.ping('A', 2); h.ping('B', 2); });
      expect(h.vm.status().servers.map((s) => s.id)).to.deep.equal(['A', 'B', 'C']);
      h.intervals(1, () => { h.ping('A', 2); h.ping('B', 2); });
      expect(h.vm.status().servers.map((s) => s.id)).to.deep.equal(['A', 'B']);
      h.ping('C', 0);
      h.vm.linkClosed('B', 'B1');
      expectView(h.vm.view, 3, 'A', 'C');
    });

    it('never forgets a server named in the current view (SPEC §2.4)', () => {
      const h = new Harness(2 * DEAD * PING).primaryOnly();
      h.intervals(100);
      expect(h.vm.status().servers.map((s) => s.id)).to.deep.equal(['A']);
      expectView(h.ping('A', 1), 1, 'A', null);
      expect(h.vm.status().servers[0].alive).to.equal(true);
    });
  });

  describe('invariants under a random schedule (SPEC §2.3, §2.4, §2.7)', () => {
    const prng = mulberry32;

    interface Proc { id: string; inc: string; gen: number; up: boolean; known: number }

    for (const seed of [1, 2, 3, 42, 1234, 99991]) {
      it(`holds over 5000 random pings, ticks, link closes and restarts of 4 servers (seed ${seed})`, () => {
        const rnd = prng(seed);
        const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)];
        let h = new Harness();
        let procs: Proc[] = [];
        let everInView = new Set<string>();
        let changes = 0;
        let lastChange = 0;
        let episodes = 0;

        for (let step = 0; step < 5000; step++) {
          if (step === 0 || step - lastChange > 150) {
            // A fresh cluster when the view has settled or is stuck for good (both holders lost).
            h = new Harness();
            procs = ['s0', 's1', 's2', 's3'].map((id) => ({ id, inc: `${id}.1`, gen: 1, up: rnd() < 0.8, known: 0 }));
            everInView = new Set<string>();
            lastChange = step;
            episodes++;
          }
          const prev: View = h.vm.view;
          const prevHolders: ViewHolders = h.vm.holders;
          const prevAcked = h.vm.acked;
          let ackingPing = false;
          const r = rnd();
          const p = pick(procs);
          let what: string;
          if (r < 0.45) {
            if (!p.up) continue;
            if (rnd() < 0.5) p.known = prev.viewnum; // it got the push of the newest view
            const vn = rnd() < 0.03 ? 0 : rnd() < 0.05 ? Math.max(0, p.known - 1) : p.known;
            ackingPing = p.id === prev.primary && p.inc === prevHolders.primary && vn === prev.viewnum;
            p.known = h.vm.ping(p.id, p.inc, vn).viewnum;
            what = `ping ${p.id}/${p.inc} vn=${vn}`;
          } else if (r < 0.65) {
            h.clock.advance(PING);
            h.vm.tick();
            what = 'tick';
          } else if (r < 0.72) {
            h.vm.linkClosed(p.id, p.inc);
            what = `linkClosed ${p.id}/${p.inc}`;
          } else if (r < 0.74) {
            h.vm.linkClosed(p.id, `${p.id}.${p.gen - 1}`);
            what = `stale linkClosed ${p.id}`;
          } else if (r < 0.77) {
            p.up = false;
            what = `crash or partition ${p.id}`;
            continue;
          } else if (r < 0.86) {
            p.up = true; // a partition heals: same incarnation, state intact
            what = `heal ${p.id}`;
            continue;
          } else if (r < 0.88) {
            p.gen++;
            p.inc = `${p.id}.${p.gen}`;
            p.up = true;
            p.known = 0;
            what = `restart ${p.id}`;
            continue;
          } else {
            h.clock.advance(Math.floor(rnd() * PING));
            what = 'time passes';
            continue;
          }

          const cur = h.vm.view;
          const ctx = `seed ${seed} step ${step} (${what}): ${JSON.stringify(prev)} -> ${JSON.stringify(cur)}`;
          const out = h.vm.takeNewView();
          if (cur.viewnum === prev.viewnum) {
            expect(cur, ctx).to.deep.equal(prev);
            expect(out, ctx).to.equal(null);
          } else {
            changes++;
            lastChange = step;
            expect(cur.viewnum, ctx).to.equal(prev.viewnum + 1);
            expect(cur.primary !== prev.primary || cur.backup !== prev.backup, ctx).to.equal(true);
            expect(cur.primary, ctx).to.not.equal(null);
            expect(cur.primary, ctx).to.not.equal(cur.backup);
            expect(out, ctx).to.deep.equal({ view: cur, holders: h.vm.holders });
            expect(h.vm.acked, ctx).to.equal(false);
            if (prev.viewnum > 0) {
              expect(prevAcked || ackingPing, `${ctx}: changed while unacknowledged`).to.equal(true);
              expect([prev.primary, prev.backup], ctx).to.include(cur.primary);
              expect([prevHolders.primary, prevHolders.backup], ctx).to.include(h.vm.holders.primary);
              expect(everInView.has(cur.primary as string), `${ctx}: an idle server became primary`).to.equal(true);
            }
            everInView.add(cur.primary as string);
            if (cur.backup !== null) everInView.add(cur.backup);
          }
          expect(h.vm.holders.primary === null, ctx).to.equal(cur.primary === null);
          expect(h.vm.holders.backup === null, ctx).to.equal(cur.backup === null);
        }
        expect(changes, 'the schedule should exercise view changes').to.be.greaterThan(100);
        expect(episodes).to.be.greaterThan(1);
      });
    }
  });
});
