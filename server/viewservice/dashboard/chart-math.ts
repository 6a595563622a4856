/**
 * The arithmetic of the dashboard's charts (issue #15), apart from the DOM (charts.ts draws
 * with it): the scale, the line's SVG path and the area under it. Pure: numbers in, strings
 * out, so test/unit/chart-math.test.ts checks them without a browser.
 */

/** The chart's own coordinates; the svg is stretched to its box (preserveAspectRatio none). */
export const CHART_W = 300;
export const CHART_H = 60;

/** The smallest of 1, 2, 2.5, 5 × 10^n at or above `x` (at least `min`): a scale that reads well. */
export function niceCeil(x: number, min = 1): number {
  if (!(x > min)) return min;
  const p = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

/** The SVG path of `values` at times `at` over [fromMs, toMs] and [0, max]; null values break it. */
export function linePath(at: readonly number[], values: readonly (number | null)[], fromMs: number, toMs: number, max: number): string {
  const span = Math.max(1, toMs - fromMs);
  let d = '';
  let pen = false;
  for (let i = 0; i < at.length; i++) {
    const v = values[i];
    if (v === null || at[i] < fromMs) { pen = false; continue; }
    const x = ((at[i] - fromMs) / span) * CHART_W;
    const y = CHART_H - (Math.min(v, max) / max) * (CHART_H - 2);
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)} ${y.toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** The area under each unbroken run of the line (the line's path closed down to the axis). */
export function areaPath(line: string): string {
  return line.split('M').filter((s) => s.length > 0).map((run) => {
    const pts = run.split('L');
    const first = pts[0].split(' ')[0];
    const last = pts[pts.length - 1].split(' ')[0];
    return `M${first} ${CHART_H}L${run}L${last} ${CHART_H}Z`;
  }).join('');
}

/** The points a path draws (one per M or L). */
export function pointCount(d: string): number {
  let n = 0;
  for (let i = 0; i < d.length; i++) if (d[i] === 'M' || d[i] === 'L') n++;
  return n;
}

/** What a chart shows for `values` over [fromMs, …]: the scale's top and the last value ("now"; null: none). */
export function chartScale(at: readonly number[], values: readonly (number | null)[], fromMs: number): { max: number; last: number | null } {
  let peak = 0;
  let last: number | null = null;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || at[i] < fromMs) continue;
    if (v > peak) peak = v;
    last = v;
  }
  return { max: niceCeil(peak, 1), last };
}
