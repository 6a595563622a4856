/**
 * The CLI's pure parts (issue #16, SPEC §4): the one line of a server that cannot start,
 * the help texts, and the status lines. No ports, no processes (test/e2e/cli*.test.ts run it).
 */
import { expect } from 'chai';
import { startupFailure } from '../../server/cli/startup';
import { COMMAND_HELP, commandHelp, HELP } from '../../server/cli/help';
import { formatUptime, statusLines, ReplicaInfo } from '../../server/cli/status';
import { CLIENT_COMMANDS } from '../../server/cli/client-commands';

function errno(code: string, fields: Record<string, unknown>): Error {
  return Object.assign(new Error(`${fields.syscall ?? 'op'} ${code}: something`), { code, ...fields });
}

describe('cli: start-up failures in one line (issue #16)', () => {
  it('a taken port names the port and --port', () => {
    const line = startupFailure('replica', errno('EADDRINUSE', { syscall: 'listen', port: 7101, address: '0.0.0.0' }), 7101);
    expect(line).to.equal('cannot start the replica: port 7101 is already in use; stop what listens there, or choose another port with --port');
  });

  it('no permission to listen names the port and --port', () => {
    const line = startupFailure('view service', errno('EACCES', { syscall: 'listen', port: 80 }), 80);
    expect(line).to.equal('cannot start the view service: no permission to listen on port 80 (ports below 1024 need privileges); choose another with --port');
  });

  it('an address not of this machine names --host', () => {
    const line = startupFailure('view service', errno('EADDRNOTAVAIL', { syscall: 'listen', address: '10.9.9.9', port: 7000 }), 7000);
    expect(line).to.equal('cannot start the view service: 10.9.9.9 is not an address of this machine; choose another with --host');
  });

  it('a bad data dir names it and --data-dir', () => {
    expect(startupFailure('view service', errno('ENOTDIR', { syscall: 'mkdir', path: '/x/f/d' }), 7000))
      .to.equal('cannot start the view service: cannot use --data-dir "/x/f/d": a file is in the way (ENOTDIR)');
    expect(startupFailure('view service', errno('EACCES', { syscall: 'open', path: '/root/v/view.json' }), 7000))
      .to.equal('cannot start the view service: no permission to write "/root/v/view.json" (EACCES); choose another --data-dir');
  });

  it('anything else: its own message, first line only', () => {
    expect(startupFailure('view service', new Error('corrupt view.json\n  at x'), 7000)).to.equal('cannot start the view service: corrupt view.json');
  });
});

describe('cli: help (issue #16)', () => {
  it('every command has a help text that starts with its usage line', () => {
    for (const cmd of ['view', 'replica', 'dev', ...CLIENT_COMMANDS]) {
      const text = commandHelp(cmd);
      expect(text, cmd).to.be.a('string');
      expect(text!.split('\n')[0]).to.match(new RegExp(`^understudy ${cmd === 'delete' ? 'del' : cmd}( |$)`));
    }
    expect(commandHelp('frobnicate')).to.equal(undefined);
    expect(HELP).to.contain('understudy help COMMAND');
    expect(Object.keys(COMMAND_HELP)).to.not.include('delete');
  });
});

describe('cli: status lines (issue #16)', () => {
  const body = {
    viewnum: 3, primary: 'ws://h:1', backup: 'ws://h:2', acked: true,
    servers: [
      { id: 'ws://h:3', alive: true, lastPingMs: 10 },
      { id: 'ws://h:2', alive: true, lastPingMs: 20 },
      { id: 'ws://h:1', alive: true, lastPingMs: 30 },
    ],
  };
  const info = (id: string, pid: number, role: string, viewnum = 3): ReplicaInfo => ({ id, pid, uptimeMs: 65_000, role, viewnum });

  it('uptime reads as s, m, h, d', () => {
    expect([0, 59_999, 60_000, 3_599_000, 3_600_000, 86_400_000 + 3_600_000].map(formatUptime)).to.deep.equal(['0s', '59s', '1m00s', '59m59s', '1h00m', '1d01h']);
  });

  it('primary, backup, then idle, each with pid and uptime from its /info', () => {
    const infos = new Map([['ws://h:1', info('ws://h:1', 11, 'primary')], ['ws://h:2', info('ws://h:2', 22, 'backup')], ['ws://h:3', null]]);
    const lines = statusLines(body, infos);
    expect(lines[0]).to.equal('view 3 (acknowledged by its primary)');
    expect(lines[1]).to.match(/^ {2}primary {2}ws:\/\/h:1 +alive {2}pid 11 +up 1m05s +last ping 30 ms ago$/);
    expect(lines[2]).to.match(/^ {2}backup {3}ws:\/\/h:2 +alive {2}pid 22 +up 1m05s +last ping 20 ms ago$/);
    expect(lines[3]).to.match(/^ {2}idle {5}ws:\/\/h:3 +alive {2}pid - +up - +last ping 10 ms ago$/);
  });

  it('a replica whose own role or view differs from the view service\'s says so', () => {
    const infos = new Map([['ws://h:1', info('ws://h:1', 11, 'primary')], ['ws://h:2', info('ws://h:2', 22, 'idle', 2)]]);
    expect(statusLines(body, infos)[2]).to.match(/\(itself: idle in view 2\)$/);
  });
});
