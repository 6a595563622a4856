/**
 * A primary that cannot get its backup to apply anything (a partition between the two that
 * the view service cannot see: both still ping it) reports the backup, and the view service
 * replaces it by the usual rules (SPEC §2.5), instead of every operation stalling until the
 * partition heals. Manual clock, no ports, no sleeps.
 */
import { expect } from 'chai';
import { ViewMachine, MAX_SERVERS } from '../../server/viewservice/view-machine';
import { ManualClock } from '../support/manual-clock';

const PING = 100;
const DEAD = 5;

/** View 2 {A, B} acknowledged, C idle; every server has incarnation `<id>1`. */
function cluster(): { vm: ViewMachine; clock: ManualClock } {
  const clock = new ManualClock();
  const vm = new ViewMachine({ pingIntervalMs: PING, deadPings: DEAD, clock });
  vm.ping('A', 'A1', 0);
  vm.ping('A', 'A1', 1);
  vm.ping('B', 'B1', 0);
  vm.ping('A', 'A1', 2);
  vm.ping('C', 'C1', 0);
  vm.takeNewView();
  expect(vm.view).to.deep.equal({ viewnum: 2, primary: 'A', backup: 'B' });
  expect(vm.acked).to.equal(true);
  return { vm, clock };
}

describe('ViewMachine#suspect (primary reports a backup it cannot reach)', () => {
  it('replaces the backup reported by the primary of the acknowledged view with an idle replica (SPEC §2.5)', () => {
    const { vm } = cluster();
    vm.suspect('A', 'A1', 'B');
    expect(vm.view).to.deep.equal({ viewnum: 3, primary: 'A', backup: 'C' });
    expect(vm.takeNewView()?.view).to.deep.equal({ viewnum: 3, primary: 'A', backup: 'C' });
  });

  it('believes only the primary holder of the current view: reports from the backup, an idle replica, another incarnation, or about another server change nothing', () => {
    const { vm } = cluster();
    vm.suspect('B', 'B1', 'B');
    vm.suspect('C', 'C1', 'B');
    vm.suspect('A', 'A0', 'B');
    vm.suspect('A', 'A1', 'C');
    expect(vm.view.viewnum).to.equal(2);
    expect(vm.takeNewView()).to.equal(null);
  });

  it('changes nothing while the view is not acknowledged (SPEC §2.3)', () => {
    const { vm } = cluster();
    vm.suspect('A', 'A1', 'B'); // view 3 {A, C}, not yet acknowledged
    vm.takeNewView();
    vm.suspect('A', 'A1', 'C');
    expect(vm.view).to.deep.equal({ viewnum: 3, primary: 'A', backup: 'C' });
    expect(vm.acked).to.equal(false);
  });

  it('does not make the suspected replica backup again during its cooldown, so a lasting partition cannot bring it straight back', () => {
    const { vm, clock } = cluster();
    vm.suspect('A', 'A1', 'B');
    vm.ping('A', 'A1', 3); // acknowledges {A, C}
    vm.suspect('A', 'A1', 'C'); // C unreachable too: no idle replica left outside its cooldown
    expect(vm.view).to.deep.equal({ viewnum: 4, primary: 'A', backup: null });
    vm.ping('A', 'A1', 4);
    for (let i = 0; i < 10; i++) {
      clock.advance(PING);
      vm.ping('A', 'A1', 4);
      vm.ping('B', 'B1', 2); // B is alive again as an idle replica (SPEC §2.8) but cools down
      vm.ping('C', 'C1', 3);
      vm.tick();
    }
    expect(vm.view).to.deep.equal({ viewnum: 4, primary: 'A', backup: null });
    clock.advance(20 * DEAD * PING);
    vm.ping('A', 'A1', 4);
    vm.ping('B', 'B1', 2); // after the cooldown its ping fills the empty slot (SPEC §2.6)
    expect(vm.view).to.deep.equal({ viewnum: 5, primary: 'A', backup: 'B' });
  });
});

describe('ViewMachine server records', () => {
  it('keeps at most MAX_SERVERS records: pings under ever new ids forget the oldest dead ones, never the view\'s or live ones', () => {
    const clock = new ManualClock();
    const vm = new ViewMachine({ pingIntervalMs: PING, deadPings: DEAD, clock });
    vm.ping('A', 'A1', 0);
    vm.ping('A', 'A1', 1);
    for (let i = 0; i < MAX_SERVERS + 500; i++) {
      vm.ping(`stranger-${i}`, 'x', 0);
      vm.linkClosed(`stranger-${i}`, 'x');
    }
    vm.ping('live', 'L1', 0);
    const servers = vm.status().servers;
    expect(servers.length).to.be.at.most(MAX_SERVERS);
    expect(servers.map((s) => s.id)).to.include.members(['A', 'live']);
    expect(vm.view).to.deep.equal({ viewnum: 2, primary: 'A', backup: 'stranger-0' });
  });
});
