// status.mjs on a real engine: a deployed stack with fresh, failed, stale and
// missing backups (scenario.ts), read as --json, as a page in headless
// Chromium (desktop and phone), and as Prometheus gauges; then the shipped
// stacks. Screenshots go to test-artifacts/ (not committed).
import { copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectStack } from '../../src/config/select.js';
import type { StatusReport, StackStatus, VolumeStatus } from '../../src/status/status.js';
import { Browser } from '../helpers/chromium.js';
import { TempDirs } from '../helpers/stacks.js';
import { docker, exec, parseJsonDocument, readManifestFile, repoRoot, show, waitFor, type RunResult } from '../helpers/engine.js';
import { expectPageMatches, readPage } from './page-checks.js';
import { BACKED_UP, Scenario, STACK, stackYaml } from './scenario.js';

const ARTIFACTS = join(repoRoot, 'test-artifacts');

const sc = new Scenario();
const temp = new TempDirs();
let run: RunResult;
let report: StatusReport;
let page: string;

function stackOf(r: StatusReport): StackStatus {
  const found = r.stacks.find((s) => s.stack === STACK);
  if (found === undefined) throw new Error(`${STACK} is not in the report`);
  return found;
}

function volume(key: string, r: StatusReport = report): VolumeStatus {
  const found = stackOf(r).volumes.find((v) => v.volume === key);
  if (found === undefined) throw new Error(`no volume ${key} in the report`);
  return found;
}

/** Every file under a directory with its size and modification time, for "nothing changed". */
function tree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((d) => d.isFile())
    .map((d) => {
      const path = join(d.parentPath, d.name);
      const st = statSync(path);
      return `${path} ${st.size} ${st.mtimeMs}`;
    })
    .sort();
}

beforeAll(async () => {
  await sc.build();
  page = join(sc.sb.root, 'status.html');
  run = await sc.status(['--json', '--html', page]);
  report = parseJsonDocument<StatusReport>(run.stdout);
  mkdirSync(ARTIFACTS, { recursive: true });
}, 600_000);

afterAll(async () => {
  await sc.cleanup();
  temp.removeAll();
});

