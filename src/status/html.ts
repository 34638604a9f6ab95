import { lineChart, type ChartPoint } from './charts.js';
import type { FilesystemStatus, Health, ServiceStatus, StackStatus, StatusReport, VolumeStatus } from './status.js';
import { formatBytes, formatDate, formatDays, formatGrowth, formatMaxAge, formatSeconds, formatTime } from './format.js';
import { driftWord, filesystemCells, HEALTH_WORD, newestSetLine, serviceCells, verdictOf, volumeCells, type VolumeCells } from './text.js';

/**
 * status.mjs --html: one self-contained page. No script, no stylesheet or
 * image from anywhere, and a Content-Security-Policy that forbids fetching
 * any, so it renders the same from file://, a web server, or a mail
 * attachment. States are words and symbols first; colours differ in
 * lightness too, so a greyscale print still tells them apart. Numbers in the
 * tables carry their raw value in data-value, for tests and for people who
 * copy them.
 */

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

const SYMBOL: Record<Health | 'not-deployed', string> = { ok: '✓', attention: '!', problem: '✗', 'not-deployed': '–' };

function badge(level: Health | 'not-deployed', word: string = HEALTH_WORD[level]): string {
  return `<span class="badge ${level}"><span aria-hidden="true">${SYMBOL[level]}</span> ${esc(word)}</span>`;
}

function slug(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]+/g, '-');
}

interface Column {
  key: string;
  label: string;
  numeric?: boolean;
}

const VOLUME_COLUMNS: Array<Column & { key: keyof VolumeCells }> = [
  { key: 'volume', label: 'Volume' },
  { key: 'method', label: 'Method' },
  { key: 'lastBackup', label: 'Last backup (age)', numeric: true },
  { key: 'size', label: 'Backup size', numeric: true },
  { key: 'duration', label: 'Duration', numeric: true },
  { key: 'verified', label: 'Verified' },
  { key: 'sets', label: 'Sets kept', numeric: true },
  { key: 'volumeSize', label: 'Volume size', numeric: true },
  { key: 'growth', label: 'Growth', numeric: true },
  { key: 'fullIn', label: 'Disk full in', numeric: true },
  { key: 'drift', label: 'Drift' },
  { key: 'state', label: 'State' },
];

/** Raw values behind the displayed cells (data-value), straight from the --json document. */
function volumeValues(v: VolumeStatus): Partial<Record<keyof VolumeCells, number | string>> {
  return {
    ...(v.backup === null ? {} : { lastBackup: v.backup.ageSeconds, size: v.backup.bytes, ...(v.backup.durationSeconds === null ? {} : { duration: v.backup.durationSeconds }) }),
    verified: v.verification.state,
    sets: v.setsKept,
    ...(v.size === null ? {} : { volumeSize: v.size.bytes }),
    ...(v.growthBytesPerDay === null ? {} : { growth: v.growthBytesPerDay }),
    ...(v.daysUntilFull === null ? {} : { fullIn: v.daysUntilFull }),
    state: v.health,
  };
}

function cellLevel(v: VolumeStatus, key: keyof VolumeCells): string {
  if (key === 'lastBackup') return v.method === 'none' ? '' : v.backup === null || v.backup.stale ? 'problem' : '';
  if (key === 'verified') return v.backup === null ? '' : v.verification.state === 'failed' ? 'problem' : v.verification.state === 'unverified' ? 'attention' : 'ok';
  if (key === 'drift') return v.drift.length > 0 ? 'problem' : '';
  return '';
}

function headerRow(columns: Column[]): string {
  return `<thead role="rowgroup"><tr role="row">${columns.map((c) => `<th scope="col" role="columnheader"${c.numeric === true ? ' class="num"' : ''}>${esc(c.label)}</th>`).join('')}</tr></thead>`;
}

