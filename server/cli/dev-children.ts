/**
 * The child processes of `understudy dev`: started with an IPC channel (so they exit when
 * `dev` disappears), their output merged into one pretty log, stopped together.
 */
import { spawn, ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';

const BIN = path.resolve(__dirname, '..', '..', '..', 'bin', 'understudy.js');
const LEVEL_NAMES: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
const COLORS = ['\x1b[36m', '\x1b[35m', '\x1b[33m', '\x1b[32m', '\x1b[34m', '\x1b[91m', '\x1b[96m'];
/** After SIGTERM, a child has this long to stop gracefully before SIGKILL. */
const STOP_GRACE_MS = 5000;

/** One child: its log label, what to call it in a message, its port, its arguments. */
export interface ChildSpec { name: string; what: string; port: number; args: string[] }

/** A child that died before the cluster served: which, how (exit code or signal), its first stderr line. */
export interface ChildFailure { what: string; exit: string; reason: string | null }

/** One pino JSON line → one readable line; anything else passes through. */
export function prettyLine(name: string, line: string, color: boolean): string {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(line);
  } catch {
    return `${name} ${line}`;
  }
  if (typeof o !== 'object' || o === null) return `${name} ${line}`;
  const { level, time, msg, pid: _pid, hostname: _h, role: _r, id: _id, ...rest } = o as Record<string, unknown>;
  const t = typeof time === 'string' ? time.slice(11, 23) : new Date().toISOString().slice(11, 23);
  const lv = (LEVEL_NAMES[level as number] ?? String(level)).padEnd(5);
  const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
  const lvColored = color && (level as number) >= 40 ? `\x1b[31m${lv}\x1b[0m` : lv;
  return `${t} ${name} ${lvColored} ${msg ?? ''}${extra}`;
}

const running = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;

export class DevChildren {
  /** The first child that died before markServing(); null while none has. */
  failure: ChildFailure | null = null;
  stopping = false;
  private serving = false;
  private readonly children: ChildProcess[] = [];
  private readonly width: number;
  private wake: (() => void) | null = null;

  constructor(private readonly specs: readonly ChildSpec[], private readonly o: { color: boolean; logLevel: string }) {
    this.width = Math.max(...specs.map((s) => s.name.length));
  }

  startAll(): void {
    this.specs.forEach((spec, i) => this.start(spec, i));
  }

  /** From now on a child that dies is logged, not a start-up failure (e.g. `kill -9` of the primary). */
  markServing(): void {
    this.serving = true;
  }

  private start(spec: ChildSpec, i: number): void {
    const { color } = this.o;
    const child = spawn(process.execPath, [BIN, ...spec.args], {
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      env: { ...process.env, LOG_LEVEL: this.o.logLevel, PORT: '' },
    });
    const label = color ? `${COLORS[i % COLORS.length]}${spec.name.padEnd(this.width)}\x1b[0m` : spec.name.padEnd(this.width);
    let firstError: string | null = null;
    readline.createInterface({ input: child.stdout! }).on('line', (line) => process.stdout.write(prettyLine(label, line, color) + '\n'));
    readline.createInterface({ input: child.stderr! }).on('line', (line) => {
      firstError ??= line.replace(/^understudy: /, '');
      process.stdout.write(prettyLine(label, line, color) + '\n');
    });
    // 'close', not 'exit': by then its last stderr line has been read.
    child.on('close', (code, signal) => {
      if (this.stopping) return;
      process.stdout.write(`${label} exited (${signal ?? code})\n`);
      if (!this.serving && this.failure === null) {
        this.failure = { what: spec.what, exit: signal ? `signal ${signal}` : `exit code ${code}`, reason: firstError };
        this.wake?.();
      }
    });
    this.children.push(child);
  }

  /** Wait `ms`, or less if a child fails or a stop begins meanwhile. */
  idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.wake = null;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  /**
   * SIGINT/SIGTERM stop every child (SIGKILL after STOP_GRACE_MS); a second signal kills them
   * at once. Resolves 0 once all have exited after a signal.
   */
  stopOnSignals(): Promise<number> {
    return new Promise<number>((resolve) => {
      const onSignal = (): void => {
        if (this.stopping) {
          for (const c of this.children) c.kill('SIGKILL');
          return;
        }
        this.wake?.();
        this.stop(true).then(() => resolve(0));
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
    });
  }

  /** SIGTERM to every running child, SIGKILL to those left after STOP_GRACE_MS; resolves when all have exited. */
  stop(announce: boolean): Promise<void> {
    this.stopping = true;
    if (announce) process.stdout.write('\nstopping the dev cluster…\n');
    const left = this.children.filter(running);
    if (left.length === 0) return Promise.resolve();
    const force = setTimeout(() => { for (const c of left) c.kill('SIGKILL'); }, STOP_GRACE_MS);
    return Promise.all(left.map((c) => new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGTERM');
    }))).then(() => clearTimeout(force));
  }
}
