import type { Breakdown, ComponentTiming, FloorPart, Timeline } from './breakdown.js';
import type { DatasetSummary } from './dataset.js';
import { median } from './measure.js';
import type { OpResult, TreeDigest } from './methods.js';
import type { RepositoryBench, RepositoryGrowth } from './repository.js';
import type { ChangeSummary } from './rollback.js';
import type { StartupReport } from './startup.js';
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

/** What a restored tree was compared with the source: content (names and bytes), and metadata (owners, modes, times). */
export interface RestoreCheck {
  method: string;
  round: number;
  content: boolean;
  metadata: boolean;
  fileMetadata: boolean;
}

/** The parts the benchmark measures, in the order they run; --only picks some (default: all). */
export const PHASES = ['startup', 'backup', 'repository', 'restore', 'rollback', 'ssh'] as const;
export type Phase = (typeof PHASES)[number];

export interface BenchReport {
  benchmark: 'stowage';
  format: 2;
  startedAt: string;
  finishedAt: string;
  options: { sizeMiB: number; rounds: number; seed: number; breakdown: boolean; only: Phase[] };
  machine: { cpus: number; memoryBytes: number; kernel: string; docker: string; zstd: string; restic: string; gnuTime: boolean; loadAverageStart: number[]; loadAverageEnd: number[] };
  dataset: (DatasetSummary & { generateAndSyncSeconds: number; direct: boolean; digest: TreeDigest | null }) | null;
  /** local and archive: backup.mjs --via local / --via archive; floor: tar | zstd on the host, no node. */
  backup: { local: Series; archive: Series; floor: Series; docs: Series; restic: Series };
  /** Into fresh volumes. floor: zstd -dc | tar -x on the host into a fresh directory; repository: restore.mjs from the repository phase's newest set. */
  restore: { local: Series; archive: Series; floor: Series; docs: Series; repository: Series; sourceRemovalSeconds: number | null; checks: RestoreCheck[] };
  /** restore.mjs into a volume holding the backup with a share of its files changed, deleted or added since. */
  rollback: { local: Series; archive: Series; changes: ChangeSummary | null; checks: RestoreCheck[] };
  startup: StartupReport | null;
  /** Backups into a restic repository against restic's own (bench/repository.ts); null when not measured. */
  repository: RepositoryReport | null;
  /** The backup from an engine reached over SSH, beside the docs' method run on that engine's host (bench/remote.ts). */
  remote: RemoteSeries;
  sizes: { stowageArchiveBytes: number | null; archivePathArchiveBytes: number | null; floorArchiveBytes: number | null; docsArchiveBytes: number | null; resticRepositoryBytes: number | null; stowageVsDocs: number | null };
  memory: { backupStowageNodePeakBytes: number | null; restoreStowageNodePeakBytes: number | null; backupTreePeakBytes: number | null; backupGnuTimeMaxRssBytes: number | null };
  targets: Target[];
  /** With --breakdown: the best ratio the archive endpoint allows here, whatever stowage does around it. */
  floors: Floor[];
  breakdown: Breakdown | null;
  notes: string[];
  errors: string[];
}

export interface RepositoryReport {
  firstSeconds: { stowage: number | null; restic: number | null };
  secondSeconds: { stowage: number | null; restic: number | null };
  /** What the second backup stored, and how many files restic found unchanged (not read). */
  secondAddedBytes: number | null;
  secondUnchangedFiles: number | null;
  /** stowage's repository and restic's own under the same changes (bench/growth.ts). */
  growth: RepositoryGrowth | null;
  backupStowageNodePeakBytes: number | null;
}

