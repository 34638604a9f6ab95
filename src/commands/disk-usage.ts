// scripts/disk-usage.mjs: parse its options (spec), call the library, print the result; no logic here.
import { resolve } from 'node:path';
import { UsageError } from '../config/errors.js';
import { stacksDirectory } from '../config/select.js';
import { EXIT, STACK_OPTION, ENGINE_OPTION, flag, stringValue, type CommandSpec, type ExitCode, type Handler, type Output, type Values } from '../cli/cli.js';
import { Runner } from '../engine/command.js';
import { engineJson, type EngineJson } from '../engine/endpoint.js';
import { deployedOnEngine, visitEngines } from '../ops/engines.js';
import { defaultHistoryFile, diskUsage, prometheusText, type DiskUsageReport, type Growth } from '../ops/disk-usage.js';
import { writeFileAtomic } from '../util/durable-file.js';
import { formatBytes } from '../cli/progress.js';
import { allEnvironments, stackContext } from './context.js';

export const spec: CommandSpec = {
  name: 'disk-usage',
  summary: 'size and growth of a stack\'s volumes, free space where they live, unmanaged volumes',
  usage: '--stack <app>-<env> | --all [--engine URL] [--top N] [--warn P] [--crit P] [--history FILE] [--prom FILE] [--dry-run] [--json]',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    all: { type: 'boolean', description: 'every environment of every stack file that has anything on its engine, each measured on its own engine' },
    top: { type: 'string', value: 'N', description: 'list the N largest files per volume (default 5)' },
    warn: { type: 'string', value: 'P', description: 'exit 3 when a filesystem is P percent full or more (default: the stack\'s disk.warn, else 80)' },
    crit: { type: 'string', value: 'P', description: 'critical level in percent (default: the stack\'s disk.crit, else 90)' },
    history: { type: 'string', value: 'FILE', description: 'growth history (default .stowage/disk-usage-<project>.json; keeps the last 100 runs)' },
    prom: { type: 'string', value: 'FILE', description: 'also write Prometheus text format to FILE, atomically (node_exporter textfile collector)' },
    'dry-run': { type: 'boolean', description: 'measure and report, but write neither the history nor the --prom file' },
  },
  details:
    'Sizes are apparent sizes as du -sb counts them, measured by a read-only helper container (a metadata walk,\n' +
    'no data is copied). Volumes on the engine that no stack file in the stacks directory declares are listed as\n' +
    'prune candidates and never removed. Missing volumes are reported; exit 3 names each filesystem over a threshold.\n' +
    'The filesystems are the engine\'s: on a remote engine (ssh://, tcp://) they are measured there, by the helper.\n' +
    '--all: each environment on its own engine; one that does not answer is named and the others still run\n' +
    '(exit 1 at the end when nothing crossed a threshold). Histories: the default file of each project.',
};

function percent(values: Values, name: string, fallback: number): number {
  const text = stringValue(values, name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || value > 100) {
    throw new UsageError(`--${name} ${text}: expected a percentage greater than 0 and at most 100, e.g. --${name} 85`);
  }
  return value;
}

function topCount(values: Values): number {
  const text = stringValue(values, 'top');
  if (text === undefined) return 5;
  if (!/^\d+$/.test(text) || Number(text) > 1000) throw new UsageError(`--top ${text}: expected a whole number from 0 to 1000`);
  return Number(text);
}

export const handler: Handler = async ({ values, out }) => {
  const top = topCount(values);
  if (flag(values, 'all')) return allHandler(values, out, top);
  const ctx = stackContext(spec, values, out);
  const model = ctx.selected.model;
  const warn = percent(values, 'warn', model.disk.warn);
  const crit = percent(values, 'crit', model.disk.crit);
  if (warn > crit) throw new UsageError(`warn level ${warn}% is above crit level ${crit}%: lower --warn or raise --crit`);
  const promFile = stringValue(values, 'prom');
  const report = await diskUsage(model, {
    runner: ctx.runner,
    top,
    warn,
    crit,
    historyFile: resolve(stringValue(values, 'history') ?? defaultHistoryFile(model.project)),
    stacksDir: stacksDirectory(stringValue(values, 'stacks-dir')),
    log: ctx.log,
  });
  if (ctx.runner.dryRun) {
    out.result({ ...report, dryRun: true }, () => renderReport(report, process.stdout.isTTY === true ? process.stdout.columns : undefined));
    out.warn(`dry run: nothing written; without --dry-run this run's sample goes to ${report.history.file}${promFile === undefined ? '' : ` and the metrics to ${resolve(promFile)}`}`);
  } else {
    if (promFile !== undefined) writeFileAtomic(resolve(promFile), prometheusText(report));
    out.result(report, () => renderReport(report, process.stdout.isTTY === true ? process.stdout.columns : undefined));
  }
  for (const c of report.crossed) {
    out.warn(
      `${c.level === 'crit' ? 'CRITICAL' : 'WARNING'}: filesystem ${c.path} is ${c.usedPercent.toFixed(1)}% full, ` +
        `${c.overByPoints.toFixed(3).replace(/\.?0+$/, '')} points over the ${c.level} level of ${c.thresholdPercent}% (${formatBytes(c.availableBytes)} left)`,
    );
  }
  const failed = report.volumes.filter((v) => v.status === 'error');
  for (const v of failed) out.warn(`error: volume ${v.volume} (${v.name}) could not be measured: ${v.error ?? ''}`);
  if (report.crossed.length > 0) return EXIT.check;
  return failed.length > 0 ? EXIT.failed : EXIT.ok;
};

