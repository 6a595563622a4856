/**
 * A small time-series chart in hand-written SVG (issue #15): no chart library, nothing
 * fetched. The arithmetic (scale, paths) is chart-math.ts; this file is the DOM.
 * Everything is set as SVG attributes or classes (dashboard.css colours them): the page's
 * CSP allows no inline style. The line breaks where a value is null (a span with no
 * operation has no p99).
 *
 *   figure.chart
 *     figcaption   label · now <value> · max <scale>
 *     svg          viewBox 0 0 W H, stretched to the card's width
 *       line.grid  the top of the scale
 *       path.area  under the line
 *       path.line  the values
 */

import { CHART_W, CHART_H, linePath, areaPath, pointCount, chartScale } from './chart-math';

const NS = 'http://www.w3.org/2000/svg';

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
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
    const { max, last } = chartScale(at, values, fromMs);
    const d = linePath(at, values, fromMs, toMs, max);
    this.line.setAttribute('d', d);
    this.area.setAttribute('d', areaPath(d));
    this.now.textContent = last === null ? '–' : this.format(last);
    this.scale.textContent = `max ${this.format(max)}`;
    this.root.dataset.points = String(pointCount(d));
  }
}
