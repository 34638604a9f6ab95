/**
 * Small time-series charts as inline SVG, for the status page.
 *
 * Why our own SVG and not a charting library inlined into the page: the page
 * must work as an email attachment and from file://, and mail clients and
 * attachment previews do not run scripts; SVG drawn at render time needs no
 * script at all, so the charts are there wherever the table is. The charts
 * are three kinds of line over time with a projection, which is a page of
 * code; a library (uPlot ~50 kB, Chart.js ~200 kB) would be a dependency to
 * audit and update for every report, and its canvas output has no text for
 * screen readers. Each chart here carries <title> and <desc>, and the page
 * puts the same numbers in a table next to it.
 */

export interface ChartPoint {
  /** Unix time, milliseconds. */
  t: number;
  v: number;
  /** Marker shape: verified (filled dot), unverified (hollow dot), failed (cross). */
  mark?: 'verified' | 'unverified' | 'failed';
}

export interface ChartSeries {
  name: string;
  points: ChartPoint[];
  line: 'solid' | 'dashed';
  markers: boolean;
}

export interface ChartSpec {
  id: string;
  title: string;
  /** The text alternative: what the chart shows, in words and numbers. */
  description: string;
  series: ChartSeries[];
  format: (value: number) => string;
  /** A vertical rule with a label, e.g. the day a disk fills. */
  rule?: { t: number; label: string };
  /** Extend the time axis to here (a projection), when later than the last point. */
  until?: number;
}

const WIDTH = 480;
const HEIGHT = 210;
const PAD = { left: 74, right: 12, top: 16, bottom: 34 };
const DAY = 86_400_000;

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** 1, 2, 2.5 or 5 times a power of ten, so axis labels are round. */
export function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function niceBytesCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const unit = 1024 ** Math.max(0, Math.floor(Math.log(value) / Math.log(1024)));
  return niceCeiling(value / unit) * unit;
}

function dateLabel(t: number, withYear: boolean): string {
  const iso = new Date(t).toISOString();
  return withYear ? iso.slice(0, 10) : iso.slice(5, 10);
}

function marker(x: number, y: number, mark: ChartPoint['mark']): string {
  const p = (n: number): string => n.toFixed(1);
  if (mark === 'failed') {
    return `<path class="mark-failed" d="M${p(x - 5)} ${p(y - 5)}L${p(x + 5)} ${p(y + 5)}M${p(x - 5)} ${p(y + 5)}L${p(x + 5)} ${p(y - 5)}"/>`;
  }
  return `<circle class="${mark === 'unverified' ? 'mark-open' : 'mark'}" cx="${p(x)}" cy="${p(y)}" r="3.5"/>`;
}

export function lineChart(spec: ChartSpec, bytes: boolean): string {
  const all = spec.series.flatMap((s) => s.points);
  const times = all.map((p) => p.t);
  let t0 = Math.min(...times);
  let t1 = Math.max(...times, spec.until ?? -Infinity, spec.rule?.t ?? -Infinity);
  if (t1 - t0 < DAY) {
    // One point or a few in one day: a day's width around them.
    t0 -= DAY / 2;
    t1 += DAY / 2;
  }
  const top = (bytes ? niceBytesCeiling : niceCeiling)(Math.max(...all.map((p) => p.v), 0) * 1.05);
  const plotW = WIDTH - PAD.left - PAD.right;
  const plotH = HEIGHT - PAD.top - PAD.bottom;
  const x = (t: number): number => PAD.left + ((t - t0) / (t1 - t0)) * plotW;
  const y = (v: number): number => PAD.top + plotH - (Math.max(0, v) / top) * plotH;
  const parts: string[] = [];

  // Grid and axes.
  for (let i = 0; i <= 4; i++) {
    const value = (top * i) / 4;
    const gy = y(value).toFixed(1);
    parts.push(`<line class="grid" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${gy}" y2="${gy}"/>`);
    parts.push(`<text class="tick" x="${PAD.left - 6}" y="${gy}" dy="0.32em" text-anchor="end">${esc(spec.format(value))}</text>`);
  }
  // Dates with the year are wider: three of them fit where five short ones do.
  const withYear = new Date(t0).getUTCFullYear() !== new Date(t1).getUTCFullYear();
  const steps = withYear ? 2 : 4;
  for (let i = 0; i <= steps; i++) {
    const t = t0 + ((t1 - t0) * i) / steps;
    const anchor = i === 0 ? 'start' : i === steps ? 'end' : 'middle';
    parts.push(`<text class="tick" x="${x(t).toFixed(1)}" y="${HEIGHT - PAD.bottom + 18}" text-anchor="${anchor}">${dateLabel(t, withYear)}</text>`);
  }
  parts.push(`<line class="axis" x1="${PAD.left}" x2="${WIDTH - PAD.right}" y1="${y(0).toFixed(1)}" y2="${y(0).toFixed(1)}"/>`);

  if (spec.rule !== undefined) {
    const rx = x(spec.rule.t).toFixed(1);
    parts.push(`<line class="rule" x1="${rx}" x2="${rx}" y1="${PAD.top}" y2="${PAD.top + plotH}"/>`);
    parts.push(`<text class="rule-label" x="${Number(rx) - 4}" y="${PAD.top + 12}" text-anchor="end">${esc(spec.rule.label)}</text>`);
  }

  for (const series of spec.series) {
    const sorted = [...series.points].sort((a, b) => a.t - b.t);
    if (sorted.length > 1) {
      const d = sorted.map((p, i) => `${i === 0 ? 'M' : 'L'}${x(p.t).toFixed(1)} ${y(p.v).toFixed(1)}`).join('');
      parts.push(`<path class="line ${series.line}" d="${d}"><title>${esc(series.name)}</title></path>`);
    }
    if (series.markers) for (const p of sorted) parts.push(marker(x(p.t), y(p.v), p.mark));
  }

  const titleId = `${spec.id}-title`;
  const descId = `${spec.id}-desc`;
  return (
    `<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" aria-labelledby="${titleId} ${descId}" preserveAspectRatio="xMidYMid meet">` +
    `<title id="${titleId}">${esc(spec.title)}</title><desc id="${descId}">${esc(spec.description)}</desc>` +
    parts.join('') +
    '</svg>'
  );
}
