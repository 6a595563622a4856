/**
 * View-service restarts on the deterministic core (docs/VIEW-SERVICE-RESTART.md): the view
 * saved before it is announced and resumed from storage, and, without a saved state, the view
 * recovered from the replicas' reports. A manual clock, an in-memory storage, no ports.
 */
import { expect } from 'chai';
import { ViewMachine } from '../../server/viewservice/view-machine';
import { MemoryViewStorage, parsePersistedView, type PersistedView, type ReplicaReport, type ViewStorage } from '../../common/recovery';
import { makeView, type View, type ViewHolders } from '../../common/view';
import { ManualClock } from '../support/manual-clock';

const PING = 100;
const DEAD = 5;
const WINDOW = PING * DEAD;

function machine(clock: ManualClock, storage?: ViewStorage): ViewMachine {
  return new ViewMachine({ pingIntervalMs: PING, deadPings: DEAD, clock, storage });
}

function expectView(v: View, viewnum: number, primary: string | null, backup: string | null): void {
  expect({ viewnum: v.viewnum, primary: v.primary, backup: v.backup }).to.deep.equal({ viewnum, primary, backup });
}

/** A report as a replica's shell sends it (ReplicaMachine.report()). */
function report(view: View, holders: ViewHolders | null, role: ReplicaReport['role'], initialised: boolean): ReplicaReport {
  return { view, holders, role, initialised };
}

/** Reports of a healthy cluster in view `v` = {A, B} (acknowledged by A), and an idle C. */
function cluster(viewnum: number, o: { acked?: boolean; installed?: boolean; backup?: string | null } = {}) {
  const backup = o.backup === undefined ? 'B' : o.backup;
  const view = makeView(viewnum, 'A', backup);
  const holders: ViewHolders = { primary: 'A1', backup: backup === null ? null : `${backup}1` };
  const acked = o.acked ?? true;
  return {
    view,
    holders,
    A: (vm: ViewMachine) => vm.ping('A', 'A1', acked ? viewnum : viewnum - 1, report(view, holders, 'primary', true)),
    B: (vm: ViewMachine) => vm.ping('B', 'B1', viewnum, report(view, holders, 'backup', o.installed ?? acked)),
    C: (vm: ViewMachine, known: View = view) => vm.ping('C', 'C1', known.viewnum, report(known, holders, 'idle', false)),
  };
}

/** A fresh process's first ping (knows nothing). */
const fresh = (vm: ViewMachine, id: string, incarnation = `${id}2`) =>
  vm.ping(id, incarnation, 0, report(makeView(0, null, null), { primary: null, backup: null }, 'idle', false));

/** `ms` pass in pingIntervals; in each, `pings` run (the live replicas ping), then the shell's tick. */
function during(vm: ViewMachine, clock: ManualClock, ms: number, pings: () => void = () => {}): void {
  for (let t = 0; t < ms; t += PING) {
    clock.advance(PING);
    pings();
    vm.tick();
  }
}

/** Throws on demand, to show that a failed save changes nothing. */
class FlakyStorage extends MemoryViewStorage {
  fail = false;
  override save(state: PersistedView): void {
    if (this.fail) throw new Error('disk full');
    super.save(state);
  }
}