describe('status.mjs --json: a stack with fresh, failed, stale and missing backups', () => {
  it('exits 3 and prints exactly one JSON document on stdout', () => {
    expect(run.code, show(run)).toBe(3);
    expect(report.format).toBe(1);
    expect(report.ok).toBe(false);
    expect(report.stacks.map((s) => s.stack)).toEqual([STACK]);
  });

  it('finds exactly three problems: the failed verification, the stale backup and the missing one', () => {
    expect(stackOf(report).problems.map((p) => [p.kind, p.subject])).toEqual([
      ['verify-failed', 'attachments'],
      ['stale', 'calendar'],
      ['no-backup', 'contacts'],
    ]);
    for (const p of stackOf(report).problems) expect(p.fix).toMatch(/npx zx scripts\/(backup|verify)\.mjs --stack shop-prod/);
  });

  it('reports each volume\'s state: ok, failed, stale, missing, and not backed up by design', () => {
    expect(stackOf(report).volumes.map((v) => [v.volume, v.health])).toEqual([
      ['mail', 'ok'],
      ['attachments', 'problem'],
      ['calendar', 'problem'],
      ['contacts', 'problem'],
      ['cache', 'ok'],
    ]);
    expect(volume('calendar').backup?.stale).toBe(true);
    expect(volume('mail').backup?.stale).toBe(false);
    expect(volume('contacts').backup).toBeNull();
    expect(volume('cache').method).toBe('none');
    expect(stackOf(report).notes.map((n) => n.subject)).toEqual(['cache']);
  });

  it('takes the newest backup of each volume from the manifests: set, size, duration and method', () => {
    const sets = sc.sb.sets();
    const newest = sets.at(-1) ?? '';
    const manifest = readManifestFile(newest);
    const mail = manifest.artifacts.find((a) => a.volume === 'mail');
    expect(volume('mail').backup).toMatchObject({ set: newest.split('/').pop(), location: newest, created: manifest.created, bytes: mail?.bytes, method: 'tar', file: mail?.file });
    expect(volume('mail').backup?.durationSeconds).toBe(mail?.['durationSeconds']);
    const calendarSet = sets[2] ?? '';
    expect(volume('calendar').backup?.set).toBe(calendarSet.split('/').pop());
    expect(volume('calendar').backup?.created).toBe(readManifestFile(calendarSet).created);
  });

  it('counts the sets that hold each volume and charts each of them', () => {
    expect(stackOf(report).volumes.map((v) => [v.volume, v.setsKept, v.backups.length])).toEqual([
      ['mail', 6, 6],
      ['attachments', 6, 6],
      ['calendar', 3, 3],
      ['contacts', 0, 0],
      ['cache', 0, 0],
    ]);
    expect(stackOf(report).sets).toEqual({ complete: 6, incomplete: 0, damaged: 0, otherEnvironments: 0 });
    const sizes = volume('mail').backups.map((b) => b.bytes);
    expect(sizes).toEqual(sc.sb.sets().map((set) => readManifestFile(set).artifacts.find((a) => a.volume === 'mail')?.bytes));
  });

  it('says whether the newest backup verified and when, as verify.mjs recorded it in the set', () => {
    const newest = sc.sb.sets().at(-1) ?? '';
    const record = JSON.parse(readFileSync(join(newest, 'verification.json'), 'utf8')) as { artifacts: Array<{ volume: string; ok: boolean; verified: string }> };
    const recorded = (key: string) => record.artifacts.find((a) => a.volume === key);
    expect(volume('mail').verification).toMatchObject({ state: 'verified', at: recorded('mail')?.verified });
    expect(volume('attachments').verification).toMatchObject({ state: 'failed', at: recorded('attachments')?.verified });
    expect(volume('attachments').verification.problems.join(' ')).toContain('does not match the manifest');
    expect(stackOf(report).newestSet).toMatchObject({ verification: 'failed', volumes: ['mail', 'attachments'] });
    // Every earlier set verified: the chart marks only the newest attachments artifact as failed.
    expect(volume('attachments').backups.map((b) => b.verification)).toEqual(['verified', 'verified', 'verified', 'verified', 'verified', 'failed']);
  });

  it('shows the service running and healthy, and no drift', () => {
    expect(stackOf(report).services).toEqual([{ service: 'app', container: sc.sb.container('app'), state: 'running', health: 'healthy', drift: [], level: 'ok' }]);
    expect(stackOf(report).drift).toEqual({ state: 'clean', items: [] });
  });

  it('measures volume sizes now, and takes growth and the day the disk fills from the disk-usage history', () => {
    const s = stackOf(report);
    expect(s.disk.source).toBe('live');
    const history = JSON.parse(readFileSync(sc.historyFile, 'utf8')) as { samples: Array<{ time: string; filesystems: Record<string, { usedBytes: number }> }> };
    const [fs] = s.filesystems;
    if (fs === undefined) throw new Error('no filesystem in the report');
    // The history's filesystem grows by a fixed amount per day: the fitted rate is that rate.
    const samples = history.samples.map((h) => h.filesystems[fs.path]?.usedBytes ?? 0);
    const perDay = ((samples.at(-1) ?? 0) - (samples[0] ?? 0)) / 14;
    expect(fs.growthBytesPerDay).not.toBeNull();
    expect(Math.abs((fs.growthBytesPerDay ?? 0) - perDay) / perDay).toBeLessThan(0.1);
    expect(fs.daysUntilFull).toBeCloseTo(fs.availableBytes / (fs.growthBytesPerDay ?? 1), 6);
    expect(Date.parse(fs.fullOn ?? '')).toBeCloseTo(Date.parse(report.generated) + (fs.daysUntilFull ?? 0) * 86_400_000, -3);
    for (const key of BACKED_UP) {
      const v = volume(key);
      expect(v.size?.source).toBe('live');
      expect(v.filesystem).toBe(fs.path);
      expect(v.fullOn).toBe(fs.fullOn);
      expect(v.growthBytesPerDay).toBeGreaterThan(0);
      expect(v.sizes).toHaveLength(history.samples.length + 1);
      expect(v.sizes.at(-1)).toEqual({ time: report.generated, bytes: v.size?.bytes });
    }
  });

  it('--no-measure takes sizes from the newest disk-usage sample instead', async () => {
    const r = await sc.status(['--json', '--no-measure']);
    const offline = parseJsonDocument<StatusReport>(r.stdout);
    const history = JSON.parse(readFileSync(sc.historyFile, 'utf8')) as { samples: Array<{ time: string; volumes: Record<string, { bytes: number }> }> };
    const newest = history.samples.at(-1);
    expect(stackOf(offline).disk).toEqual({ source: 'history', measured: newest?.time });
    expect(volume('mail', offline).size).toMatchObject({ source: 'history', bytes: newest?.volumes['mail']?.bytes, measured: newest?.time });
  });

  it('changes nothing: sets, verification records and the history stay as they were', async () => {
    const before = tree(sc.sb.root);
    const r = await sc.status(['--json']);
    expect(r.code).toBe(3);
    expect(tree(sc.sb.root)).toEqual(before);
  });
});