function volumeTable(s: StackStatus): string {
  const rows = s.volumes.map((v) => {
    const cells = volumeCells(v);
    const values = volumeValues(v);
    const tds = VOLUME_COLUMNS.map((c, i) => {
      const value = values[c.key];
      const level = cellLevel(v, c.key);
      const attrs = `data-key="${c.key}" data-label="${esc(c.label)}"${value === undefined ? '' : ` data-value="${esc(String(value))}"`}`;
      const classes = [c.numeric === true ? 'num' : '', level === '' ? '' : `cell-${level}`].filter((x) => x !== '').join(' ');
      const content = c.key === 'state' ? badge(v.health) : esc(cells[c.key]);
      return i === 0
        ? `<th scope="row" role="rowheader" ${attrs}>${content}</th>`
        : `<td role="cell" ${attrs}${classes === '' ? '' : ` class="${classes}"`}>${content}</td>`;
    });
    return `<tr role="row" data-volume="${esc(v.volume)}">${tds.join('')}</tr>`;
  });
  return (
    `<div class="table-wrap"><table class="status" role="table" data-table="volumes"><caption>Volumes of ${esc(s.stack)}: backups in ${esc(s.destination)}</caption>` +
    `${headerRow(VOLUME_COLUMNS)}<tbody role="rowgroup">${rows.join('')}</tbody></table></div>`
  );
}

const SERVICE_COLUMNS: Column[] = [
  { key: 'service', label: 'Service' },
  { key: 'container', label: 'Container' },
  { key: 'state', label: 'State' },
  { key: 'health', label: 'Health' },
  { key: 'drift', label: 'Drift' },
  { key: 'level', label: 'Level' },
];

function serviceTable(s: StackStatus): string {
  const rows = s.services.map((service: ServiceStatus) => {
    const cells = serviceCells(service);
    const tds = SERVICE_COLUMNS.map((c, i) => {
      const attrs = `data-key="${c.key}" data-label="${esc(c.label)}"`;
      const text = cells[i] ?? '';
      if (i === 0) return `<th scope="row" role="rowheader" ${attrs}>${esc(text)}</th>`;
      if (c.key === 'level') return `<td role="cell" ${attrs}>${badge(service.level)}</td>`;
      const bad = (c.key === 'state' && service.state !== 'running') || (c.key === 'health' && service.health === 'unhealthy') || (c.key === 'drift' && service.drift.length > 0);
      return `<td role="cell" ${attrs}${bad ? ' class="cell-problem"' : ''}>${esc(text)}</td>`;
    });
    return `<tr role="row" data-service="${esc(service.service)}">${tds.join('')}</tr>`;
  });
  return `<div class="table-wrap"><table class="status" role="table" data-table="services"><caption>Services of ${esc(s.stack)}</caption>${headerRow(SERVICE_COLUMNS)}<tbody role="rowgroup">${rows.join('')}</tbody></table></div>`;
}

const FS_COLUMNS: Column[] = [
  { key: 'path', label: 'Filesystem' },
  { key: 'total', label: 'Size', numeric: true },
  { key: 'used', label: 'Used', numeric: true },
  { key: 'available', label: 'Available', numeric: true },
  { key: 'usedPercent', label: 'Use%', numeric: true },
  { key: 'growth', label: 'Growth', numeric: true },
  { key: 'fullOn', label: 'Full on', numeric: true },
  { key: 'level', label: 'State' },
];

function filesystemTable(s: StackStatus): string {
  if (s.filesystems.length === 0) return '';
  const rows = s.filesystems.map((f: FilesystemStatus) => {
    const cells = filesystemCells(f);
    const values: Array<number | string | null> = [f.path, f.totalBytes, f.usedBytes, f.availableBytes, f.usedPercent, f.growthBytesPerDay, f.fullOn, f.level];
    const tds = FS_COLUMNS.map((c, i) => {
      const value = values[i];
      const attrs = `data-key="${c.key}" data-label="${esc(c.label)}"${value === null || value === undefined ? '' : ` data-value="${esc(String(value))}"`}`;
      if (i === 0) return `<th scope="row" role="rowheader" ${attrs}>${esc(cells[i] ?? '')}</th>`;
      const cls = [c.numeric === true ? 'num' : '', c.key === 'level' && f.level !== 'ok' ? 'cell-problem' : ''].filter((x) => x !== '').join(' ');
      return `<td role="cell" ${attrs}${cls === '' ? '' : ` class="${cls}"`}>${esc(cells[i] ?? '')}</td>`;
    });
    return `<tr role="row" data-filesystem="${esc(f.path)}">${tds.join('')}</tr>`;
  });
  return `<div class="table-wrap"><table class="status" role="table" data-table="filesystems"><caption>Filesystems holding the volumes of ${esc(s.stack)} (warn ${s.thresholds.warn}%, crit ${s.thresholds.crit}%)</caption>${headerRow(FS_COLUMNS)}<tbody role="rowgroup">${rows.join('')}</tbody></table></div>`;
}