describe('ViewMachine restarts (docs/VIEW-SERVICE-RESTART.md)', () => {
  describe('with a storage: saved before announced, resumed after a restart', () => {
    it('saves every new view before it can be announced; a failed save leaves the view as it was', () => {
      const clock = new ManualClock();
      const storage = new FlakyStorage();
      const vm = machine(clock, storage);
      vm.ping('A', 'A1', 0);
      expect(storage.load()?.view).to.deep.equal(vm.view);
      vm.ping('A', 'A1', 1);
      vm.takeNewView();
      storage.fail = true;
      expect(() => vm.ping('B', 'B1', 0)).to.throw('disk full');
      expectView(vm.view, 1, 'A', null);
      expect(vm.takeNewView(), 'nothing to announce').to.equal(null);
      storage.fail = false;
      vm.ping('B', 'B1', 0);
      expectView(vm.view, 2, 'A', 'B');
      expect(storage.load()).to.deep.include({ view: vm.view, acked: false });
      expect(storage.load()?.holders).to.deep.equal({ primary: 'A1', backup: 'B1' });
    });

    it('saves the acknowledgement too (SPEC §2.3)', () => {
      const clock = new ManualClock();
      const storage = new MemoryViewStorage();
      const vm = machine(clock, storage);
      vm.ping('A', 'A1', 0);
      expect(storage.load()?.acked).to.equal(false);
      vm.ping('A', 'A1', 1);
      expect(storage.load()?.acked).to.equal(true);
      const saves = storage.saves;
      for (let i = 0; i < 10; i++) vm.ping('A', 'A1', 1);
      expect(storage.saves, 'no save while nothing changes').to.equal(saves);
    });

    it('a restarted machine resumes the saved view, holders and acknowledgement, and is not recovering', () => {
      const clock = new ManualClock();
      const storage = new MemoryViewStorage();
      const vm = machine(clock, storage);
      vm.ping('A', 'A1', 0); vm.ping('A', 'A1', 1); vm.ping('B', 'B1', 0); vm.ping('A', 'A1', 2);
      const again = machine(clock, storage);
      expect(again.recovering).to.equal(false);
      expect(again.view).to.deep.equal(vm.view);
      expect(again.holders).to.deep.equal({ primary: 'A1', backup: 'B1' });
      expect(again.acked).to.equal(true);
      expect(again.takeEvents()).to.deep.equal([{ kind: 'resumed', view: vm.view, acked: true }]);
      expect(again.status().servers.map((s) => [s.id, s.alive])).to.deep.equal([['A', true], ['B', true]]);
    });

    it('after a resume, the primary pinging with its incarnation keeps serving; new views continue the numbering', () => {
      const clock = new ManualClock();
      const storage = new MemoryViewStorage();
      const vm = machine(clock, storage);
      vm.ping('A', 'A1', 0); vm.ping('A', 'A1', 1); vm.ping('B', 'B1', 0); vm.ping('A', 'A1', 2);
      const again = machine(clock, storage);
      expectView(again.ping('A', 'A1', 2), 2, 'A', 'B');
      again.ping('B', 'B1', 2);
      again.linkClosed('B', 'B1');
      expectView(again.view, 3, 'A', null);
    });

    it('after a resume the holders count as alive until deadPings from the start: a silent primary gives way to its backup (SPEC §2.5)', () => {
      const clock = new ManualClock();
      const storage = new MemoryViewStorage();
      const vm = machine(clock, storage);
      vm.ping('A', 'A1', 0); vm.ping('A', 'A1', 1); vm.ping('B', 'B1', 0); vm.ping('A', 'A1', 2);
      const again = machine(clock, storage);
      for (let i = 0; i < DEAD - 1; i++) { clock.advance(PING); again.ping('B', 'B1', 2); again.tick(); }
      expectView(again.view, 2, 'A', 'B');
      clock.advance(PING); again.ping('B', 'B1', 2); again.tick();
      expectView(again.view, 3, 'B', null);
    });

    it('after a resume, a holder pinging with a new incarnation lost its state (SPEC §2.1, §2.4)', () => {
      const clock = new ManualClock();
      const storage = new MemoryViewStorage();
      const vm = machine(clock, storage);
      vm.ping('A', 'A1', 0); vm.ping('A', 'A1', 1); vm.ping('B', 'B1', 0); vm.ping('A', 'A1', 2);
      const again = machine(clock, storage);
      again.ping('B', 'B1', 2);
      again.ping('A', 'A2', 0); // A restarted while the view service was down
      expectView(again.view, 3, 'B', null);
      again.ping('B', 'B1', 3);
      expectView(again.view, 4, 'B', 'A'); // the restarted A is a fresh idle replica (SPEC §2.8)
      expect(again.holders).to.deep.equal({ primary: 'B1', backup: 'A2' });
    });

    it('a resumed view its primary had not acknowledged stays until it does (SPEC §2.3)', () => {
      const clock = new ManualClock();
      const storage = new MemoryViewStorage();
      const vm = machine(clock, storage);
      vm.ping('A', 'A1', 0); vm.ping('A', 'A1', 1); vm.ping('B', 'B1', 0); // view 2, transfer pending
      const again = machine(clock, storage);
      expect(again.acked).to.equal(false);
      again.linkClosed('A', 'A1'); // not even linked yet: nothing happens
      for (let i = 0; i < 3 * DEAD; i++) { clock.advance(PING); again.ping('B', 'B1', 2); again.tick(); }
      expectView(again.view, 2, 'A', 'B');
    });

    it('parsePersistedView refuses a torn or inconsistent file with a message', () => {
      expect(() => parsePersistedView('{"version":1,"view":')).to.throw('not valid JSON');
      expect(() => parsePersistedView('{"version":2}')).to.throw('"version": 1');
      const ok = { version: 1, view: { viewnum: 2, primary: 'A', backup: null }, holders: { primary: 'A1', backup: null }, acked: true, maxViewnum: 2 };
      expect(parsePersistedView(JSON.stringify(ok))).to.deep.equal(ok);
      expect(() => parsePersistedView(JSON.stringify({ ...ok, holders: { primary: null, backup: null } }))).to.throw('holders.primary');
      expect(() => parsePersistedView(JSON.stringify({ ...ok, acked: 'yes' }))).to.throw('acked');
    });
  });

  describe('without a saved state: recovered from the replicas\' reports', () => {
    it('forms no view during the recovery window, not even for a fresh replica', () => {
      const clock = new ManualClock();
      const vm = machine(clock);
      expect(vm.recovering).to.equal(true);
      fresh(vm, 'F');
      clock.advance(WINDOW - 1);
      fresh(vm, 'F');
      vm.tick();
      expectView(vm.view, 0, null, null);
      expect(vm.recoveryWait()).to.match(/recovery window/);
    });

    it('a holder\'s viewnum-0 ping with a report was sent before the view reached it: not a restart (new incarnations are)', () => {
      const clock = new ManualClock();
      const vm = machine(clock);
      during(vm, clock, WINDOW, () => { fresh(vm, 'F', 'F1'); });
      expectView(vm.view, 1, 'F', null);
      fresh(vm, 'F', 'F1'); // in flight when view 1 formed
      expect(vm.status().servers.find((x) => x.id === 'F')?.incarnation).to.equal('F1');
      vm.ping('F', 'F1', 1, report(vm.view, vm.holders, 'primary', true));
      expect(vm.acked).to.equal(true);
    });

    it('a fresh cluster: nobody knows a view after the window, so the first replica becomes primary of view 1 (SPEC §2.2)', () => {
      const clock = new ManualClock();
      const vm = machine(clock);
      during(vm, clock, WINDOW, () => { fresh(vm, 'F'); fresh(vm, 'G'); });
      expect(vm.recovering).to.equal(false);
      expectView(vm.view, 1, 'F', null);
    });

    it('a SPEC §6 ping without a report as the first ping means a fresh cluster at once (SPEC §2.2, §2.6)', () => {
      const vm = machine(new ManualClock());
      expectView(vm.ping('A', 'A1', 0), 1, 'A', null);
      expect(vm.recovering).to.equal(false);
    });

    it('adopts the highest reported view once its primary and backup reported, acknowledged as its primary said', () => {
      const clock = new ManualClock();
      const storage = new MemoryViewStorage();
      const vm = machine(clock, storage);
      const c = cluster(7);
      const old = makeView(5, 'A', 'C'); // an idle replica with an old view
      during(vm, clock, WINDOW, () => { c.C(vm, old); c.A(vm); });
      expect(vm.recovering, 'B has not reported yet').to.equal(true);
      expect(vm.recoveryWait()).to.match(/backup of view 7, B/);
      c.B(vm);
      expect(vm.recovering).to.equal(false);
      expect(vm.view).to.deep.equal(c.view);
      expect(vm.holders).to.deep.equal(c.holders);
      expect(vm.acked).to.equal(true);
      expect(vm.takeNewView()).to.deep.equal({ view: c.view, holders: c.holders });
      expect(storage.load()).to.deep.include({ view: c.view, acked: true });
      expect(vm.takeEvents().map((e) => e.kind)).to.include.members(['recovering', 'recovered']);
    });

    it('waits for the holders of the highest view however long: a silent holder may be serving in it', () => {
      const clock = new ManualClock();
      const vm = machine(clock);
      const c = cluster(4, { backup: null }); // view 4 = {A, -}: only A has the data
      c.C(vm);
      for (let i = 0; i < 100; i++) { clock.advance(PING); c.C(vm); fresh(vm, 'F'); vm.tick(); }
      expect(vm.recovering).to.equal(true);
      expectView(vm.view, 0, null, null);
      c.A(vm);
      expect(vm.recovering).to.equal(false);
      expectView(vm.view, 5, 'A', 'C');
    });

    it('a holder that pings with a new incarnation restarted: its slot is dead and the backup takes over (SPEC §2.4, §2.5)', () => {
      const clock = new ManualClock();
      const vm = machine(clock);
      const c = cluster(7);
      // A restarted during the outage: its state is gone.
      during(vm, clock, WINDOW, () => { c.B(vm); fresh(vm, 'A', 'A2'); c.C(vm); });
      expect(vm.recovering).to.equal(false);
      // The primary's restart left no acknowledgement, but B installed view 7's transfer.
      expectView(vm.view, 8, 'B', 'C');
      expect(vm.holders).to.deep.equal({ primary: 'B1', backup: 'C1' });
    });

    it('an adopted view that was never acknowledged stays until its primary acknowledges it (SPEC §2.3)', () => {
      const clock = new ManualClock();
      const vm = machine(clock);
      const c = cluster(7, { acked: false, installed: false }); // A's transfer to B is pending
      during(vm, clock, WINDOW, () => { c.A(vm); c.B(vm); });
      expectView(vm.view, 7, 'A', 'B');
      expect(vm.acked).to.equal(false);
      vm.linkClosed('B', 'B1');
      expectView(vm.view, 7, 'A', 'B');
      vm.ping('A', 'A1', 7, report(c.view, c.holders, 'primary', true)); // the transfer completed: an ack
      expectView(vm.view, 8, 'A', null);
    });

    it('never makes an uninitialised replica primary: with both holders restarted the view stays stuck (SPEC §2.4)', () => {
      const clock = new ManualClock();
      const vm = machine(clock);
      cluster(7).C(vm);
      fresh(vm, 'A', 'A2'); fresh(vm, 'B', 'B2');
      for (let i = 0; i < 20; i++) { clock.advance(PING); fresh(vm, 'A', 'A2'); fresh(vm, 'B', 'B2'); cluster(7).C(vm); vm.tick(); }
      expect(vm.recovering).to.equal(false);
      expectView(vm.view, 7, 'A', 'B');
      expect(vm.status().servers.filter((s) => s.alive).map((s) => s.id)).to.have.members(['A', 'B', 'C']);
    });

    it('waits while a newer view is known only without holders, and adopts it once its holders report it', () => {
      const clock = new ManualClock();
      const vm = machine(clock);
      // A, deposed, learned view 9 = {B, C} from its backup's reject: a number, no holders.
      const v9 = makeView(9, 'B', 'C');
      const h9 = { primary: 'B1', backup: 'C1' };
      const a = () => vm.ping('A', 'A1', 7, report(v9, null, 'idle', false));
      during(vm, clock, WINDOW, a);
      expect(vm.recovering).to.equal(true);
      expect(vm.recoveryWait()).to.match(/knows view 9/);
      during(vm, clock, PING, () => {
        a();
        vm.ping('B', 'B1', 9, report(v9, h9, 'primary', true));
        vm.ping('C', 'C1', 9, report(v9, h9, 'backup', true));
      });
      expect(vm.recovering).to.equal(false);
      expectView(vm.view, 9, 'B', 'C');
      expect(vm.acked).to.equal(true);
    });

    it('numbers the first view after recovery above every reported viewnum', () => {
      const clock = new ManualClock();
      const vm = machine(clock);
      const c = cluster(7);
      during(vm, clock, WINDOW, () => { c.A(vm); c.B(vm); });
      expectView(vm.view, 7, 'A', 'B');
      // Now a replica reports knowing 9 without holders (a reject): the next view is 10.
      vm.ping('C', 'C1', 0, report(makeView(9, 'B', 'C'), null, 'idle', false));
      vm.linkClosed('B', 'B1');
      expectView(vm.view, 10, 'A', 'C');
    });

    it('a replica reporting a view above the current one makes the machine recover again (its state is behind)', () => {
      const clock = new ManualClock();
      const storage = new MemoryViewStorage();
      storage.save({ version: 1, view: makeView(3, 'A', 'B'), holders: { primary: 'A1', backup: 'B1' }, acked: true, maxViewnum: 3 }); // a stale data dir
      const vm = machine(clock, storage);
      const c = cluster(7);
      c.A(vm);
      expect(vm.recovering).to.equal(true);
      during(vm, clock, WINDOW, () => { c.A(vm); c.B(vm); });
      expect(vm.recovering).to.equal(false);
      expectView(vm.view, 7, 'A', 'B');
      expect(storage.load()?.view.viewnum).to.equal(7);
    });

    it('after recovery, the normal rules go on: a dead backup is replaced by an idle replica (SPEC §2.5)', () => {
      const clock = new ManualClock();
      const vm = machine(clock);
      const c = cluster(7);
      during(vm, clock, WINDOW, () => { c.A(vm); c.B(vm); c.C(vm); });
      vm.takeNewView();
      vm.linkClosed('B', 'B1');
      expectView(vm.view, 8, 'A', 'C');
      expect(vm.holders).to.deep.equal({ primary: 'A1', backup: 'C1' });
    });

    it('a view with only a primary, acknowledged: a fresh replica may become its backup, never its primary (SPEC §2.4)', () => {
      const clock = new ManualClock();
      const vm = machine(clock);
      const c = cluster(3, { backup: null });
      during(vm, clock, WINDOW, () => { fresh(vm, 'F'); c.A(vm); });
      expectView(vm.view, 4, 'A', 'F');
    });
  });
});
