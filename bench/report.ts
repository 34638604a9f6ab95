import type { Breakdown, ComponentTiming, FloorPart, Timeline } from './breakdown.js';
import type { DatasetSummary } from './dataset.js';
import { median } from './measure.js';
import type { OpResult, TreeDigest } from './methods.js';
import type { RemoteSeries } from './remote.js';

/** The benchmark's result document (--json) and its table. */

export interface Series {
  runs: OpResult[];
  seconds: number[];
  median: number | null;
}

export interface Target {
  id: string;
  description: string;
  measured: string;
  goal: string;
  /** null: could not be evaluated (a method failed to run). */
  pass: boolean | null;
  value: number | null;
}

export interface BenchReport {
  benchmark: 'stowage';
  format: 1;
  startedAt: string;
  finishedAt: string;
  options: { sizeMiB: number; rounds: number; seed: number; breakdown: boolean; ssh: boolean };
  machine: { cpus: number; memoryBytes: number; kernel: string; docker: string; zstd: string; restic: string; gnuTime: boolean; loadAverageStart: number[]; loadAverageEnd: number[] };
  dataset: (DatasetSummary & { generateAndSyncSeconds: number; direct: boolean; digest: TreeDigest | null }) | null;
  backup: { stowage: Series; docs: Series; restic: Series };
  restore: { stowage: Series; docs: Series; sourceRemovalSeconds: number | null; checks: Array<{ method: string; round: number; content: boolean; metadata: boolean; fileMetadata: boolean }> };
  /** The backup from an engine reached over SSH, beside the docs' method run on that engine's host. */
  remote: RemoteSeries;
  sizes: { stowageArchiveBytes: number | null; docsArchiveBytes: number | null; resticRepositoryBytes: number | null; stowageVsDocs: number | null };
  memory: { backupStowageNodePeakBytes: number | null; restoreStowageNodePeakBytes: number | null; backupTreePeakBytes: number | null; backupGnuTimeMaxRssBytes: number | null };
  targets: Target[];
  /** With --breakdown: the best ratio the required engine path allows here, whatever stowage does around it. */
  floors: Floor[];
  breakdown: Breakdown | null;
  notes: string[];
  errors: string[];
}

export interface Floor {
  target: string;
  /** Sum of the measured pieces, each a median. */
  seconds: number;
  parts: Array<{ part: FloorPart; name: string; seconds: number }>;
  docsSeconds: number;
  bestRatio: number;
  goal: number;
  reachable: boolean;
}

const FLOOR_PARTS: Array<{ target: string; parts: FloorPart[]; docs: 'backup' | 'restore'; goal: number }> = [
  { target: 'backup-vs-docs', parts: ['engine-backup', 'startup', 'writer-pause'], docs: 'backup', goal: 6 },
  { target: 'restore-vs-docs', parts: ['engine-restore', 'decode', 'startup'], docs: 'restore', goal: 1.3 },
];

/** The floor of each speed target: the pieces no implementation can skip, measured alone and added up. */
export function floorsOf(b: Breakdown | null, docsMedians: { backup: number | null; restore: number | null }): Floor[] {
  if (b === null) return [];
  const pieces = [...b.backup, ...b.restore];
  const floors: Floor[] = [];
  for (const spec of FLOOR_PARTS) {
    const docsSeconds = docsMedians[spec.docs];
    const parts = spec.parts.map((part) => {
      const c = pieces.find((p) => p.floorPart === part);
      return c === undefined ? undefined : { part, name: c.name, seconds: c.median };
    });
    if (docsSeconds === null || parts.some((p) => p === undefined)) continue;
    const measured = parts.filter((p): p is NonNullable<typeof p> => p !== undefined);
    const seconds = measured.reduce((sum, p) => sum + p.seconds, 0);
    const bestRatio = docsSeconds / seconds;
    floors.push({ target: spec.target, seconds, parts: measured, docsSeconds, bestRatio, goal: spec.goal, reachable: bestRatio >= spec.goal });
  }
  return floors;
}