/** One environment of --all. */
export type MeasuredEnvironment = { stack: string; engine: EngineJson } & (
  | { state: 'measured'; report: DiskUsageReport }
  | { state: 'not-deployed' }
  | { state: 'unreachable' | 'failed'; error: string }
);

async function allHandler(values: Values, out: Output, top: number): Promise<ExitCode> {
  if (stringValue(values, 'stack') !== undefined) throw new UsageError('--stack and --all exclude each other: pass one of them');
  if (stringValue(values, 'history') !== undefined) throw new UsageError('--history names one file; with --all each project keeps its default history (.stowage/disk-usage-<project>.json)');
  const dryRun = flag(values, 'dry-run');
  const promFile = stringValue(values, 'prom');
  const stacksDir = stacksDirectory(stringValue(values, 'stacks-dir'));
  const runner = new Runner({ dryRun });
  const targets = allEnvironments(values);
  const thresholds = new Map(targets.map(({ model }) => [model, { warn: percent(values, 'warn', model.disk.warn), crit: percent(values, 'crit', model.disk.crit) }]));
  const visits = await visitEngines(runner, targets, async (model): Promise<DiskUsageReport | undefined | { error: string }> => {
    try {
      if (!(await deployedOnEngine(runner, model))) return undefined;
      const { warn, crit } = thresholds.get(model) ?? model.disk;
      return await diskUsage(model, { runner, top, warn, crit, historyFile: dryRun ? null : defaultHistoryFile(model.project), stacksDir, log: (line) => out.warn(line) });
    } catch (err) {
      // One environment that cannot be measured must not hide the others.
      return { error: err instanceof Error ? err.message : String(err) };
    }
  });
  const environments = visits.map((v): MeasuredEnvironment => {
    const base = { stack: `${v.model.app}-${v.model.env}`, engine: engineJson(v.engine) };
    if (v.outcome === 'unreachable') return { ...base, state: 'unreachable', error: v.error };
    if (v.value === undefined) return { ...base, state: 'not-deployed' };
    return 'error' in v.value ? { ...base, state: 'failed', error: v.value.error } : { ...base, state: 'measured', report: v.value };
  });
  const reports = environments.flatMap((e) => (e.state === 'measured' ? [e.report] : []));
  if (promFile !== undefined && !dryRun) writeFileAtomic(resolve(promFile), reports.map(prometheusText).join(''));
  const columns = process.stdout.isTTY === true ? process.stdout.columns : undefined;
  out.result({ stacks: environments, ...(dryRun ? { dryRun: true } : {}) }, () =>
    environments
      .map((e) =>
        e.state === 'measured'
          ? `engine ${e.engine.url}\n${renderReport(e.report, columns)}`
          : e.state === 'not-deployed'
            ? `${e.stack}: nothing on ${e.engine.url}: not measured`
            : `${e.stack}: NOT MEASURED: ${e.error}`,
      )
      .join('\n\n'),
  );
  for (const r of reports) warnCrossed(out, r);
  const failed = environments.flatMap((e) => (e.state === 'unreachable' || e.state === 'failed' ? [`${e.stack}: ${e.error}`] : []));
  for (const line of failed) out.warn(`error: ${line}`);
  if (reports.some((r) => r.crossed.length > 0)) return EXIT.check;
  return failed.length > 0 || reports.some((r) => r.volumes.some((v) => v.status === 'error')) ? EXIT.failed : EXIT.ok;
}