describe('the HTML page in headless Chromium', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await Browser.launch();
  });
  afterAll(async () => {
    await browser.close();
  });

  it('opens from file:// with no console error and no request but the page; its figures are the --json figures', async () => {
    const tab = await browser.newPage({ width: 1366, height: 900 });
    await tab.goto(pathToFileURL(page).href);
    expect(tab.findings.errors).toEqual([]);
    expect(tab.findings.failedRequests).toEqual([]);
    expect(tab.findings.requests).toEqual([pathToFileURL(page).href]);
    const view = await readPage(tab);
    expectPageMatches(view, report);
    expect(view.stacks[0]?.problems.map((p) => p.kind)).toEqual(['verify-failed', 'stale', 'no-backup']);
    await tab.screenshot(join(ARTIFACTS, 'status-desktop.png'));
    copyFileSync(page, join(ARTIFACTS, 'status.html'));
  });

  it('needs nothing from outside the file: no script, image, stylesheet or link, and a policy that forbids fetching any', async () => {
    const html = readFileSync(page, 'utf8');
    expect(html).toContain(`<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">`);
    const tab = await browser.newPage({ width: 1366, height: 900 });
    await tab.goto(pathToFileURL(page).href);
    const view = await readPage(tab);
    expect(view.scripts).toBe(0);
    expect(view.images).toBe(0);
    expect(view.links.filter((l) => !l.startsWith('#'))).toEqual([]);
  });

  it('at a phone\'s width nothing scrolls sideways, and each table row reads as labelled lines', async () => {
    const tab = await browser.newPage({ width: 390, height: 844, mobile: true, deviceScaleFactor: 2 });
    await tab.goto(pathToFileURL(page).href);
    expect(tab.findings.errors).toEqual([]);
    expect(tab.findings.failedRequests).toEqual([]);
    const layout = (await tab.evaluate(`(() => {
      const cell = document.querySelector('table[data-table="volumes"] td[data-key="size"]');
      return {
        viewport: window.innerWidth,
        scrollWidth: document.documentElement.scrollWidth,
        widestChart: Math.max(...[...document.querySelectorAll('svg.chart')].map((s) => s.getBoundingClientRect().right)),
        widestTable: Math.max(...[...document.querySelectorAll('table.status')].map((t) => t.getBoundingClientRect().right)),
        cellDisplay: getComputedStyle(cell).display,
        cellLabel: getComputedStyle(cell, '::before').content,
        headerWidth: document.querySelector('table.status thead').getBoundingClientRect().width,
      };
    })()`)) as Record<string, number | string>;
    expect(layout['viewport']).toBe(390);
    expect(layout['scrollWidth']).toBeLessThanOrEqual(390);
    expect(layout['widestChart']).toBeLessThanOrEqual(390);
    expect(layout['widestTable']).toBeLessThanOrEqual(390);
    expect(layout['cellDisplay']).toBe('flex');
    expect(layout['cellLabel']).toBe('"Backup size"');
    expect(layout['headerWidth']).toBeLessThanOrEqual(1);
    expectPageMatches(await readPage(tab), report);
    await tab.screenshot(join(ARTIFACTS, 'status-phone.png'));
  });

  it('is accessible: a language, tables with captions and column headers, charts with a title and a description', async () => {
    const tab = await browser.newPage({ width: 1366, height: 900 });
    await tab.goto(pathToFileURL(page).href);
    const view = await readPage(tab);
    expect(view.lang).toBe('en');
    expect(view.title).toMatch(/^stowage status .* 3 problem\(s\)$/);
    expect(view.tablesWithoutHeaders).toBe(0);
    const charts = view.stacks.flatMap((s) => s.charts);
    // mail, attachments, calendar: size and duration; every volume that was measured: its growth.
    expect(charts).toHaveLength(3 * 2 + 5);
    for (const chart of charts) {
      expect(chart.labelled, chart.id).toBe(true);
      expect(chart.desc.length, chart.id).toBeGreaterThan(40);
    }
    const growth = charts.find((c) => c.id.endsWith('-mail-growth'));
    expect(growth?.desc).toContain(`full on ${(volume('mail').fullOn ?? '').slice(0, 10)}`);
  });

  it('tells the states apart in greyscale: the badges differ in lightness, and their text contrasts with them', async () => {
    const tab = await browser.newPage({ width: 1366, height: 900 });
    await tab.goto(pathToFileURL(page).href);
    const colours = (await tab.evaluate(`(() => {
      const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
      const luminance = (rgb) => { const [r, g, b] = rgb.match(/\\d+(\\.\\d+)?/g).map(Number); return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b); };
      return Object.fromEntries(['ok', 'attention', 'problem', 'not-deployed'].map((level) => {
        const span = document.createElement('span');
        span.className = 'badge ' + level;
        span.textContent = level;
        document.body.append(span);
        const style = getComputedStyle(span);
        const result = [luminance(style.backgroundColor), luminance(style.color)];
        span.remove();
        return [level, result];
      }));
    })()`)) as Record<string, [number, number]>;
    const contrast = ([a, b]: [number, number]): number => (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    for (const [level, pair] of Object.entries(colours)) expect(contrast(pair), level).toBeGreaterThanOrEqual(4.5);
    const [ok, attention, problem, notDeployed] = ['ok', 'attention', 'problem', 'not-deployed'].map((l) => colours[l]?.[0] ?? NaN);
    for (const [a, b] of [[ok, attention], [attention, problem], [ok, problem], [notDeployed, attention], [notDeployed, problem]] as Array<[number, number]>) {
      expect(Math.abs(a - b)).toBeGreaterThanOrEqual(0.15);
    }
  });
});

