/**
 * `npm run chaos -- --seconds 60 --seed N [--clients 8] [--keys 5] [--rate 250] [--preload 0] [--app-ops 0.2] [--unsafe] [--etcd | --durable] [--seeds 1,2,3]`
 * --etcd: three view services on a 3-member etcd, with view-service and etcd-member kills (etcd-nemesis.ts).
 * --durable: data dirs and whole-cluster kill -9 and restart (durable-nemesis.ts).
 * Exit code 0 only when the history is linearizable and the cluster recovered.
 */
import { runChaos, formatReport, CHAOS_DEFAULTS } from './run-chaos';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function num(name: string, dflt: number): number {
  const v = arg(name);
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) {
    process.stderr.write(`--${name} must be a non-negative number (got ${JSON.stringify(v)})\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<number> {
  const seeds = arg('seeds') ? arg('seeds')!.split(',').map(Number) : [num('seed', Date.now() % 100000)];
  let allOk = true;
  for (const seed of seeds) {
    const seconds = num('seconds', CHAOS_DEFAULTS.seconds);
    console.log(`chaos: seed ${seed}, ${seconds} s, ${num('clients', CHAOS_DEFAULTS.clients)} clients, ${num('keys', CHAOS_DEFAULTS.keys)} keys${process.argv.includes('--unsafe') ? ', unsafe schedules' : ''}${process.argv.includes('--etcd') ? ', 3 view services on etcd' : ''}${process.argv.includes('--durable') ? ', durable (whole-cluster crashes)' : ''}`);
    const report = await runChaos({
      seed,
      seconds,
      clients: num('clients', CHAOS_DEFAULTS.clients),
      keys: num('keys', CHAOS_DEFAULTS.keys),
      unsafe: process.argv.includes('--unsafe'),
      rate: num('rate', CHAOS_DEFAULTS.rate),
      preload: num('preload', CHAOS_DEFAULTS.preload),
      appOps: num('app-ops', CHAOS_DEFAULTS.appOps),
      etcd: process.argv.includes('--etcd'),
      durable: process.argv.includes('--durable'),
    });
    console.log(formatReport(report));
    console.log(`JSON ${JSON.stringify({ ...report, check: { verdict: report.check.verdict, ms: Math.round(report.check.ms) } })}`);
    allOk = allOk && report.linearizable && report.recovered;
  }
  return allOk ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => { console.error(err); process.exit(1); });
