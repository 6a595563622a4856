/**
 * The first five minutes (issue #16), as a user runs the CLI: real processes on 127.0.0.1,
 * exit codes and the exact first line of stderr. No half-started cluster (`dev` checks its
 * ports, and stops the others when a child fails), no silent waits (one-shot commands fail
 * fast when nothing listens), no stack traces (start-up failures in one line), --version,
 * help COMMAND, and `status` with pid, uptime and role. Every process is killed by pid.
 */
import { expect } from 'chai';
import { spawn, execFile, ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { killAll, spawnView, spawnReplica, waitForView, getJson, ViewStatus, freePort, waitFor } from '../support/processes';
import { portInUse } from '../../server/cli/startup';
import { PING_MS } from './helpers';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'understudy.js');
const VERSION = (JSON.parse(fs.readFileSync(path.resolve(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version;

interface Run { code: number; stdout: string; stderr: string; ms: number }

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, LOG_LEVEL: 'warn', ...env }, timeout: 40_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

const firstLine = (s: string): string => s.split('\n')[0];

/** Hold a TCP port on 127.0.0.1 as "something else" would; close() frees it. */
function holdPort(port = 0): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(port, '127.0.0.1', () => resolve(s));
  });
}
const portOf = (s: net.Server): number => (s.address() as net.AddressInfo).port;
const closeServer = (s: net.Server): Promise<void> => new Promise((r) => s.close(() => r()));

/** A port P with P and P+101..P+100+replicas free: what `understudy dev --port P` takes. */
async function freeDevPort(replicas = 3): Promise<number> {
  for (;;) {
    const p = 20000 + Math.floor(Math.random() * 40000);
    const ports = [p, ...Array.from({ length: replicas }, (_, i) => p + 101 + i)];
    let free = true;
    for (const q of ports) if (await portInUse(q)) { free = false; break; }
    if (free) return p;
  }
}

/** `understudy dev`, its stdout lines, and a kill by pid in `stopDev`. */
function startDev(args: string[], env: Record<string, string> = {}): { child: ChildProcess; out: string[]; err: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [BIN, 'dev', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'warn', ...env } });
  devs.add(child);
  const out: string[] = [];
  const err: string[] = [];
  readline.createInterface({ input: child.stdout! }).on('line', (l) => out.push(l));
  readline.createInterface({ input: child.stderr! }).on('line', (l) => err.push(l));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => { devs.delete(child); r(code); }));
  return { child, out, err, exited };
}
const devs = new Set<ChildProcess>();

