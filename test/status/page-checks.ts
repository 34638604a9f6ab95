// Reading the status page the way a person does: what each table cell says,
// which state each badge shows, what each chart is about. The numbers shown
// are parsed back ("604.6 KiB", "2 h", "+27.4 KiB/day") and compared with the
// --json document within the rounding of what is shown, so a wrong figure,
// unit or row fails even when the formatting code is the same on both sides.
import { expect } from 'vitest';
import type { StatusReport } from '../../src/status/status.js';
import type { Page } from '../helpers/chromium.js';

export interface CellView {
  text: string;
  value: string | null;
}

export interface StackView {
  stack: string;
  badge: string;
  problems: Array<{ kind: string; text: string }>;
  volumes: Array<{ volume: string; cells: Record<string, CellView> }>;
  services: Array<{ service: string; cells: Record<string, CellView> }>;
  filesystems: Array<{ filesystem: string; cells: Record<string, CellView> }>;
  charts: Array<{ id: string; title: string; desc: string; labelled: boolean; verified: number; unverified: number; failed: number }>;
}

export interface PageView {
  lang: string;
  title: string;
  overview: Array<{ stack: string; badge: string; problems: string }>;
  stacks: StackView[];
  /** Tables without a caption or without column headers. */
  tablesWithoutHeaders: number;
  images: number;
  scripts: number;
  links: string[];
}

const SNAPSHOT = `(() => {
  const text = (el) => (el === null ? '' : el.textContent.replace(/\\s+/g, ' ').trim());
  const cells = (tr) => Object.fromEntries([...tr.children].map((c) => [c.dataset.key, { text: text(c), value: c.dataset.value ?? null }]));
  const rows = (section, table, key) => [...section.querySelectorAll('table[data-table="' + table + '"] tbody tr')].map((tr) => ({ [key]: tr.dataset[key], cells: cells(tr) }));
  return {
    lang: document.documentElement.lang,
    title: document.title,
    overview: [...document.querySelectorAll('table.overview tbody tr')].map((tr) => ({ stack: tr.dataset.stack, badge: text(tr.querySelector('.badge')), problems: text(tr.querySelector('td.num')) })),
    stacks: [...document.querySelectorAll('section.stack')].map((section) => ({
      stack: section.dataset.stack,
      badge: text(section.querySelector('h2 .badge')),
      problems: [...section.querySelectorAll('.problems li')].map((li) => ({ kind: li.dataset.kind, text: text(li) })),
      volumes: rows(section, 'volumes', 'volume'),
      services: rows(section, 'services', 'service'),
      filesystems: rows(section, 'filesystems', 'filesystem'),
      charts: [...section.querySelectorAll('svg.chart')].map((svg) => {
        const ids = (svg.getAttribute('aria-labelledby') || '').split(' ').filter((id) => id !== '');
        return {
          id: svg.closest('figure').id,
          title: text(svg.querySelector('title')),
          desc: text(svg.querySelector('desc')),
          labelled: svg.getAttribute('role') === 'img' && ids.length === 2 && ids.every((id) => document.getElementById(id) !== null && text(document.getElementById(id)) !== ''),
          verified: svg.querySelectorAll('circle.mark').length,
          unverified: svg.querySelectorAll('circle.mark-open').length,
          failed: svg.querySelectorAll('path.mark-failed').length,
        };
      }),
    })),
    tablesWithoutHeaders: [...document.querySelectorAll('table')].filter((t) => t.querySelector('caption') === null || t.querySelectorAll('thead th[scope="col"]').length === 0).length,
    images: document.images.length,
    scripts: document.scripts.length,
    links: [...document.querySelectorAll('link, [src], a[href]')].map((el) => el.getAttribute('href') || el.getAttribute('src')),
  };
})()`;

export async function readPage(page: Page): Promise<PageView> {
  return (await page.evaluate(SNAPSHOT)) as PageView;
}

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4 };

/** "604.6 KiB" -> [value in bytes, half of the last shown digit]. */
export function shownBytes(text: string): [number, number] {
  const m = /^([+-]?)(\d+(?:\.\d)?) (B|KiB|MiB|GiB|TiB)(?:\/day)?$/.exec(text);
  if (m === null) throw new Error(`not a byte figure: ${JSON.stringify(text)}`);
  const unit = UNITS[m[3] ?? 'B'] ?? 1;
  const sign = m[1] === '-' ? -1 : 1;
  return [sign * Number(m[2]) * unit, (m[3] === 'B' ? 0.5 : 0.05) * unit];
}

