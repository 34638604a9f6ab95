// scripts/disk-usage.mjs: parse its options (spec), call the library, print the result; no logic here.
import { resolve } from 'node:path';
import { UsageError } from '../config/errors.js';
import { stacksDirectory } from '../config/select.js';
import { EXIT, STACK_OPTION, stringValue, type CommandSpec, type Handler, type Values } from '../cli/cli.js';
import { defaultHistoryFile, diskUsage, prometheusText, type DiskUsageReport, type Growth } from '../ops/disk-usage.js';
import { writeFileAtomic } from '../util/durable-file.js';
import { formatBytes } from '../cli/progress.js';
import { stackContext } from './context.js';

export const spec: CommandSpec = {
  name: 'disk-usage',
  summary: 'size and growth of a stack\'s volumes, free space where they live, unmanaged volumes',
  usage: '--stack <app>-<env> [--top N] [--warn P] [--crit P] [--history FILE] [--prom FILE] [--dry-run] [--json]',
  options: {
    ...STACK_OPTION,
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
    'prune candidates and never removed. Missing volumes are reported; exit 3 names each filesystem over a threshold.',
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