// ---------------------------------------------------------------- charts

function dataTable(caption: string, headers: string[], rows: string[][]): string {
  return (
    `<details><summary>${esc(caption)}: the numbers</summary><div class="table-wrap"><table class="data"><caption>${esc(caption)}</caption>` +
    `<thead><tr>${headers.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${rows.map((r) => `<tr>${r.map((c, i) => (i === 0 ? `<th scope="row">${esc(c)}</th>` : `<td>${esc(c)}</td>`)).join('')}</tr>`).join('')}</tbody></table></div></details>`
  );
}

function range(values: number[], format: (n: number) => string): string {
  return `from ${format(values[0] ?? 0)} to ${format(values.at(-1) ?? 0)} (lowest ${format(Math.min(...values))}, highest ${format(Math.max(...values))})`;
}

function figure(id: string, caption: string, body: string): string {
  return `<figure id="${id}"><figcaption>${esc(caption)}</figcaption>${body}</figure>`;
}

function empty(text: string): string {
  return `<p class="empty">${esc(text)}</p>`;
}

function volumeCharts(s: StackStatus, v: VolumeStatus): string {
  const base = `chart-${slug(s.stack)}-${slug(v.volume)}`;
  const backups = v.backups;
  const first = backups[0]?.created;
  const last = backups.at(-1)?.created;
  const span = first === undefined || last === undefined ? '' : `${backups.length} set(s) from ${formatDate(first)} to ${formatDate(last)}`;
  const points = (value: (b: (typeof backups)[number]) => number | null): ChartPoint[] =>
    backups.flatMap((b) => {
      const n = value(b);
      return n === null ? [] : [{ t: Date.parse(b.created), v: n, mark: b.verification }];
    });
  const failed = backups.filter((b) => b.verification === 'failed').map((b) => b.set);

  const sizeFigure =
    backups.length === 0
      ? figure(`${base}-size`, `Backup size of ${v.volume}`, empty(v.method === 'none' ? 'not backed up (backup.method none)' : 'no backup yet'))
      : figure(
          `${base}-size`,
          `Backup size of ${v.volume}`,
          lineChart(
            {
              id: `${base}-size-svg`,
              title: `Backup size of ${v.volume} (${s.stack})`,
              description: `${span}: ${range(backups.map((b) => b.bytes), formatBytes)}.${failed.length > 0 ? ` Failed verification: ${failed.join(', ')}.` : ''} Filled dots verified, hollow dots not verified, crosses failed.`,
              series: [{ name: 'backup size', points: points((b) => b.bytes), line: 'solid', markers: true }],
              format: formatBytes,
            },
            true,
          ) +
            legend() +
            dataTable(`Backup size of ${v.volume}`, ['Set', 'Created', 'Size', 'Duration', 'Verification'], backups.map((b) => [b.set, formatTime(b.created), formatBytes(b.bytes), b.durationSeconds === null ? '-' : formatSeconds(b.durationSeconds), b.verification])),
        );

  const durations = backups.filter((b) => b.durationSeconds !== null);
  const durationFigure =
    durations.length === 0
      ? figure(`${base}-duration`, `Backup duration of ${v.volume}`, empty(v.method === 'none' ? 'not backed up (backup.method none)' : backups.length === 0 ? 'no backup yet' : 'the manifests record no duration'))
      : figure(
          `${base}-duration`,
          `Backup duration of ${v.volume}`,
          lineChart(
            {
              id: `${base}-duration-svg`,
              title: `Backup duration of ${v.volume} (${s.stack})`,
              description: `${durations.length} set(s): ${range(durations.map((b) => b.durationSeconds ?? 0), formatSeconds)}.`,
              series: [{ name: 'duration', points: points((b) => b.durationSeconds), line: 'solid', markers: true }],
              format: formatSeconds,
            },
            false,
          ),
        );

  const sizes = v.sizes;
  let growthFigure: string;
  if (sizes.length === 0) {
    growthFigure = figure(`${base}-growth`, `Size of volume ${v.volume}`, empty('not measured yet: run disk-usage.mjs on a schedule'));
  } else {
    const lastSize = sizes.at(-1);
    const lastT = Date.parse(lastSize?.time ?? '');
    const firstT = Date.parse(sizes[0]?.time ?? '');
    const fullT = v.fullOn === null ? null : Date.parse(v.fullOn);
    // Show the day the disk fills when it is near enough to read the history beside it.
    const horizon = Math.max(90 * 86_400_000, 2 * (lastT - firstT));
    const within = fullT !== null && fullT - lastT <= horizon;
    const projection: ChartPoint[] =
      within && fullT !== null && v.growthBytesPerDay !== null && lastSize !== undefined
        ? [
            { t: lastT, v: lastSize.bytes },
            { t: fullT, v: lastSize.bytes + (v.growthBytesPerDay * (fullT - lastT)) / 86_400_000 },
          ]
        : [];
    const fullText =
      v.fullOn === null
        ? `Its filesystem${v.filesystem === null ? '' : ` ${v.filesystem}`} is not projected to fill (no growth, or not enough history).`
        : `At the current rate its filesystem ${v.filesystem ?? ''} is full on ${formatDate(v.fullOn)} (in ${formatDays(v.daysUntilFull ?? 0)})${within ? '' : ', beyond the right edge of this chart'}.`;
    growthFigure = figure(
      `${base}-growth`,
      `Size of volume ${v.volume} and the day its disk fills`,
      lineChart(
        {
          id: `${base}-growth-svg`,
          title: `Size of volume ${v.volume} (${s.stack})`,
          description: `${sizes.length} measurement(s) from ${formatDate(sizes[0]?.time ?? '')} to ${formatDate(lastSize?.time ?? '')}: ${range(sizes.map((p) => p.bytes), formatBytes)}${v.growthBytesPerDay === null ? '' : `, growing ${formatGrowth(v.growthBytesPerDay)}`}. ${fullText}`,
          series: [
            { name: 'measured size', points: sizes.map((p) => ({ t: Date.parse(p.time), v: p.bytes })), line: 'solid', markers: sizes.length <= 40 },
            ...(projection.length > 0 ? [{ name: 'projection', points: projection, line: 'dashed' as const, markers: false }] : []),
          ],
          format: formatBytes,
          ...(within && fullT !== null && v.fullOn !== null ? { rule: { t: fullT, label: `disk full ${formatDate(v.fullOn)}` }, until: fullT } : {}),
        },
        true,
      ) +
        `<p class="chart-note">${esc(fullText)}</p>` +
        dataTable(`Size of volume ${v.volume}`, ['Measured', 'Size'], sizes.map((p) => [formatTime(p.time), formatBytes(p.bytes)])),
    );
  }
  return `<section class="volume-charts" aria-labelledby="${base}-h"><h4 id="${base}-h">${esc(v.volume)}</h4><div class="charts">${sizeFigure}${durationFigure}${growthFigure}</div></section>`;
}

