/**
 * The dashboard charts' arithmetic (server/viewservice/dashboard/chart-math.ts, issue #15):
 * the scale, the line and area paths, an empty series, one sample, gaps (a span with no
 * operation has no p99), samples older than the chart's span. Pure: no DOM.
 */
import { expect } from 'chai';
import { CHART_W, CHART_H, niceCeil, linePath, areaPath, pointCount, chartScale } from '../../server/viewservice/dashboard/chart-math';

/** The [x, y] points of a path, in order. */
function points(d: string): [number, number][] {
  return [...d.matchAll(/[ML]([\d.-]+) ([\d.-]+)/g)].map((m) => [Number(m[1]), Number(m[2])]);
}

describe('dashboard chart arithmetic (issue #15)', () => {
  it('scales to the smallest 1, 2, 2.5, 5 × 10^n at or above the peak, never below the minimum', () => {
    expect(niceCeil(0)).to.equal(1);
    expect(niceCeil(NaN)).to.equal(1);
    expect(niceCeil(-5)).to.equal(1);
    expect(niceCeil(0.3, 1)).to.equal(1);
    expect(niceCeil(1)).to.equal(1);
    expect(niceCeil(1.1)).to.equal(2);
    expect(niceCeil(2.2)).to.equal(2.5);
    expect(niceCeil(3)).to.equal(5);
    expect(niceCeil(7)).to.equal(10);
    expect(niceCeil(10)).to.equal(10);
    expect(niceCeil(11)).to.equal(20);
    expect(niceCeil(240)).to.equal(250);
    expect(niceCeil(75_500)).to.equal(100_000);
    expect(niceCeil(0.004, 0.001)).to.equal(0.005);
  });

  it('an empty series draws nothing, shows no "now" value and keeps the minimum scale', () => {
    expect(linePath([], [], 0, 60_000, 1)).to.equal('');
    expect(areaPath('')).to.equal('');
    expect(pointCount('')).to.equal(0);
    expect(chartScale([], [], 0)).to.deep.equal({ max: 1, last: null });
  });

  it('one sample is one point, placed by its time and value; its area is closed to the axis', () => {
    const d = linePath([30_000], [5], 0, 60_000, 10);
    expect(points(d)).to.deep.equal([[CHART_W / 2, CHART_H - 0.5 * (CHART_H - 2)]]);
    expect(pointCount(d)).to.equal(1);
    expect(areaPath(d)).to.equal(`M150.0 ${CHART_H}L150.0 31.0L150.0 ${CHART_H}Z`);
    expect(chartScale([30_000], [5], 0)).to.deep.equal({ max: 5, last: 5 });
  });

  it('maps time to x over [from, to] and value to y over [0, max] (0 on the axis, max 2 units below the top)', () => {
    const d = linePath([0, 30_000, 60_000], [0, 50, 100], 0, 60_000, 100);
    expect(d).to.match(/^M[\d.]+ [\d.]+(L[\d.]+ [\d.]+)+$/);
    expect(points(d)).to.deep.equal([[0, CHART_H], [CHART_W / 2, 31], [CHART_W, 2]]);
    // A value above the scale is drawn at its top, not outside the chart.
    expect(points(linePath([0], [500], 0, 60_000, 100))).to.deep.equal([[0, 2]]);
  });

  it('a null value (no operation, so no p99) breaks the line; the area follows each run', () => {
    const d = linePath([0, 10_000, 20_000, 30_000, 40_000], [1, 2, null, 3, 4], 0, 40_000, 4);
    expect(d.match(/M/g)).to.have.length(2);
    expect(pointCount(d)).to.equal(4);
    const area = areaPath(d);
    expect(area.match(/Z/g)).to.have.length(2);
    expect(area.startsWith(`M0.0 ${CHART_H}L0.0 `)).to.equal(true);
    expect(chartScale([0, 10_000, 20_000, 30_000], [1, 2, null, 3], 0)).to.deep.equal({ max: 5, last: 3 });
    expect(chartScale([0, 10_000], [2, null], 0)).to.deep.equal({ max: 2, last: 2 });
  });

  it('samples older than the chart\'s span are left out of the line, the scale and "now"', () => {
    const at = [0, 50_000, 70_000, 80_000];
    const values = [1000, 9, 3, 4];
    const d = linePath(at, values, 60_000, 120_000, 5);
    expect(pointCount(d)).to.equal(2);
    expect(points(d)[0][0]).to.be.closeTo(((70_000 - 60_000) / 60_000) * CHART_W, 0.05);
    expect(chartScale(at, values, 60_000)).to.deep.equal({ max: 5, last: 4 });
  });

  it('a zero-length span does not divide by zero', () => {
    expect(points(linePath([5], [1], 5, 5, 1))).to.deep.equal([[0, 2]]);
  });
});