function warnCrossed(out: Output, report: DiskUsageReport): void {
  for (const c of report.crossed) {
    out.warn(
      `${c.level === 'crit' ? 'CRITICAL' : 'WARNING'}: ${report.app}-${report.env}: filesystem ${c.path} is ${c.usedPercent.toFixed(1)}% full, ` +
        `${c.overByPoints.toFixed(3).replace(/\.?0+$/, '')} points over the ${c.level} level of ${c.thresholdPercent}% (${formatBytes(c.availableBytes)} left)`,
    );
  }
}

// ---------------------------------------------------------------- the terminal table

function table(rows: string[][], rightAligned: number[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (rightAligned.includes(i) ? cell.padStart(widths[i] ?? 0) : i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

function signedBytes(bytes: number): string {
  return `${bytes < 0 ? '-' : '+'}${formatBytes(Math.abs(bytes))}`;
}

function growthText(growth: Growth | null): string {
  if (growth === null) return '-';
  return `${signedBytes(growth.bytesPerDay)}/day`;
}

function fit(line: string, columns: number | undefined): string {
  return columns === undefined || line.length <= columns ? line : `${line.slice(0, Math.max(columns - 1, 0))}…`;
}

/** One screen: a row per volume and per filesystem, the largest files on one line per volume. */
export function renderReport(report: DiskUsageReport, columns: number | undefined): string {
  const lines: string[] = [];
  lines.push(`${report.app}-${report.env} (project ${report.project}), ${report.time.replace('T', ' ').replace(/\.\d+Z$/, ' UTC')}; warn ${report.thresholds.warn}%, crit ${report.thresholds.crit}%`);
  lines.push('');
  lines.push(
    ...table(
      [
        ['VOLUME', 'KIND', 'SIZE', 'FILES', 'LINKS', 'GROWTH', 'FILESYSTEM'],
        ...report.volumes.map((v) =>
          v.status === 'ok'
            ? [v.volume, v.kind, formatBytes(v.bytes ?? 0), String(v.files ?? 0), String(v.links ?? 0), growthText(v.growth), v.filesystem ?? '?']
            : [v.volume, v.kind, v.status === 'missing' ? 'missing' : 'ERROR', '-', '-', '-', v.kind === 'bind' || v.kind === 'host' ? (v.hostPath ?? '') : v.name],
        ),
      ],
      [2, 3, 4, 5],
    ),
  );
  lines.push('');
  lines.push(
    ...table(
      [
        ['FILESYSTEM', 'SIZE', 'USED', 'AVAIL', 'USE%', 'GROWTH', 'FULL IN', 'STATE'],
        ...report.filesystems.map((fs) => [
          fs.paths.length > 1 ? `${fs.path} (+${fs.paths.length - 1})` : fs.path,
          formatBytes(fs.totalBytes),
          formatBytes(fs.usedBytes),
          formatBytes(fs.availableBytes),
          `${fs.usedPercent.toFixed(1)}%`,
          growthText(fs.growth),
          fs.daysUntilFull === null ? '-' : `${fs.daysUntilFull < 10 ? fs.daysUntilFull.toFixed(1) : Math.round(fs.daysUntilFull)} days`,
          fs.level === 'ok' ? 'ok' : fs.level.toUpperCase(),
        ]),
      ],
      [1, 2, 3, 4, 5, 6],
    ),
  );
  const withFiles = report.volumes.filter((v) => v.largest.length > 0);
  if (withFiles.length > 0) {
    lines.push('', 'largest files:');
    const width = Math.max(...withFiles.map((v) => v.volume.length));
    for (const v of withFiles) lines.push(fit(`  ${v.volume.padEnd(width)}  ${v.largest.map((f) => `${f.path} ${formatBytes(f.bytes)}`).join(', ')}`, columns));
  }
  const unmanaged = report.unmanaged.volumes;
  lines.push('');
  if (unmanaged.length === 0) lines.push('unmanaged volumes: none');
  else {
    const shown = unmanaged.slice(0, 8).map((u) => `${u.name}${u.dangling ? '' : ' (in use)'}`);
    lines.push(
      fit(`unmanaged volumes (no stack declares them; prune candidates, nothing was removed): ${unmanaged.length}: ${shown.join(', ')}${unmanaged.length > shown.length ? `, and ${unmanaged.length - shown.length} more (--json lists all)` : ''}`, columns),
    );
  }
  lines.push(`history: ${report.history.file} (${report.history.samples} samples${report.history.previous === null ? '; growth appears from the next run on' : `; growth since ${report.history.previous}`})`);
  return lines.join('\n');
}