/** "42 min", "5.2 h", "3.2 days" (an age) -> seconds and rounding. */
export function shownAge(text: string): [number, number] {
  const m = /^(\d+(?:\.\d)?) (min|h|days)(?: STALE)?$/.exec(text);
  if (m === null) throw new Error(`not an age: ${JSON.stringify(text)}`);
  const unit = m[2] === 'min' ? 60 : m[2] === 'h' ? 3600 : 86400;
  return [Number(m[1]) * unit, m[2] === 'min' ? 30 : 0.05 * unit];
}

/** "850 ms", "12.3 s", "4 min 05 s", "1 h 02 min" -> seconds and rounding. */
export function shownSeconds(text: string): [number, number] {
  let m = /^(\d+) ms$/.exec(text);
  if (m !== null) return [Number(m[1]) / 1000, 0.0005];
  m = /^(\d+\.\d) s$/.exec(text);
  if (m !== null) return [Number(m[1]), 0.05];
  m = /^(\d+) min (\d+) s$/.exec(text);
  if (m !== null) return [Number(m[1]) * 60 + Number(m[2]), 0.5];
  m = /^(\d+) h (\d+) min$/.exec(text);
  if (m !== null) return [Number(m[1]) * 3600 + Number(m[2]) * 60, 30];
  throw new Error(`not a duration: ${JSON.stringify(text)}`);
}

/** "4.2 days" or "60 days" -> days and rounding. */
export function shownDays(text: string): [number, number] {
  const m = /^(\d+(?:\.\d)?) days$/.exec(text);
  if (m === null) throw new Error(`not a number of days: ${JSON.stringify(text)}`);
  return [Number(m[1]), m[1]?.includes('.') === true ? 0.05 : 0.5];
}

function near(shown: [number, number], actual: number, what: string): void {
  const [value, rounding] = shown;
  expect(Math.abs(value - actual), `${what}: the page shows ${value}, --json says ${actual}`).toBeLessThanOrEqual(rounding * 1.0001 + 1e-9);
}

function cell(cells: Record<string, CellView>, key: string, where: string): CellView {
  const found = cells[key];
  if (found === undefined) throw new Error(`${where}: no cell ${key}`);
  return found;
}

const WORD = { ok: 'OK', attention: 'CHECK', problem: 'PROBLEM', 'not-deployed': 'NOT DEPLOYED' } as const;