describe('the other findings that exit 3', () => {
  it('a filesystem over the stack\'s disk.warn, named with its level', async () => {
    const tight = temp.stacksDir({ 'shop.yaml': stackYaml(sc.project, '{ warn: 0.001, crit: 100 }') });
    const r = await sc.status(['--json'], tight);
    expect(r.code, show(r)).toBe(3);
    const disk = stackOf(parseJsonDocument<StatusReport>(r.stdout)).problems.filter((p) => p.kind === 'disk');
    const root = (await docker('info', '--format', '{{.DockerRootDir}}')).trim();
    expect(disk.map((p) => p.subject)).toEqual([root]);
    expect(disk[0]?.message).toMatch(/^filesystem .* is \d+\.\d% full, over the warn level of 0\.001%/);
  });

  it('drift: a stopped service is reported with how to fix it', async () => {
    const container = sc.sb.container('app');
    await docker('stop', '--time', '1', container);
    try {
      const r = await sc.status(['--json']);
      expect(r.code, show(r)).toBe(3);
      const s = stackOf(parseJsonDocument<StatusReport>(r.stdout));
      expect(s.drift.state).toBe('drift');
      expect(s.problems.filter((p) => p.kind === 'drift').map((p) => [p.subject, p.message.split(':')[1]?.trim()])).toEqual([[container, 'stopped']]);
      expect(s.services[0]).toMatchObject({ state: 'exited', level: 'problem' });
    } finally {
      await docker('start', container);
      await waitFor('the service to be healthy again', async () => (await docker('inspect', '--format', '{{.State.Health.Status}}', container)).trim() === 'healthy');
    }
  });

  it('--prom writes the findings as gauges for node_exporter\'s textfile collector', async () => {
    const prom = join(temp.make('stowage-prom-'), 'stowage-status.prom');
    const r = await sc.status(['--prom', prom]);
    expect(r.code, show(r)).toBe(3);
    const text = readFileSync(prom, 'utf8');
    const labels = `project="${sc.project}",env="prod"`;
    expect(text).toContain(`stowage_status_problems{${labels}} 3\n`);
    expect(text).toContain(`stowage_status_backup_verification{${labels},volume="attachments",state="failed"} 1\n`);
    expect(text).toContain(`stowage_status_backup_verification{${labels},volume="mail",state="verified"} 1\n`);
    expect(text).toContain(`stowage_status_backup_present{${labels},volume="contacts"} 0\n`);
    expect(text).toContain(`stowage_status_backup_max_age_seconds{${labels}} 93600\n`);
    expect(text).toContain(`stowage_status_backup_timestamp_seconds{${labels},volume="calendar"} ${Date.parse(volume('calendar').backup?.created ?? '') / 1000}\n`);
    expect(text).not.toMatch(/volume="cache"/);
  });
});