export function repositoryReport(bench: RepositoryBench): RepositoryReport {
  const added = bench.second.stowage?.detail?.['added'];
  const unchanged = bench.second.stowage?.detail?.['unchanged'];
  return {
    firstSeconds: { stowage: bench.first.stowage?.timing.seconds ?? null, restic: bench.first.resticSeconds },
    secondSeconds: { stowage: bench.second.stowage?.timing.seconds ?? null, restic: bench.second.resticSeconds },
    secondAddedBytes: typeof added === 'number' ? added : null,
    secondUnchangedFiles: typeof unchanged === 'number' ? unchanged : null,
    growth: bench.growth,
    backupStowageNodePeakBytes: maxOf([bench.first.stowage, bench.second.stowage, ...bench.growthRuns].map((x) => x?.memory?.stowageNodePeakBytes)),
  };
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

/**
 * The targets (ratios; what the table checks). The archive path's backup goal
 * is "no slower than before the local path existed": 4.4x the docs' method in
 * that day's run. Restores into fresh volumes are disk-bound: at least as fast
 * as the docs'. startupOwnShare: stowage's own start-up (above npx zx) compiled,
 * as a share of the same from source.
 */
export const GOALS = {
  backupLocalVsDocs: 8,
  backupLocalVsFloor: 1.5,
  backupArchiveVsDocs: 4.4,
  restoreVsDocs: 1,
  rollbackVsFull: 5,
  startupOwnShare: 0.5,
  archiveSize: 0.05,
  /** A backup from an engine over SSH against the docs' tar czf run on that engine's own host. */
  sshBackupVsDocsOnHost: 3,
  /** Into a repository, against restic's own runs of the same directory: at most this many times their time. */
  repoFirstVsRestic: 1.3,
  repoSecondVsRestic: 2,
  /** The repository after seven backups, 1% of the files rewritten between each, against after the first. */
  repoGrowth: 1.15,
} as const;

const FLOOR_PARTS: Array<{ target: string; parts: FloorPart[]; docs: 'backup' | 'restore'; goal: number }> = [
  { target: 'backup-archive-vs-docs', parts: ['engine-backup', 'startup', 'writer-pause'], docs: 'backup', goal: GOALS.backupArchiveVsDocs },
  { target: 'restore-archive-vs-docs', parts: ['engine-restore', 'decode', 'startup'], docs: 'restore', goal: GOALS.restoreVsDocs },
];

/** The floor of each archive-path speed target: the pieces no implementation can skip through the endpoint, measured alone and added up. */
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

function ratioOf(slow: number | null, fast: number | null): number | null {
  return slow !== null && fast !== null && fast > 0 ? slow / fast : null;
}

function speedTarget(id: string, description: string, slow: number | null, fast: number | null, goal: number): Target {
  const value = ratioOf(slow, fast);
  return { id, description, measured: value === null ? 'n/a' : `${value.toFixed(2)}x`, goal: `>= ${goal}x`, pass: value === null ? null : value >= goal, value };
}

/** Fills in sizes, memory and targets from the measured series. */
export function evaluate(report: BenchReport): void {
  const b = report.backup;
  const r = report.restore;
  const rb = report.rollback;
  const first = (s: Series): OpResult | undefined => s.runs[0];
  report.sizes.stowageArchiveBytes = first(b.local)?.bytes ?? null;
  report.sizes.archivePathArchiveBytes = first(b.archive)?.bytes ?? null;
  report.sizes.floorArchiveBytes = first(b.floor)?.bytes ?? null;
  report.sizes.docsArchiveBytes = first(b.docs)?.bytes ?? null;
  report.sizes.resticRepositoryBytes = first(b.restic)?.bytes ?? null;
  const zst = report.sizes.stowageArchiveBytes ?? report.sizes.archivePathArchiveBytes;
  const gz = report.sizes.docsArchiveBytes;
  report.sizes.stowageVsDocs = zst !== null && gz !== null ? zst / gz - 1 : null;
  const stowageBackups = [...b.local.runs, ...b.archive.runs];
  const stowageRestores = [...r.local.runs, ...r.archive.runs, ...rb.local.runs, ...rb.archive.runs];
  report.memory.backupStowageNodePeakBytes = maxOf(stowageBackups.map((x) => x.memory?.stowageNodePeakBytes));
  report.memory.restoreStowageNodePeakBytes = maxOf(stowageRestores.map((x) => x.memory?.stowageNodePeakBytes));
  report.memory.backupTreePeakBytes = maxOf(stowageBackups.map((x) => x.memory?.treePeakBytes));
  report.memory.backupGnuTimeMaxRssBytes = maxOf(stowageBackups.map((x) => x.memory?.gnuTimeMaxRssBytes));

  const targets: Target[] = [];
  targets.push(speedTarget('backup-local-vs-docs', "backup, local path: faster than the docs' tar czf", b.docs.median, b.local.median, GOALS.backupLocalVsDocs));
  targets.push({
    id: 'backup-local-vs-restic',
    description: "backup, local path: faster than restic's first backup",
    measured: b.local.median === null || b.restic.median === null ? 'n/a' : `${secs(b.local.median)} vs ${secs(b.restic.median)}`,
    goal: 'faster',
    pass: b.local.median === null || b.restic.median === null ? null : b.local.median < b.restic.median,
    value: ratioOf(b.restic.median, b.local.median),
  });
  const overFloor = ratioOf(b.local.median, b.floor.median);
  targets.push({
    id: 'backup-local-vs-floor',
    description: 'backup, local path: within the floor (host tar | zstd, no node) times',
    measured: overFloor === null ? 'n/a' : `${overFloor.toFixed(2)}x`,
    goal: `<= ${GOALS.backupLocalVsFloor}x`,
    pass: overFloor === null ? null : overFloor <= GOALS.backupLocalVsFloor,
    value: overFloor,
  });
  targets.push(speedTarget('backup-archive-vs-docs', "backup, archive path: no slower than before (4.4x the docs')", b.docs.median, b.archive.median, GOALS.backupArchiveVsDocs));
  targets.push(speedTarget('restore-local-vs-docs', "restore into a fresh volume, local path (verification included) vs the docs'", r.docs.median, r.local.median, GOALS.restoreVsDocs));
  targets.push(speedTarget('restore-archive-vs-docs', "restore into a fresh volume, archive path (verification included) vs the docs'", r.docs.median, r.archive.median, GOALS.restoreVsDocs));
  targets.push(speedTarget('rollback-local-vs-full', 'rollback restore (1% changed), local path, vs a full restore into a fresh volume', r.local.median, rb.local.median, GOALS.rollbackVsFull));
  targets.push(speedTarget('rollback-archive-vs-full', 'rollback restore (1% changed), archive path, vs a full restore into a fresh volume', r.archive.median, rb.archive.median, GOALS.rollbackVsFull));
  if (rb.checks.length > 0) {
    const exact = rb.checks.filter((c) => c.content && c.metadata).length;
    targets.push({ id: 'rollback-exact', description: 'rollback restore: the volume equals the backup (content, owners, modes, times)', measured: `${exact} of ${rb.checks.length}`, goal: 'all', pass: exact === rb.checks.length, value: exact / rb.checks.length });
  }
  for (const c of report.startup?.comparisons ?? []) {
    if (!c.target) continue;
    const share = c.cpuRatio === null ? null : 1 / c.cpuRatio;
    targets.push({
      id: `startup-${c.script}`,
      description: `start-up of ${c.label} above npx zx (CPU): compiled vs from source`,
      measured: share === null ? 'n/a' : `${secs(c.ownCpu.compiled)} vs ${secs(c.ownCpu.source)} (${(share * 100).toFixed(0)}%)`,
      goal: `<= ${GOALS.startupOwnShare * 100}%`,
      pass: share === null ? null : share <= GOALS.startupOwnShare && report.startup?.compiledCurrent === true,
      value: share,
    });
  }
  for (const [id, label, value] of [
    ['rss-backup', 'peak RSS of the stowage node process, backup (either path)', report.memory.backupStowageNodePeakBytes],
    ['rss-restore', 'peak RSS of the stowage node process, restore and rollback (either path)', report.memory.restoreStowageNodePeakBytes],
  ] as const) {
    targets.push({ id, description: label, measured: value === null ? 'n/a' : mb(value), goal: '< 200 MB', pass: value === null ? null : value < RSS_LIMIT, value });
  }
  targets.push(...repositoryTargets(report));
  if (report.options.only.includes('ssh')) {
    targets.push(speedTarget('ssh-backup-vs-docs-on-host', "backup from an engine over SSH vs the docs' tar czf run on that host", report.remote.docs.median, report.remote.stowage.median, GOALS.sshBackupVsDocsOnHost));
  }
  const d = report.sizes.stowageVsDocs;
  targets.push({
    id: 'archive-size',
    description: "stowage's .tar.zst within 5% of the docs' .tar.gz",
    measured: d === null ? 'n/a' : pct(d),
    goal: '<= +5%',
    pass: d === null ? null : d <= GOALS.archiveSize,
    value: d,
  });
  report.targets = targets;
  report.floors = floorsOf(report.breakdown, { backup: b.docs.median, restore: r.docs.median });
}

/** The targets of backups into a restic repository (docs/restic.md), against restic's own runs in the same benchmark. */
function repositoryTargets(report: BenchReport): Target[] {
  const repo = report.repository;
  if (repo === null) return [];
  const first = ratioOf(repo.firstSeconds.stowage, repo.firstSeconds.restic);
  const second = ratioOf(repo.secondSeconds.stowage, repo.secondSeconds.restic);
  const growth = repo.growth?.ratio ?? null;
  const restore = report.restore.repository.median;
  const docs = report.restore.docs.median;
  const restoreRss = maxOf(report.restore.repository.runs.map((x) => x.memory?.stowageNodePeakBytes));
  const bounded = (id: string, description: string, value: number | null, limit: number, shown: string): Target => ({
    id,
    description,
    measured: value === null ? 'n/a' : shown,
    goal: `<= ${limit}x`,
    pass: value === null ? null : value <= limit,
    value,
  });
  return [
    bounded('repo-first-backup', "first backup into a local repository vs restic's own", first, GOALS.repoFirstVsRestic, `${secs(repo.firstSeconds.stowage)} vs ${secs(repo.firstSeconds.restic)} (${(first ?? 0).toFixed(2)}x)`),
    bounded('repo-second-backup', "second backup, nothing changed, vs restic's own", second, GOALS.repoSecondVsRestic, `${secs(repo.secondSeconds.stowage)} vs ${secs(repo.secondSeconds.restic)} (${(second ?? 0).toFixed(2)}x)`),
    bounded(
      'repo-growth',
      'repository after 7 backups (1% of files changed between each) vs after the first',
      growth,
      GOALS.repoGrowth,
      `${mb(repo.growth?.afterSeventhBytes)} vs ${mb(repo.growth?.afterFirstBytes)} (${(growth ?? 0).toFixed(3)}x; restic's own ${(repo.growth?.restic.ratio ?? 0).toFixed(3)}x)`,
    ),
    {
      id: 'repo-restore-vs-docs',
      description: "restore from the repository into a fresh volume vs the docs' tar xzf",
      measured: restore === null || docs === null ? 'n/a' : `${secs(restore)} vs ${secs(docs)}`,
      goal: 'as fast or faster',
      pass: restore === null || docs === null ? null : restore <= docs,
      value: ratioOf(docs, restore),
    },
    ...([
      ['rss-repo-backup', 'peak RSS of the stowage node process, backup into a repository', repo.backupStowageNodePeakBytes],
      ['rss-repo-restore', 'peak RSS of the stowage node process, restore from a repository', restoreRss],
    ] as const).map(([id, description, value]): Target => ({ id, description, measured: value === null ? 'n/a' : mb(value), goal: '< 200 MB', pass: value === null ? null : value < RSS_LIMIT, value })),
  ];
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

function speed(reference: number | null, ours: number | null, what = ''): string {
  if (reference === null || ours === null || ours <= 0) return '';
  const x = reference / ours;
  return `${x >= 1 ? `${x.toFixed(2)}x faster` : `${(1 / x).toFixed(2)}x slower`}${what === '' ? '' : ` than ${what}`}`;
}

export function render(report: BenchReport): string {
  const out: string[] = [];
  const ds = report.dataset;
  out.push(
    `stowage benchmark: ${report.options.sizeMiB} MiB${ds === null ? '' : ` in ${ds.files.toLocaleString('en')} files (${ds.smallFiles.toLocaleString('en')} small), ${Math.round((ds.textBytes / ds.bytes) * 100)}% log text / ${Math.round((ds.randomBytes / ds.bytes) * 100)}% random`}, seed ${report.options.seed}`,
  );
  out.push(`every time includes sync; medians of ${report.options.rounds} rounds (rotating order); ${report.machine.cpus} CPUs; load average at start ${report.machine.loadAverageStart.map((l) => l.toFixed(2)).join(' ')}, at end ${report.machine.loadAverageEnd.map((l) => l.toFixed(2)).join(' ')}`);
  if (report.options.only.length < PHASES.length) out.push(`only: ${report.options.only.join(', ')}`);
  out.push('');
  const b = report.backup;
  const r = report.restore;
  const rb = report.rollback;
  const runs = (s: Series): string => s.seconds.map((x) => x.toFixed(2)).join(', ');
  const rows: string[][] = [['', 'method', 'median', 'runs (s)', 'compared']];
  const add = (section: string, name: string, s: Series, compared: string): void => {
    if (s.runs.length > 0) rows.push([section, name, secs(s.median), runs(s), compared]);
  };
  add('backup', 'stowage backup.mjs --via local', b.local, [speed(b.docs.median, b.local.median, 'docs'), overFloor(b.local.median, b.floor.median)].filter((x) => x !== '').join('; '));
  add('backup', 'stowage backup.mjs --via archive', b.archive, speed(b.docs.median, b.archive.median, 'docs'));
  add('backup', 'floor: tar -cf - . | zstd -T0 > file on the host (no node)', b.floor, speed(b.docs.median, b.floor.median, 'docs'));
  add('backup', 'docs: tar czf in a helper', b.docs, '');
  add('backup', 'restic: first backup', b.restic, speed(b.docs.median, b.restic.median, 'docs'));
  const repo = report.repository;
  if (repo !== null) {
    rows.push(['repository', 'stowage first backup into a repository', secs(repo.firstSeconds.stowage), '', `restic's own: ${secs(repo.firstSeconds.restic)}`]);
    rows.push(['repository', 'stowage second backup, nothing changed', secs(repo.secondSeconds.stowage), '', `restic's own: ${secs(repo.secondSeconds.restic)}; stored ${repo.secondAddedBytes ?? '?'} bytes, ${repo.secondUnchangedFiles ?? '?'} files not read`]);
    const g = repo.growth;
    if (g !== null) {
      rows.push(['repository', `size after 1 / 7 backups (${g.filesChangedPerRound} files changed each)`, mb(g.afterFirstBytes), mb(g.afterSeventhBytes), `${g.ratio.toFixed(3)}x; restic's own repository grew ${g.restic.ratio.toFixed(3)}x under the same changes`]);
      rows.push(['repository', "restic's own repository after 1 / 7 backups", mb(g.restic.afterFirstBytes), mb(g.restic.afterSeventhBytes), `${g.restic.ratio.toFixed(3)}x`]);
    }
  }
  add('restore', 'stowage restore.mjs --via local (verifies)', r.local, speed(r.docs.median, r.local.median, 'docs'));
  add('restore', 'stowage restore.mjs --via archive (verifies)', r.archive, speed(r.docs.median, r.archive.median, 'docs'));
  add('restore', 'floor: zstd -dc | tar -x on the host (no checks)', r.floor, speed(r.docs.median, r.floor.median, 'docs'));
  add('restore', 'docs: rm + tar xzf in a helper', r.docs, '');
  add('restore', 'stowage restore.mjs --via local from the repository (newest set)', r.repository, speed(r.docs.median, r.repository.median, 'docs'));
  const ssh = report.remote;
  add('ssh', 'stowage backup.mjs from an engine over SSH (its socket tunnel)', ssh.stowage, speed(ssh.docs.median, ssh.stowage.median, "docs on that host"));
  add('ssh', "stowage backup.mjs over SSH (docker's dial-stdio)", ssh.stowageDialStdio, speed(ssh.docs.median, ssh.stowageDialStdio.median, "docs on that host"));
  add('ssh', "docs: tar czf in a helper, on the engine's host", ssh.docs, '');
  const changed = rb.changes === null ? '' : ` (${rb.changes.changed} changed, ${rb.changes.deleted} deleted, ${rb.changes.added} added of ${rb.changes.files})`;
  add('rollback', `stowage restore.mjs --via local${changed}`, rb.local, [speed(r.local.median, rb.local.median, 'a fresh restore'), kept(rb.local)].filter((x) => x !== '').join('; '));
  add('rollback', `stowage restore.mjs --via archive${changed}`, rb.archive, [speed(r.archive.median, rb.archive.median, 'a fresh restore'), kept(rb.archive)].filter((x) => x !== '').join('; '));
  const size = (name: string, bytes: number | null, compared = ''): void => {
    if (bytes !== null) rows.push(['size', name, mb(bytes), '', compared]);
  };
  size('stowage data.tar.zst, local path', report.sizes.stowageArchiveBytes, report.sizes.stowageVsDocs === null ? '' : `${pct(report.sizes.stowageVsDocs)} vs .tar.gz`);
  size('stowage data.tar.zst, archive path', report.sizes.archivePathArchiveBytes);
  size('floor x.tar.zst', report.sizes.floorArchiveBytes);
  size('docs x.tar.gz', report.sizes.docsArchiveBytes);
  size('restic repository', report.sizes.resticRepositoryBytes);
  const gnu = report.memory.backupGnuTimeMaxRssBytes;
  if (report.memory.backupStowageNodePeakBytes !== null) rows.push(['memory', 'stowage node peak RSS, backup', mb(report.memory.backupStowageNodePeakBytes), '', `whole tree ${mb(report.memory.backupTreePeakBytes)}${gnu === null ? '' : `; GNU time (largest process) ${mb(gnu)}`}`]);
  if (report.memory.restoreStowageNodePeakBytes !== null) rows.push(['memory', 'stowage node peak RSS, restore', mb(report.memory.restoreStowageNodePeakBytes), '', '']);
  if (rows.length > 1) out.push(table(rows, ['l', 'l', 'r', 'l', 'l']), '');
  if (report.startup !== null) out.push(renderStartup(report.startup), '');
  const trows: string[][] = [['target', 'measured', 'goal', 'result']];
  // With --only, the targets of the parts not measured are left out rather than listed as n/a.
  const partial = report.options.only.length < PHASES.length;
  for (const t of report.targets) {
    if (partial && t.pass === null) continue;
    trows.push([t.description, t.measured, t.goal, t.pass === null ? 'n/a' : t.pass ? 'PASS' : 'MISS']);
  }
  out.push(table(trows, ['l', 'r', 'l', 'l']));
  if (report.floors.length > 0) out.push('', renderFloors(report.floors));
  if (report.breakdown !== null) out.push('', renderBreakdown(report.breakdown));
  if (report.notes.length > 0) out.push('', 'notes:', ...report.notes.map((n) => `  - ${n}`));
  if (report.errors.length > 0) out.push('', 'FAILED to run:', ...report.errors.map((e) => `  - ${e.split('\n').join('\n    ')}`));
  return out.join('\n');
}

/** How many unchanged files the restores of a series kept, when restore.mjs reports it (--json restored[].unchangedFilesKept). */
function kept(s: Series): string {
  const counts = s.runs.map((r) => r.detail?.['unchangedFilesKept']).filter((n): n is number => typeof n === 'number');
  return counts.length === 0 ? '' : `kept ${counts.join(', ')} unchanged files`;
}

function overFloor(ours: number | null, floor: number | null): string {
  const x = ratioOf(ours, floor);
  return x === null ? '' : `${x.toFixed(2)}x the floor`;
}

export function renderStartup(s: StartupReport): string {
  const rows: string[][] = [[`start-up (${s.reps} runs each, interleaved)`, 'wall', 'CPU', 'runs wall (s)']];
  for (const row of s.rows) rows.push([row.name, secs(row.medianWall), secs(row.medianCpu), row.wallSeconds.map((x) => x.toFixed(2)).join(', ')]);
  const lines = [table(rows, ['l', 'r', 'r', 'l'])];
  for (const c of s.comparisons) {
    lines.push(
      `  ${c.label} above npx zx: CPU ${secs(c.ownCpu.compiled)} compiled vs ${secs(c.ownCpu.source)} from source${c.cpuRatio === null ? '' : ` (${c.cpuRatio.toFixed(1)}x less)`}; ` +
        `wall ${secs(c.ownWall.compiled)} vs ${secs(c.ownWall.source)}${c.wallRatio === null ? '' : ` (${c.wallRatio.toFixed(1)}x)`}`,
    );
  }
  if (!s.compiledCurrent) lines.push('  dist/ is stale, so the "compiled" rows ran src/ through tsx too: run npm run build');
  return lines.join('\n');
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
  const rows: string[][] = [['floor of an archive-path target (required engine path, no stowage logic)', 'floor', 'best ratio', 'goal', '']];
  for (const f of floors) {
    rows.push([f.target, secs(f.seconds), `${f.bestRatio.toFixed(2)}x`, `>= ${f.goal}x`, f.reachable ? 'reachable' : 'UNREACHABLE on this machine']);
    for (const p of f.parts) rows.push([`  + ${p.name}`, secs(p.seconds), '', '', '']);
  }
  return table(rows, ['l', 'r', 'r', 'l', 'l']);
}