export function series(runs: OpResult[]): Series {
  const seconds = runs.map((r) => r.timing.seconds);
  return { runs, seconds, median: seconds.length === 0 ? null : median(seconds) };
}

const MB = 1e6;
const RSS_LIMIT = 200 * MB;

function maxOf(values: Array<number | undefined>): number | null {
  const v = values.filter((x): x is number => x !== undefined && Number.isFinite(x));
  return v.length === 0 ? null : Math.max(...v);
}

/** Fills in sizes, memory and targets from the measured series. */
export function evaluate(report: BenchReport): void {
  const b = report.backup;
  const r = report.restore;
  const first = (s: Series): OpResult | undefined => s.runs[0];
  report.sizes.stowageArchiveBytes = first(b.stowage)?.bytes ?? null;
  report.sizes.docsArchiveBytes = first(b.docs)?.bytes ?? null;
  report.sizes.resticRepositoryBytes = first(b.restic)?.bytes ?? null;
  const zst = report.sizes.stowageArchiveBytes;
  const gz = report.sizes.docsArchiveBytes;
  report.sizes.stowageVsDocs = zst !== null && gz !== null ? zst / gz - 1 : null;
  report.memory.backupStowageNodePeakBytes = maxOf(b.stowage.runs.map((x) => x.memory?.stowageNodePeakBytes));
  report.memory.restoreStowageNodePeakBytes = maxOf(r.stowage.runs.map((x) => x.memory?.stowageNodePeakBytes));
  report.memory.backupTreePeakBytes = maxOf(b.stowage.runs.map((x) => x.memory?.treePeakBytes));
  report.memory.backupGnuTimeMaxRssBytes = maxOf(b.stowage.runs.map((x) => x.memory?.gnuTimeMaxRssBytes));

  const ratio = (docs: number | null, ours: number | null): number | null => (docs !== null && ours !== null && ours > 0 ? docs / ours : null);
  const backupSpeedup = ratio(b.docs.median, b.stowage.median);
  const restoreSpeedup = ratio(r.docs.median, r.stowage.median);
  const targets: Target[] = [];
  targets.push({
    id: 'backup-vs-docs',
    description: "backup >= 6x faster than the docs' method",
    measured: backupSpeedup === null ? 'n/a' : `${backupSpeedup.toFixed(2)}x`,
    goal: '>= 6x',
    pass: backupSpeedup === null ? null : backupSpeedup >= 6,
    value: backupSpeedup,
  });
  targets.push({
    id: 'backup-vs-restic',
    description: "backup faster than restic's first backup",
    measured: b.stowage.median === null || b.restic.median === null ? 'n/a' : `${secs(b.stowage.median)} vs ${secs(b.restic.median)}`,
    goal: 'faster',
    pass: b.stowage.median === null || b.restic.median === null ? null : b.stowage.median < b.restic.median,
    value: ratio(b.restic.median, b.stowage.median),
  });
  targets.push({
    id: 'restore-vs-docs',
    description: "restore >= 1.3x faster than the docs' method (verification included)",
    measured: restoreSpeedup === null ? 'n/a' : `${restoreSpeedup.toFixed(2)}x`,
    goal: '>= 1.3x',
    pass: restoreSpeedup === null ? null : restoreSpeedup >= 1.3,
    value: restoreSpeedup,
  });
  for (const [id, label, value] of [
    ['rss-backup', 'peak RSS of the stowage node process, backup', report.memory.backupStowageNodePeakBytes],
    ['rss-restore', 'peak RSS of the stowage node process, restore', report.memory.restoreStowageNodePeakBytes],
  ] as const) {
    targets.push({ id, description: label, measured: value === null ? 'n/a' : mb(value), goal: '< 200 MB', pass: value === null ? null : value < RSS_LIMIT, value });
  }
  const sshSpeedup = ratio(report.remote.docs.median, report.remote.stowage.median);
  targets.push({
    id: 'ssh-backup-vs-docs-on-host',
    description: "backup from an engine over SSH >= 3x faster than the docs' method run on that host",
    measured: sshSpeedup === null ? 'n/a' : `${sshSpeedup.toFixed(2)}x`,
    goal: '>= 3x',
    pass: sshSpeedup === null ? null : sshSpeedup >= 3,
    value: sshSpeedup,
  });
  const d = report.sizes.stowageVsDocs;
  targets.push({
    id: 'archive-size',
    description: "stowage's .tar.zst within 5% of the docs' .tar.gz",
    measured: d === null ? 'n/a' : pct(d),
    goal: '<= +5%',
    pass: d === null ? null : d <= 0.05,
    value: d,
  });
  report.targets = targets;
  report.floors = floorsOf(report.breakdown, { backup: b.docs.median, restore: r.docs.median });
}