function legend(): string {
  return (
    '<p class="legend"><svg viewBox="0 0 10 10" width="10" height="10" aria-hidden="true"><circle class="mark" cx="5" cy="5" r="3.5"/></svg> verified ' +
    '<svg viewBox="0 0 10 10" width="10" height="10" aria-hidden="true"><circle class="mark-open" cx="5" cy="5" r="3.5"/></svg> not verified ' +
    '<svg viewBox="0 0 10 10" width="10" height="10" aria-hidden="true"><path class="mark-failed" d="M1 1L9 9M1 9L9 1"/></svg> failed</p>'
  );
}

// ---------------------------------------------------------------- page

function stackSection(s: StackStatus): string {
  const id = `stack-${slug(s.stack)}`;
  const head = `<h2 id="${id}-h">${esc(s.stack)} ${badge(s.health)}</h2>`;
  if (!s.deployed) {
    const why = s.errors.length > 0 ? `No backups in ${esc(s.destination)}, and not checked: ${esc(s.errors.join('; '))}` : `Nothing of ${esc(s.stack)} on ${esc(s.engine?.url ?? 'this engine')} and no backups in ${esc(s.destination)}: not checked.`;
    return `<section class="stack" id="${id}" data-stack="${esc(s.stack)}" aria-labelledby="${id}-h">${head}<p>${why}</p></section>`;
  }
  const meta =
    `<p class="meta">project <b>${esc(s.project)}</b> · stack file ${esc(s.stackFile)}${s.engine === null ? '' : ` · engine ${esc(s.engine.url)}`} · backups in ${esc(s.destination)} · max age ${esc(formatMaxAge(s.maxAgeSeconds))}` +
    ` · disk warn ${s.thresholds.warn}%, crit ${s.thresholds.crit}% · sizes ${s.disk.source === 'live' ? 'measured now' : s.disk.source === 'history' ? `from the disk-usage history (${esc(formatTime(s.disk.measured ?? ''))})` : 'not measured'} · drift: ${esc(driftWord(s))}</p>`;
  const problems =
    s.problems.length === 0
      ? ''
      : `<div class="problems" role="group" aria-labelledby="${id}-p"><h3 id="${id}-p">Problems (${s.problems.length})</h3><ul>${s.problems
          .map((p) => `<li data-kind="${esc(p.kind)}"><b>${esc(p.kind)}</b> ${esc(p.subject)}: ${esc(p.message)}<br><span class="fix">Fix: ${esc(p.fix)}</span></li>`)
          .join('')}</ul></div>`;
  const notes = s.notes.length === 0 ? '' : `<h3>Notes</h3><ul class="notes">${s.notes.map((n) => `<li>${esc(n.subject)}: ${esc(n.message)}</li>`).join('')}</ul>`;
  const errors = s.errors.length === 0 ? '' : `<h3>Could not check</h3><ul class="notes">${s.errors.map((e) => `<li>${esc(e)}</li>`).join('')}</ul>`;
  return (
    `<section class="stack" id="${id}" data-stack="${esc(s.stack)}" aria-labelledby="${id}-h">${head}${meta}<p class="newest">${esc(newestSetLine(s))}</p>${problems}` +
    `<h3>Volumes</h3>${volumeTable(s)}<h3>Services</h3>${serviceTable(s)}${s.filesystems.length > 0 ? `<h3>Filesystems</h3>${filesystemTable(s)}` : ''}${notes}${errors}` +
    `<h3>Charts</h3>${s.volumes.map((v) => volumeCharts(s, v)).join('')}</section>`
  );
}

