/**
 * `npm run crash -- --cycles N --seed S [--seeds 1,2,3] [--clients 4] [--keys 5] [--power-loss]`:
 * whole-cluster kill -9 and restart from the data dirs (run-crash.ts). `--power-loss`: the
 * replicas run under the power-loss preload and lose what they had not synced at each kill.
 * Exit 0 only when every seed passes.
 */
import { runCrash, formatCrashReport } from './run-crash';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const seeds = arg('seeds') ? arg('seeds')!.split(',').map(Number) : [Number(arg('seed') ?? Date.now() % 100000)];
  const cycles = Number(arg('cycles') ?? 10);
  let pass = true;
  for (const seed of seeds) {
    const r = await runCrash({
      seed, cycles, clients: arg('clients') ? Number(arg('clients')) : undefined, keys: arg('keys') ? Number(arg('keys')) : undefined,
      powerLoss: process.argv.includes('--power-loss'),
    });
    console.log(formatCrashReport(r));
    pass = pass && r.pass;
  }
  return pass ? 0 : 1;
}

main().then((code) => process.exit(code), (err) => { console.error(err); process.exit(1); });