describe('e2e: the CLI\'s first five minutes (issue #16, SPEC §4)', function () {
  this.timeout(90_000);
  const held: net.Server[] = [];
  afterEach(async () => {
    for (const c of devs) c.kill('SIGKILL');
    await Promise.all(held.splice(0).map(closeServer));
    await killAll();
  });

  it('--version and -v print package.json\'s version, exit 0', async () => {
    for (const flag of ['--version', '-v']) {
      const r = await run([flag]);
      expect(r.code, flag).to.equal(0);
      expect(r.stdout, flag).to.equal(`${VERSION}\n`);
    }
  });

  it('help COMMAND and COMMAND --help print that command\'s usage, exit 0; help of no command exits 2', async () => {
    for (const cmd of ['view', 'replica', 'dev', 'get', 'put', 'append', 'del', 'status', 'watch']) {
      const a = await run(['help', cmd]);
      const b = await run([cmd, '--help']);
      expect(a.code, `help ${cmd}`).to.equal(0);
      expect(b.code, `${cmd} --help`).to.equal(0);
      expect(firstLine(a.stdout)).to.match(new RegExp(`^understudy ${cmd} `));
      expect(b.stdout).to.equal(a.stdout);
    }
    const r = await run(['help', 'frobnicate']);
    expect(r.code).to.equal(2);
    expect(firstLine(r.stderr)).to.equal('understudy: no help for "frobnicate": not a command');
  });

  it('one-shot commands fail within about a second when the view service refuses the connection, naming the URL and `understudy dev`, exit 1', async () => {
    const url = `ws://127.0.0.1:${await freePort()}`;
    const line = `understudy: cannot connect to the view service at ${url} (connection refused); is a cluster running? Start one with \`understudy dev\`, or name another with --view`;
    for (const args of [['get', 'k'], ['put', 'k', 'v'], ['append', 'k', 'v'], ['del', 'k'], ['status'], ['watch', 'k*']]) {
      const r = await run([...args, '--view', url, '--timeout', '10000']);
      expect(r.code, args[0]).to.equal(1);
      expect(firstLine(r.stderr), args[0]).to.equal(line);
      // Process start-up included; far under the 10 s the client would wait.
      expect(r.ms, `${args[0]} took ${r.ms} ms`).to.be.below(4000);
    }
  });

  it('view and replica on a taken port: one line naming the port and --port, no stack trace, exit 1', async () => {
    const s = await holdPort();
    held.push(s);
    const port = portOf(s);
    const v = await run(['view', '--host', '127.0.0.1', '--port', String(port)]);
    expect(v.code).to.equal(1);
    expect(firstLine(v.stderr)).to.equal(`understudy: cannot start the view service: port ${port} is already in use; stop what listens there, or choose another port with --port`);
    expect(v.stderr).not.to.match(/\n\s+at /);
    const r = await run(['replica', '--host', '127.0.0.1', '--port', String(port), '--view', 'ws://127.0.0.1:1']);
    expect(r.code).to.equal(1);
    expect(firstLine(r.stderr)).to.equal(`understudy: cannot start the replica: port ${port} is already in use; stop what listens there, or choose another port with --port`);
    expect(r.stderr).not.to.match(/\n\s+at /);
  });

  it('view with a --data-dir that a file is in the way of: one line, exit 1', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-cli-')), 'a-file');
    fs.writeFileSync(file, 'not a directory');
    const v = await run(['view', '--host', '127.0.0.1', '--port', '0', '--data-dir', file]);
    expect(v.code).to.equal(1);
    expect(firstLine(v.stderr)).to.equal(`understudy: cannot start the view service: cannot use --data-dir ${JSON.stringify(file)}: a file is in the way (EEXIST)`);
  });

  it('dev prints the dashboard only once the cluster serves; a second dev on the same ports starts nothing, names the port and --port, exit 1', async () => {
    const port = await freeDevPort();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-dev-'));
    const first = startDev(['--port', String(port), '--data-dir', dataDir]);
    await waitFor('the dashboard line', () => first.out.some((l) => l.startsWith('Dashboard: ')), 30_000);
    // Asked right after the line: the cluster already serves.
    const v = await getJson<ViewStatus>(`http://127.0.0.1:${port}/view`);
    expect(v.primary, 'primary when the dashboard line appears').to.not.equal(null);
    expect(v.acked).to.equal(true);
    expect(first.out).to.include(`Dashboard: http://127.0.0.1:${port}/`);

    const second = await run(['dev', '--port', String(port), '--data-dir', dataDir]);
    expect(second.code).to.equal(1);
    expect(firstLine(second.stderr)).to.equal(`understudy: port ${port} (the view service) is already in use; is another \`understudy dev\` running? Stop it, or choose other ports with \`understudy dev --port PORT\``);
    expect(second.stdout, 'nothing started').to.equal('');

    // Only a replica's port taken (say, one of the first cluster's replicas): still nothing starts.
    const other = await freeDevPort();
    const s = await holdPort(other + 102);
    held.push(s);
    const third = await run(['dev', '--port', String(other), '--data-dir', dataDir]);
    expect(third.code).to.equal(1);
    expect(firstLine(third.stderr)).to.equal(`understudy: port ${other + 102} (replica 2) is already in use; is another \`understudy dev\` running? Stop it, or choose other ports with \`understudy dev --port PORT\``);
    expect(third.stdout).to.equal('');
    expect(await portInUse(other), 'no view service of the third dev').to.equal(false);

    // The first cluster is untouched.
    const after = await getJson<ViewStatus>(`http://127.0.0.1:${port}/view`);
    expect(after.servers.filter((x) => x.alive).length).to.equal(3);
    first.child.kill('SIGINT');
    expect(await first.exited).to.equal(0);
  });

  it('dev: a child that fails to start stops the others; dev exits 1, never prints the dashboard', async () => {
    const port = await freeDevPort();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'understudy-dev-'));
    // Only the view service reads UNDERSTUDY_MAX_SUBSCRIBERS: it exits 2, the replicas start.
    const dev = startDev(['--port', String(port), '--data-dir', dataDir], { UNDERSTUDY_MAX_SUBSCRIBERS: 'abc' });
    const code = await dev.exited;
    expect(code).to.equal(1);
    expect(dev.err[0]).to.equal('understudy: the view service failed to start (exit code 2: --max-subscribers must be a positive integer (got "abc")); stopping the others');
    expect(dev.out.join('\n')).not.to.contain('Dashboard:');
    for (let i = 0; i < 3; i++) expect(await portInUse(port + 101 + i), `replica ${i + 1} stopped`).to.equal(false);
  });

  it('status shows each replica\'s pid, uptime and role; `kill -9 $(understudy status --pid primary)` kills the primary', async () => {
    const vs = await spawnView({ pingInterval: PING_MS });
    const a = await spawnReplica({ view: vs.url, pingInterval: PING_MS });
    await waitForView(vs, (x) => x.primary === a.id && x.acked);
    const b = await spawnReplica({ view: vs.url, pingInterval: PING_MS });
    await waitForView(vs, (x) => x.backup === b.id && x.acked);
    const st = await run(['status', '--view', vs.url]);
    expect(st.code).to.equal(0);
    const lines = st.stdout.split('\n');
    expect(lines[1]).to.match(new RegExp(`^  primary  ${a.id.replace(/[.]/g, '\\.')}\\s+alive  pid ${a.pid}\\s+up \\d+s\\s+last ping \\d+ ms ago$`));
    expect(lines[2]).to.match(new RegExp(`^  backup   ${b.id.replace(/[.]/g, '\\.')}\\s+alive  pid ${b.pid}\\s+up \\d+s\\s+last ping \\d+ ms ago$`));
    const pid = await run(['status', '--pid', 'primary', '--view', vs.url]);
    expect(pid.stdout).to.equal(`${a.pid}\n`);
    // The README's walk-through, as typed.
    const sh = await new Promise<number | null>((resolve) => {
      execFile('sh', ['-c', `kill -9 $("${process.execPath}" "${BIN}" status --pid primary --view ${vs.url})`], (err) => resolve(err ? 1 : 0));
    });
    expect(sh).to.equal(0);
    await a.exited;
    expect(a.child.signalCode).to.equal('SIGKILL');
    await waitForView(vs, (x) => x.primary === b.id && x.acked);
  });
});
