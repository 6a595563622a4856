/**
 * A small time-series chart in hand-written SVG (issue #15): no chart library, nothing
 * fetched. Everything is set as SVG attributes or classes (dashboard.css colours them):
 * the page's CSP allows no inline style. The line breaks where a value is null (a span
 * with no operation has no p99).
 *
 *   figure.chart
 *     figcaption   label · now <value> · max <scale>
 *     svg          viewBox 0 0 W H, stretched to the card's width
 *       line.grid  the top of the scale
 *       path.area  under the line
 *       path.line  the values
 */

const NS = 'http://www.w3.org/2000/svg';
/** The chart's own coordinates; the svg is stretched to its box (preserveAspectRatio none). */
export const CHART_W = 300;
export const CHART_H = 60;

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

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
function areaPath(line: string): string {
  return line.split('M').filter((s) => s.length > 0).map((run) => {
    const pts = run.split('L');
    const first = pts[0].split(' ')[0];
    const last = pts[pts.length - 1].split(' ')[0];
    return `M${first} ${CHART_H}L${run}L${last} ${CHART_H}Z`;
  }).join('');
}

export class Chart {
  readonly root: HTMLElement;
  private readonly now: HTMLElement;
  private readonly scale: HTMLElement;
  private readonly line: SVGPathElement;
  private readonly area: SVGPathElement;

  /** `format` writes a value with its unit ("1.2k ops/s", "0.8 ms"). */
  constructor(label: string, kind: string, private readonly format: (v: number) => string) {
    this.root = document.createElement('figure');
    this.root.className = `chart ${kind}`;
    const cap = document.createElement('figcaption');
    const name = document.createElement('span');
    name.className = 'label';
    name.textContent = label;
    this.now = document.createElement('strong');
    this.now.className = 'now';
    this.scale = document.createElement('span');
    this.scale.className = 'scale';
    cap.append(name, this.now, this.scale);
    const box = svg('svg', { viewBox: `0 0 ${CHART_W} ${CHART_H}`, preserveAspectRatio: 'none', role: 'img', 'aria-label': label });
    box.append(svg('line', { class: 'grid', x1: 0, y1: 2, x2: CHART_W, y2: 2 }), svg('line', { class: 'axis', x1: 0, y1: CHART_H, x2: CHART_W, y2: CHART_H }));
    this.area = svg('path', { class: 'area', d: '' });
    this.line = svg('path', { class: 'line', d: '', 'vector-effect': 'non-scaling-stroke' });
    box.append(this.area, this.line);
    this.root.append(cap, box);
  }

  /** Draw `values` over [fromMs, toMs]; the last non-null value is "now". */
  draw(at: readonly number[], values: readonly (number | null)[], fromMs: number, toMs: number): void {
    let peak = 0;
    let last: number | null = null;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === null || at[i] < fromMs) continue;
      if (v > peak) peak = v;
      last = v;
    }
    const max = niceCeil(peak, 1);
    const d = linePath(at, values, fromMs, toMs, max);
    this.line.setAttribute('d', d);
    this.area.setAttribute('d', areaPath(d));
    this.now.textContent = last === null ? '–' : this.format(last);
    this.scale.textContent = `max ${this.format(max)}`;
    this.root.dataset.points = String(d.split(/[ML]/).length - 1);
  }
}