/** Every stack, volume, service, filesystem and problem of the --json document is on the page, with the same figures. */
export function expectPageMatches(view: PageView, report: StatusReport): void {
  expect(view.overview.map((o) => o.stack)).toEqual(report.stacks.map((s) => s.stack));
  expect(view.stacks.map((s) => s.stack)).toEqual(report.stacks.map((s) => s.stack));
  for (const [i, s] of report.stacks.entries()) {
    const seen = view.stacks[i];
    const row = view.overview[i];
    if (seen === undefined || row === undefined) throw new Error(`stack ${s.stack} is not on the page`);
    expect(seen.badge, s.stack).toContain(WORD[s.health]);
    expect(row.badge, s.stack).toContain(WORD[s.health]);
    expect(Number(row.problems), `${s.stack}: problems in the overview`).toBe(s.problems.length);
    if (!s.deployed) continue;
    expect(seen.problems.map((p) => p.kind), `${s.stack}: problems`).toEqual(s.problems.map((p) => p.kind));
    for (const [j, p] of s.problems.entries()) expect(seen.problems[j]?.text).toContain(p.subject);

    expect(seen.volumes.map((v) => v.volume), `${s.stack}: volume rows`).toEqual(s.volumes.map((v) => v.volume));
    for (const [j, v] of s.volumes.entries()) {
      const where = `${s.stack} volume ${v.volume}`;
      const cells = seen.volumes[j]?.cells ?? {};
      expect(cell(cells, 'method', where).text).toBe(v.method);
      expect(cell(cells, 'sets', where).text).toBe(String(v.setsKept));
      expect(cell(cells, 'state', where).text).toContain(WORD[v.health]);
      if (v.backup === null) {
        expect(cell(cells, 'lastBackup', where).text).toBe(v.method === 'none' ? 'not backed up' : 'NONE');
        expect(cell(cells, 'size', where).text).toBe('-');
      } else {
        near(shownAge(cell(cells, 'lastBackup', where).text), v.backup.ageSeconds, `${where}: age`);
        expect(cell(cells, 'lastBackup', where).text.endsWith('STALE'), `${where}: stale`).toBe(v.backup.stale);
        expect(Number(cell(cells, 'lastBackup', where).value)).toBe(v.backup.ageSeconds);
        near(shownBytes(cell(cells, 'size', where).text), v.backup.bytes, `${where}: backup size`);
        expect(Number(cell(cells, 'size', where).value)).toBe(v.backup.bytes);
        if (v.backup.durationSeconds !== null) near(shownSeconds(cell(cells, 'duration', where).text), v.backup.durationSeconds, `${where}: duration`);
        const verified = cell(cells, 'verified', where);
        expect(verified.value).toBe(v.verification.state);
        expect(verified.text).toMatch(v.verification.state === 'verified' ? /^ok / : v.verification.state === 'failed' ? /^FAILED / : /^never$/);
        if (v.verification.at !== null) expect(verified.text).toContain(v.verification.at.slice(0, 16).replace('T', ' '));
      }
      if (v.size === null) expect(cell(cells, 'volumeSize', where).text).toBe('-');
      else near(shownBytes(cell(cells, 'volumeSize', where).text), v.size.bytes, `${where}: volume size`);
      if (v.growthBytesPerDay === null) expect(cell(cells, 'growth', where).text).toBe('-');
      else near(shownBytes(cell(cells, 'growth', where).text), v.growthBytesPerDay, `${where}: growth`);
      if (v.daysUntilFull === null) expect(cell(cells, 'fullIn', where).text).toBe('-');
      else near(shownDays(cell(cells, 'fullIn', where).text), v.daysUntilFull, `${where}: days until full`);
      expect(cell(cells, 'drift', where).text).toBe(v.drift.length === 0 ? '-' : `DRIFT ${v.drift.map((d) => d.kind).join(', ')}`);
    }

    expect(seen.services.map((x) => x.service)).toEqual(s.services.map((x) => x.service));
    for (const [j, svc] of s.services.entries()) {
      const where = `${s.stack} service ${svc.service}`;
      const cells = seen.services[j]?.cells ?? {};
      expect(cell(cells, 'container', where).text).toBe(svc.container);
      expect(cell(cells, 'state', where).text).toBe(svc.state);
      expect(cell(cells, 'health', where).text).toBe(svc.health);
      expect(cell(cells, 'level', where).text).toContain(WORD[svc.level]);
    }

    expect(seen.filesystems.map((f) => f.filesystem)).toEqual(s.filesystems.map((f) => f.path));
    for (const [j, fs] of s.filesystems.entries()) {
      const where = `${s.stack} filesystem ${fs.path}`;
      const cells = seen.filesystems[j]?.cells ?? {};
      near(shownBytes(cell(cells, 'total', where).text), fs.totalBytes, `${where}: size`);
      near(shownBytes(cell(cells, 'available', where).text), fs.availableBytes, `${where}: available`);
      expect(cell(cells, 'usedPercent', where).text).toBe(`${fs.usedPercent.toFixed(1)}%`);
      expect(Number(cell(cells, 'usedPercent', where).value)).toBe(fs.usedPercent);
      expect(cell(cells, 'fullOn', where).text).toBe(fs.fullOn === null ? '-' : fs.fullOn.slice(0, 10));
    }

    // Three charts per volume; each drawn one is labelled, and the size chart has a marker per set, by verification.
    for (const v of s.volumes) {
      const drawn = seen.charts.filter((c) => c.id.startsWith(`chart-${s.stack}-${v.volume}-`));
      const size = drawn.find((c) => c.id.endsWith('-size'));
      if (v.backups.length === 0) {
        expect(size, `${s.stack} ${v.volume}: no size chart without backups`).toBeUndefined();
        continue;
      }
      if (size === undefined) throw new Error(`${s.stack} ${v.volume}: no backup size chart`);
      expect(size.labelled).toBe(true);
      expect(size.desc).toContain(`${v.backups.length} set(s)`);
      expect(size.verified).toBe(v.backups.filter((b) => b.verification === 'verified').length);
      expect(size.unverified).toBe(v.backups.filter((b) => b.verification === 'unverified').length);
      expect(size.failed).toBe(v.backups.filter((b) => b.verification === 'failed').length);
    }
  }
}
