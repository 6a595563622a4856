/** The SPEC §10 commands of the CLI: put/del --if-revision, list with --limit/--after/--keys-only. */
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { killAll, spawnView, spawnReplica, waitForView } from '../support/processes';
import { PING_MS } from './helpers';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'understudy.js');

function run(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, ...args], { timeout: 20000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : 1) : 0, stdout, stderr });
    });
    child.stdin?.end(stdin ?? '');
  });
}

describe('e2e: command line for applications (SPEC §10)', function () {
  this.timeout(60_000);
  afterEach(killAll);

  it('put/del --if-revision write only at that revision, else exit 1 with CONFLICT; list pages a prefix as JSON; atomic reads a commit on stdin', async () => {
    const vs = await spawnView({ pingInterval: PING_MS });
    await spawnReplica({ view: vs.url, pingInterval: PING_MS });
    await waitForView(vs, (v) => v.primary !== null && v.acked);
    const view = ['--view', vs.url];
    expect((await run(['put', 'u:1', 'a', '--if-revision', '0', ...view])).stdout).to.equal('OK\n');
    const stale = await run(['put', 'u:1', 'b', '--if-revision', '0', ...view]);
    expect(stale.code).to.equal(1);
    expect(stale.stderr).to.match(/CONFLICT: .*is at revision 1, not 0/);
    expect((await run(['put', 'u:2', 'b', ...view])).code).to.equal(0);
    expect((await run(['put', 'u:3', 'c', ...view])).code).to.equal(0);
    const page = JSON.parse((await run(['list', 'u:', '--limit', '2', ...view])).stdout) as unknown;
    expect(page).to.deep.equal({ entries: [{ key: 'u:1', value: 'a', revision: 1 }, { key: 'u:2', value: 'b', revision: 2 }], revision: 3, more: true });
    const next = JSON.parse((await run(['list', 'u:', '--after', 'u:2', '--keys-only', ...view])).stdout) as unknown;
    expect(next).to.deep.equal({ entries: [{ key: 'u:3', revision: 3 }], revision: 3, more: false });
    expect((await run(['del', 'u:3', '--if-revision', '2', ...view])).code).to.equal(1);
    expect((await run(['del', 'u:3', '--if-revision', '3', ...view])).stdout).to.equal('1\n');
    const commit = JSON.stringify({ checks: [['u:1', 1]], ops: [['put', 'u:1', 'z'], ['delete', 'u:2']] });
    const ok = await run(['atomic', ...view], commit);
    expect([ok.code, ok.stdout]).to.deep.equal([0, '{"ok":true,"revision":5}\n']);
    const again = await run(['atomic', ...view], commit);
    expect([again.code, again.stdout]).to.deep.equal([1, '{"ok":false,"key":"u:1","revision":5}\n']);
    expect((await run(['atomic', ...view], 'not json')).code).to.equal(2);
    for (const bad of [['list', 'u:', '--limit', '0'], ['put', 'k', 'v', '--if-revision', '-1'], ['get', 'k', '--if-revision', '1'], ['put', 'k', 'v', '--limit', '3']]) {
      expect((await run([...bad, ...view])).code, bad.join(' ')).to.equal(2);
    }
  });
});