describe('the browser harness', () => {
  it('sees what the status tests must fail on: console errors, blocked requests, failed loads', async () => {
    const dir = temp.make('stowage-bad-page-');
    const bad = join(dir, 'bad.html');
    writeFileSync(
      bad,
      `<!doctype html><html lang="en"><head><meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'"><title>bad</title></head>` +
        `<body><img src="http://192.0.2.1/tracker.png" alt=""><img src="missing.png" alt=""><script>console.error('boom')</script></body></html>`,
    );
    const browser = await Browser.launch();
    try {
      const tab = await browser.newPage({ width: 800, height: 600 });
      await tab.goto(pathToFileURL(bad).href);
      await waitFor('the failed loads to be reported', () => tab.findings.failedRequests.length >= 2 || undefined, 100);
      expect(tab.findings.errors.some((e) => e.includes('boom'))).toBe(true);
      expect(tab.findings.requests).toEqual(expect.arrayContaining([pathToFileURL(bad).href, 'http://192.0.2.1/tracker.png']));
      expect(tab.findings.failedRequests.join('\n')).toMatch(/blocked: csp/);
    } finally {
      await browser.close();
    }
  });
});

describe('the shipped stacks', () => {
  let browser: Browser;
  let empty: string;
  beforeAll(async () => {
    browser = await Browser.launch();
    empty = temp.make('stowage-shipped-');
  });
  afterAll(async () => {
    await browser.close();
  });

  const shipped = (args: string[]): Promise<RunResult> =>
    exec('npx', ['zx', 'scripts/status.mjs', '--stacks-dir', join(repoRoot, 'stacks'), '--to', join(empty, 'backups'), '--state-dir', join(empty, 'state'), '--json', ...args], { env: { NO_COLOR: '1' } });

  it.each(['pim-prod', 'digidig-prod'])('%s: every volume and service of the stack file, no backups (exit 3), and a page that matches', async (stack) => {
    const html = join(empty, `${stack}.html`);
    const r = await shipped(['--stack', stack, '--html', html]);
    expect(r.code, show(r)).toBe(3);
    const doc = parseJsonDocument<StatusReport>(r.stdout);
    const s = doc.stacks[0];
    if (s === undefined) throw new Error('no stack in the report');
    const model = selectStack(stack, join(repoRoot, 'stacks')).model;
    expect(s.volumes.map((v) => [v.volume, v.method])).toEqual(model.volumes.map((v) => [v.key, v.backup.method]));
    expect(s.services.map((x) => x.container)).toEqual(model.containers.map((c) => c.name));
    expect(s.problems.filter((p) => p.kind === 'no-backup').map((p) => p.subject)).toEqual(model.volumes.filter((v) => v.backup.method !== 'none').map((v) => v.key));
    const tab = await browser.newPage({ width: 1366, height: 900 });
    await tab.goto(pathToFileURL(html).href);
    expect(tab.findings.errors).toEqual([]);
    expect(tab.findings.failedRequests).toEqual([]);
    expectPageMatches(await readPage(tab), doc);
    await tab.screenshot(join(ARTIFACTS, `status-${stack}.png`));
  });

  it('--all lists every environment of every stack file, each one checked or said to be not deployed here', async () => {
    const html = join(empty, 'all.html');
    const r = await shipped(['--all', '--html', html]);
    expect([0, 3], show(r)).toContain(r.code);
    const doc = parseJsonDocument<StatusReport>(r.stdout);
    expect(doc.stacks.map((s) => s.stack)).toEqual(['digidig-dev', 'digidig-prod', 'pim-dev', 'pim-prod']);
    for (const s of doc.stacks) expect(s.health === 'not-deployed').toBe(!s.deployed);
    const tab = await browser.newPage({ width: 1366, height: 900 });
    await tab.goto(pathToFileURL(html).href);
    expect(tab.findings.errors).toEqual([]);
    expect(tab.findings.failedRequests).toEqual([]);
    expectPageMatches(await readPage(tab), doc);
  });
});