function overview(report: StatusReport): string {
  const rows = report.stacks.map(
    (s) =>
      `<tr data-stack="${esc(s.stack)}"><th scope="row"><a href="#stack-${slug(s.stack)}">${esc(s.stack)}</a></th><td data-label="State">${badge(s.health)}</td>` +
      `<td data-label="Problems" class="num" data-value="${s.problems.length}">${s.problems.length}</td>` +
      `<td data-label="Newest backup">${s.newestSet === null ? '-' : esc(`${formatTime(s.newestSet.created)}`)}</td></tr>`,
  );
  return `<div class="table-wrap"><table class="overview"><caption>Stack environments</caption><thead><tr><th scope="col">Stack</th><th scope="col">State</th><th scope="col" class="num">Problems</th><th scope="col">Newest backup</th></tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

const STYLE = `
:root { color-scheme: light; --fg: #1b1b1b; --muted: #555; --line: #c8c8c8; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Noto Sans", sans-serif; color: var(--fg); background: #fff; margin: 0; padding: 16px; max-width: 1400px; overflow-wrap: anywhere; }
h1 { font-size: 1.5em; margin: 0 0 4px; } h2 { font-size: 1.25em; margin: 32px 0 4px; border-top: 2px solid var(--fg); padding-top: 12px; }
h3 { font-size: 1.05em; margin: 20px 0 6px; } h4 { font-size: 1em; margin: 16px 0 4px; }
.meta, .newest, .chart-note, .legend, .generated { color: var(--muted); margin: 4px 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 4px; font-weight: 600; font-size: 0.85em; white-space: nowrap; border: 1px solid transparent; vertical-align: middle; }
.badge.ok { background: #d7f0dd; color: #0b4a1e; border-color: #0b4a1e; }
.badge.attention { background: #f5c542; color: #2e2300; border: 1px dashed #2e2300; }
.badge.problem { background: #9b1c1c; color: #fff; border-color: #9b1c1c; }
.badge.not-deployed { background: #fff; color: #444; border: 1px dotted #444; font-weight: 400; }
.table-wrap { overflow-x: auto; }
table { border-collapse: collapse; margin: 4px 0 8px; }
caption { text-align: left; color: var(--muted); padding: 2px 0; }
th, td { text-align: left; padding: 4px 9px 4px 0; border-bottom: 1px solid var(--line); vertical-align: top; }
table.status td, table.overview td, table.status th, table.overview th { white-space: nowrap; overflow-wrap: normal; }
thead th { border-bottom: 2px solid var(--fg); font-weight: 600; white-space: nowrap; }
.num { text-align: right; font-variant-numeric: tabular-nums; }
td.cell-problem { background: #9b1c1c; color: #fff; font-weight: 600; padding-left: 6px; }
td.cell-attention { background: #f5c542; color: #2e2300; padding-left: 6px; }
td.cell-ok { color: #0b4a1e; }
.problems { border: 2px solid #9b1c1c; border-left-width: 8px; padding: 4px 12px; margin: 12px 0; }
.problems h3 { margin-top: 6px; } .fix { color: var(--muted); }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(340px, 1fr)); gap: 16px; }
figure { margin: 0; min-width: 0; } figcaption { font-weight: 600; }
svg.chart { width: 100%; height: auto; display: block; }
svg .grid { stroke: #e2e2e2; stroke-width: 1; } svg .axis { stroke: #1b1b1b; stroke-width: 1; }
svg .tick { font-size: 12px; fill: #444; } svg .rule { stroke: #9b1c1c; stroke-width: 1.5; stroke-dasharray: 2 3; }
svg .rule-label { font-size: 12px; fill: #9b1c1c; font-weight: 600; }
svg .line { fill: none; stroke: #1f4e99; stroke-width: 2; } svg .line.dashed { stroke: #9b1c1c; stroke-dasharray: 6 4; }
svg .mark { fill: #1f4e99; } svg .mark-open { fill: #fff; stroke: #1f4e99; stroke-width: 1.5; }
svg .mark-failed { stroke: #9b1c1c; stroke-width: 2.5; fill: none; }
.legend svg { vertical-align: middle; }
details { margin: 4px 0 0; } summary { cursor: pointer; color: var(--muted); }
table.data { font-size: 0.9em; }
.empty { color: var(--muted); font-style: italic; border: 1px dashed var(--line); padding: 24px 12px; margin: 4px 0; }
a { color: #1f4e99; }
@media (max-width: 760px) {
  body { padding: 10px; font-size: 14px; }
  table.status, table.status tbody, table.status tr, table.status th, table.status td { display: block; width: 100%; }
  table.status caption { display: block; }
  table.status thead { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
  ul { padding-left: 1.2em; } .problems { padding: 4px 8px; }
  table.status tr { border: 1px solid var(--line); border-radius: 6px; margin: 0 0 10px; padding: 4px 8px; }
  table.status th[scope="row"] { font-size: 1.05em; border-bottom: 1px solid var(--fg); }
  table.status th { white-space: normal; }
  table.status td { display: flex; justify-content: space-between; gap: 12px; border-bottom: 1px dotted var(--line); text-align: right; padding: 3px 0; white-space: normal; overflow-wrap: anywhere; }
  table.status td::before { content: attr(data-label); font-weight: 600; text-align: left; color: var(--muted); }
  table.status td.cell-problem, table.status td.cell-attention { padding: 3px 6px; }
  table.status td.cell-problem::before { color: #fff; } table.status td.cell-attention::before { color: #2e2300; }
  .charts { grid-template-columns: 1fr; }
  table.overview td { white-space: normal; }
}
@media print { .table-wrap { overflow: visible; } details { display: none; } }
`;

export function renderStatusPage(report: StatusReport): string {
  const { problems, checked, stacks, errors } = report.summary;
  const overall: Health | 'not-deployed' = problems > 0 ? 'problem' : errors > 0 ? 'attention' : checked === 0 ? 'not-deployed' : 'ok';
  const verdict = verdictOf(report);
  const title = `stowage status ${formatTime(report.generated)}: ${verdict}`;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="generator" content="stowage status.mjs">
<title>${esc(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>stowage status ${badge(overall, verdict)}</h1>
<p class="generated" data-generated="${esc(report.generated)}">Generated ${esc(formatTime(report.generated))} · all times UTC · ${checked} of ${stacks} stack environment(s) checked</p>
</header>
<main>
${overview(report)}
${report.stacks.map(stackSection).join('\n')}
</main>
</body>
</html>
`;
}
