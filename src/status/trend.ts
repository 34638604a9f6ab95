/**
 * Growth from a series of measurements. disk-usage compares two runs, which
 * is noise when they are minutes apart; status.mjs fits a line through the
 * last two weeks instead, so one odd sample does not move a "full on" date by
 * months.
 */
export interface Point {
  /** Unix time in milliseconds. */
  time: number;
  value: number;
}

export const TREND_WINDOW_DAYS = 14;
/** Below this span, a slope says more about the measurement than about growth. */
export const MIN_TREND_SPAN_HOURS = 1;

const DAY_MS = 86_400_000;

/** Least-squares slope in value per day over the points of the last `windowDays` before the newest; null without enough history. */
export function growthPerDay(points: Point[], windowDays = TREND_WINDOW_DAYS): number | null {
  const sorted = points.filter((p) => Number.isFinite(p.time) && Number.isFinite(p.value)).sort((a, b) => a.time - b.time);
  const newest = sorted.at(-1);
  if (newest === undefined) return null;
  const recent = sorted.filter((p) => p.time >= newest.time - windowDays * DAY_MS);
  const first = recent[0];
  if (recent.length < 2 || first === undefined || newest.time - first.time < MIN_TREND_SPAN_HOURS * 3_600_000) return null;
  // Centred on the first point: epoch milliseconds squared lose precision.
  const xs = recent.map((p) => (p.time - first.time) / DAY_MS);
  const meanX = xs.reduce((a, b) => a + b, 0) / xs.length;
  const meanY = recent.reduce((a, p) => a + p.value, 0) / recent.length;
  let num = 0;
  let den = 0;
  recent.forEach((p, i) => {
    const dx = (xs[i] ?? 0) - meanX;
    num += dx * (p.value - meanY);
    den += dx * dx;
  });
  return den === 0 ? null : num / den;
}

/** Days until `available` is used up at `perDay`; null when it does not grow. */
export function daysUntilFull(available: number, perDay: number | null): number | null {
  if (perDay === null || !(perDay > 0)) return null;
  return Math.max(available, 0) / perDay;
}

export function dateAfterDays(from: Date, days: number | null): Date | null {
  return days === null ? null : new Date(from.getTime() + days * DAY_MS);
}