export function secs(s: number | null | undefined): string {
  return s === null || s === undefined ? 'n/a' : `${s.toFixed(2)} s`;
}

export function mb(bytes: number | null | undefined): string {
  return bytes === null || bytes === undefined ? 'n/a' : `${(bytes / MB).toFixed(1)} MB`;
}

function pct(x: number): string {
  return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`;
}

function table(rows: string[][], align: Array<'l' | 'r'>): string {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows
    .map((r) =>
      r
        .map((cell, i) => (align[i] === 'r' ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

function speed(docs: number | null, ours: number | null): string {
  if (docs === null || ours === null || ours <= 0) return '';
  const x = docs / ours;
  return x >= 1 ? `${x.toFixed(2)}x faster` : `${(1 / x).toFixed(2)}x slower`;
}

export function render(report: BenchReport): string {
  const out: string[] = [];
  const ds = report.dataset;
  out.push(
    `stowage benchmark: ${report.options.sizeMiB} MiB${ds === null ? '' : ` in ${ds.files.toLocaleString('en')} files (${ds.smallFiles.toLocaleString('en')} small), ${Math.round((ds.textBytes / ds.bytes) * 100)}% log text / ${Math.round((ds.randomBytes / ds.bytes) * 100)}% random`}, seed ${report.options.seed}`,
  );
  out.push(`every time includes sync; medians of ${report.options.rounds} rounds (alternating order); ${report.machine.cpus} CPUs; load average at start ${report.machine.loadAverageStart.map((l) => l.toFixed(2)).join(' ')}, at end ${report.machine.loadAverageEnd.map((l) => l.toFixed(2)).join(' ')}`);
  out.push('');
  const b = report.backup;
  const r = report.restore;
  const runs = (s: Series): string => s.seconds.map((x) => x.toFixed(2)).join(', ');
  const rows: string[][] = [['', 'method', 'median', 'runs (s)', 'vs docs']];
  rows.push(['backup', 'stowage backup.mjs (zstd)', secs(b.stowage.median), runs(b.stowage), speed(b.docs.median, b.stowage.median)]);
  rows.push(['backup', "docs: tar czf in a helper", secs(b.docs.median), runs(b.docs), '']);
  rows.push(['backup', "restic: first backup", secs(b.restic.median), runs(b.restic), speed(b.docs.median, b.restic.median)]);
  rows.push(['restore', 'stowage restore.mjs (verifies first)', secs(r.stowage.median), runs(r.stowage), speed(r.docs.median, r.stowage.median)]);
  rows.push(['restore', "docs: rm + tar xzf in a helper", secs(r.docs.median), runs(r.docs), '']);
  const ssh = report.remote;
  if (ssh.stowage.runs.length + ssh.stowageDialStdio.runs.length + ssh.docs.runs.length > 0) {
    rows.push(['ssh', 'stowage backup.mjs over SSH (its socket tunnel)', secs(ssh.stowage.median), runs(ssh.stowage), speed(ssh.docs.median, ssh.stowage.median)]);
    rows.push(['ssh', "stowage backup.mjs over SSH (docker's dial-stdio)", secs(ssh.stowageDialStdio.median), runs(ssh.stowageDialStdio), speed(ssh.docs.median, ssh.stowageDialStdio.median)]);
    rows.push(['ssh', "docs: tar czf in a helper, on the engine's host", secs(ssh.docs.median), runs(ssh.docs), '']);
  }
  rows.push(['size', 'stowage data.tar.zst', mb(report.sizes.stowageArchiveBytes), '', report.sizes.stowageVsDocs === null ? '' : `${pct(report.sizes.stowageVsDocs)} vs .tar.gz`]);
  rows.push(['size', 'docs x.tar.gz', mb(report.sizes.docsArchiveBytes), '', '']);
  rows.push(['size', 'restic repository', mb(report.sizes.resticRepositoryBytes), '', '']);
  const gnu = report.memory.backupGnuTimeMaxRssBytes;
  rows.push(['memory', 'stowage node peak RSS, backup', mb(report.memory.backupStowageNodePeakBytes), '', `whole tree ${mb(report.memory.backupTreePeakBytes)}${gnu === null ? '' : `; GNU time (largest process) ${mb(gnu)}`}`]);
  rows.push(['memory', 'stowage node peak RSS, restore', mb(report.memory.restoreStowageNodePeakBytes), '', '']);
  out.push(table(rows, ['l', 'l', 'r', 'l', 'l']));
  out.push('');
  const trows: string[][] = [['target', 'measured', 'goal', 'result']];
  for (const t of report.targets) trows.push([t.description, t.measured, t.goal, t.pass === null ? 'n/a' : t.pass ? 'PASS' : 'MISS']);
  out.push(table(trows, ['l', 'r', 'l', 'l']));
  if (report.floors.length > 0) out.push('', renderFloors(report.floors));
  if (report.breakdown !== null) out.push('', renderBreakdown(report.breakdown));
  if (report.notes.length > 0) out.push('', 'notes:', ...report.notes.map((n) => `  - ${n}`));
  if (report.errors.length > 0) out.push('', 'FAILED to run:', ...report.errors.map((e) => `  - ${e.split('\n').join('\n    ')}`));
  return out.join('\n');
}

function renderComponents(title: string, items: ComponentTiming[]): string {
  const rows: string[][] = [[title, 'median', 'runs (s)', 'node CPU', 'dockerd CPU']];
  for (const c of items) {
    rows.push([c.name, secs(c.median), c.runs.map((x) => x.toFixed(2)).join(', '), c.nodeCpuSeconds === undefined ? '' : secs(c.nodeCpuSeconds), c.dockerdCpuSeconds === undefined ? '' : secs(c.dockerdCpuSeconds)]);
  }
  return table(rows, ['l', 'r', 'l', 'r', 'r']);
}

function renderTimeline(t: Timeline): string {
  const rows: string[][] = [[`${t.run} (${secs(t.totalSeconds)})`, 'seconds']];
  for (const p of t.phases) rows.push([p.phase, secs(p.seconds)]);
  return table(rows, ['l', 'r']);
}

export function renderBreakdown(b: Breakdown): string {
  const parts: string[] = ['breakdown (each includes sync; node CPU = this benchmark process piping the bytes):'];
  if (b.backup.length > 0) parts.push(renderComponents('backup data path', b.backup));
  if (b.restore.length > 0) parts.push('', renderComponents('restore data path (fresh volume each)', b.restore));
  for (const t of b.timelines) parts.push('', renderTimeline(t));
  return parts.join('\n');
}

function renderFloors(floors: Floor[]): string {
  const rows: string[][] = [['floor of a speed target (required engine path, no stowage logic)', 'floor', 'best ratio', 'goal', '']];
  for (const f of floors) {
    rows.push([f.target, secs(f.seconds), `${f.bestRatio.toFixed(2)}x`, `>= ${f.goal}x`, f.reachable ? 'reachable' : 'UNREACHABLE on this machine']);
    for (const p of f.parts) rows.push([`  + ${p.name}`, secs(p.seconds), '', '', '']);
  }
  return table(rows, ['l', 'r', 'r', 'l', 'l']);
}
