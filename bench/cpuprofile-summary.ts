/**
 * Summarise V8 .cpuprofile files (from `node --cpu-prof`): self time per function and per
 * module, as a share of the time the process was not idle.
 *
 *   TS_NODE_TRANSPILE_ONLY=true node -r ts-node/register bench/cpuprofile-summary.ts FILE.cpuprofile [--top 15] [--json]
 *
 * Self time is summed from the sample time deltas (not hitCount × interval), grouped by
 * function name + file + line. "(idle)" is left out of the shares; "(garbage collector)" and
 * "(program)" (native work V8 cannot attribute, e.g. libuv, syscalls) are kept.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

interface CallFrame { functionName: string; url: string; lineNumber: number; columnNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface Profile { nodes: ProfileNode[]; startTime: number; endTime: number; samples: number[]; timeDeltas: number[] }

export interface Row { name: string; where: string; selfMs: number; share: number; totalMs?: number; totalShare?: number }
export interface Summary {
  file: string;
  wallMs: number;
  busyMs: number;
  idleMs: number;
  gcMs: number;
  programMs: number;
  top: Row[];
  modules: Row[];
}

function shortUrl(url: string): string {
  if (!url) return '';
  let u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) return u.slice(nm + 'node_modules/'.length);
  const root = path.resolve(__dirname, '..') + '/';
  if (u.startsWith(root)) u = u.slice(root.length);
  return u;
}

/** The module a frame belongs to: a package of node_modules, a node: builtin, or a project folder. */
function moduleOf(url: string): string {
  if (!url) return '(native / V8)';
  const u = url.replace(/^file:\/\//, '');
  const nm = u.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = u.slice(nm + 'node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (u.startsWith('node:')) return u.replace(/^node:(internal\/)?/, 'node:').split('/').slice(0, 2).join('/');
  const s = shortUrl(url);
  return s.split('/').slice(0, 3).join('/');
}

export function summarize(file: string, topN = 15): Summary {
  const p = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;
  const byId = new Map<number, ProfileNode>();
  const parent = new Map<number, number>();
  for (const n of p.nodes) byId.set(n.id, n);
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const selfById = new Map<number, number>();
  // timeDeltas[i] is the time since the previous sample: attribute it to sample i's node.
  for (let i = 0; i < p.samples.length; i++) {
    const d = (p.timeDeltas[i] ?? 0) / 1000;
    selfById.set(p.samples[i], (selfById.get(p.samples[i]) ?? 0) + d);
  }
  const self = new Map<string, { name: string; where: string; ms: number; url: string }>();
  const total = new Map<string, number>();
  let idle = 0;
  let gc = 0;
  let program = 0;
  let all = 0;
  for (const [id, ms] of selfById) {
    const n = byId.get(id)!;
    const cf = n.callFrame;
    all += ms;
    if (cf.functionName === '(idle)') { idle += ms; continue; }
    if (cf.functionName === '(garbage collector)') gc += ms;
    if (cf.functionName === '(program)') program += ms;
    const where = cf.url ? `${shortUrl(cf.url)}:${cf.lineNumber + 1}` : '';
    const key = `${cf.functionName}|${where}`;
    const e = self.get(key) ?? { name: cf.functionName || '(anonymous)', where, ms: 0, url: cf.url };
    e.ms += ms;
    self.set(key, e);
    // Inclusive time: every distinct function on the stack once.
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      if (f.functionName === '(root)') break;
      const k = `${f.functionName}|${f.url ? `${shortUrl(f.url)}:${f.lineNumber + 1}` : ''}`;
      if (seen.has(k)) continue;
      seen.add(k);
      total.set(k, (total.get(k) ?? 0) + ms);
    }
  }
  const busy = all - idle;
  const rows = [...self.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const top: Row[] = rows.slice(0, topN).map(([k, e]) => ({
    name: e.name, where: e.where, selfMs: e.ms, share: e.ms / busy,
    totalMs: total.get(k) ?? e.ms, totalShare: (total.get(k) ?? e.ms) / busy,
  }));
  const mods = new Map<string, number>();
  for (const [, e] of rows) {
    const m = e.name === '(garbage collector)' ? '(garbage collector)' : e.name === '(program)' ? '(program)' : moduleOf(e.url);
    mods.set(m, (mods.get(m) ?? 0) + e.ms);
  }
  const modules: Row[] = [...mods.entries()].sort((a, b) => b[1] - a[1]).slice(0, topN).map(([m, ms]) => ({ name: m, where: '', selfMs: ms, share: ms / busy }));
  return { file, wallMs: (p.endTime - p.startTime) / 1000, busyMs: busy, idleMs: idle, gcMs: gc, programMs: program, top, modules };
}

export function render(s: Summary): string {
  const pct = (x: number): string => `${(x * 100).toFixed(1)}%`.padStart(6);
  const ms = (x: number): string => `${x.toFixed(0)} ms`.padStart(9);
  const lines = [
    `${path.basename(s.file)}: ${(s.wallMs / 1000).toFixed(1)} s profiled, busy ${(s.busyMs / 1000).toFixed(1)} s (idle ${(s.idleMs / 1000).toFixed(1)} s), GC ${pct(s.gcMs / s.busyMs).trim()} of busy`,
    `  top functions by self time (share of busy; inclusive in brackets):`,
    ...s.top.map((r, i) => `  ${String(i + 1).padStart(2)}. ${pct(r.share)} ${ms(r.selfMs)}  [${pct(r.totalShare ?? 0).trim()}]  ${r.name}  ${r.where}`),
    `  by module (self time):`,
    ...s.modules.map((r) => `      ${pct(r.share)} ${ms(r.selfMs)}  ${r.name}`),
  ];
  return lines.join('\n');
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const topIdx = args.indexOf('--top');
  const topN = topIdx >= 0 ? Number(args[topIdx + 1]) : 15;
  const json = args.includes('--json');
  const files = args.filter((a, i) => !a.startsWith('--') && (topIdx < 0 || i !== topIdx + 1));
  if (!files.length) {
    process.stderr.write('usage: cpuprofile-summary.ts FILE.cpuprofile… [--top N] [--json]\n');
    process.exit(2);
  }
  const sums = files.map((f) => summarize(f, topN));
  process.stdout.write(json ? JSON.stringify(sums, null, 2) + '\n' : sums.map(render).join('\n\n') + '\n');
}
