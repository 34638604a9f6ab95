import type { FilesystemStatus, ServiceStatus, StackStatus, StatusReport, VolumeStatus } from './status.js';
import { formatAge, formatBytes, formatDays, formatGrowth, formatMaxAge, formatPercent, formatSeconds, formatTime } from './format.js';

/**
 * The terminal rendering: one block per stack, a row per volume and per
 * service, then what to do about each problem. The words in the state columns
 * (OK, STALE, FAILED, NONE, DRIFT) carry the meaning; nothing relies on colour.
 */

function table(rows: string[][], rightAligned: number[]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) => (rightAligned.includes(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd(),
  );
}

export const HEALTH_WORD = { ok: 'OK', attention: 'CHECK', problem: 'PROBLEM', 'not-deployed': 'NOT DEPLOYED' } as const;

/** The cells of a volume row, shared with the HTML table so that both show the same words and figures. */
export interface VolumeCells {
  volume: string;
  method: string;
  lastBackup: string;
  size: string;
  duration: string;
  verified: string;
  sets: string;
  volumeSize: string;
  growth: string;
  fullIn: string;
  drift: string;
  state: string;
}

export function volumeCells(v: VolumeStatus): VolumeCells {
  const b = v.backup;
  // Times in cells are UTC without the suffix: the report's first line says so.
  const at = (v.verification.at ?? '').slice(0, 16).replace('T', ' ');
  const verified = b === null ? '-' : v.verification.state === 'verified' ? `ok ${at}` : v.verification.state === 'failed' ? `FAILED ${at}` : 'never';
  return {
    volume: v.volume,
    method: v.method,
    lastBackup: v.method === 'none' ? 'not backed up' : b === null ? 'NONE' : `${formatAge(b.ageSeconds)}${b.stale ? ' STALE' : ''}`,
    size: b === null ? '-' : formatBytes(b.bytes),
    duration: b === null || b.durationSeconds === null ? '-' : formatSeconds(b.durationSeconds),
    verified,
    sets: String(v.setsKept),
    volumeSize: v.size === null ? '-' : formatBytes(v.size.bytes),
    growth: v.growthBytesPerDay === null ? '-' : formatGrowth(v.growthBytesPerDay),
    fullIn: v.daysUntilFull === null ? '-' : formatDays(v.daysUntilFull),
    drift: v.drift.length === 0 ? '-' : `DRIFT ${v.drift.map((d) => d.kind).join(', ')}`,
    state: HEALTH_WORD[v.health],
  };
}

export function serviceCells(s: ServiceStatus): string[] {
  return [s.service, s.container, s.state, s.health, s.drift.length === 0 ? '-' : `DRIFT ${s.drift.map((d) => d.kind).join(', ')}`, HEALTH_WORD[s.level]];
}

export function filesystemCells(f: FilesystemStatus): string[] {
  return [
    f.path,
    formatBytes(f.totalBytes),
    formatBytes(f.usedBytes),
    formatBytes(f.availableBytes),
    formatPercent(f.usedPercent),
    f.growthBytesPerDay === null ? '-' : formatGrowth(f.growthBytesPerDay),
    f.fullOn === null ? '-' : f.fullOn.slice(0, 10),
    f.level === 'ok' ? 'OK' : f.level.toUpperCase(),
  ];
}

/** clean, 2 difference(s), unknown (the engine did not answer). */
export function driftWord(s: StackStatus): string {
  return s.drift.state === 'drift' ? `${s.drift.items.length} difference(s)` : s.drift.state;
}

export function stackHeadline(s: StackStatus): string {
  return `${s.stack} (project ${s.project}): ${HEALTH_WORD[s.health]}`;
}

export function newestSetLine(s: StackStatus): string {
  const n = s.newestSet;
  if (n === null) return `no complete backup set in ${s.destination}`;
  const verified = n.verification === 'verified' ? `verified ${formatTime(n.verifiedAt ?? '')}` : n.verification === 'failed' ? `FAILED verification ${formatTime(n.verifiedAt ?? '')}` : 'not verified';
  return `newest set ${n.id}, ${formatAge(n.ageSeconds)} old${n.durationSeconds === null ? '' : `, took ${formatSeconds(n.durationSeconds)}`}, ${verified}; ${s.sets.complete} complete set(s) kept`;
}

function renderStack(s: StackStatus): string[] {
  const lines = [stackHeadline(s)];
  if (!s.deployed) {
    if (s.errors.length > 0) lines.push(`  no backups in ${s.destination}, and not checked: ${s.errors.join('; ')}`);
    else lines.push(`  nothing of ${s.stack} on ${s.engine?.url ?? 'this engine'} and no backups in ${s.destination}: not checked`);
    return lines;
  }
  if (s.engine !== null) lines.push(`  engine: ${s.engine.url} (${s.engine.origin})`);
  lines.push(`  backups: ${s.destination}, max age ${formatMaxAge(s.maxAgeSeconds)}; disk warn ${s.thresholds.warn}%, crit ${s.thresholds.crit}%`);
  lines.push(`  ${newestSetLine(s)}`);
  lines.push('');
  const volumeRows = s.volumes.map((v) => Object.values(volumeCells(v)));
  lines.push(
    ...table([['VOLUME', 'METHOD', 'LAST BACKUP', 'SIZE', 'DURATION', 'VERIFIED', 'SETS', 'VOLUME SIZE', 'GROWTH', 'FULL IN', 'DRIFT', 'STATE'], ...volumeRows], [3, 4, 6, 7, 8, 9]).map((l) => `  ${l}`),
  );
  lines.push('');
  lines.push(...table([['SERVICE', 'CONTAINER', 'STATE', 'HEALTH', 'DRIFT', 'LEVEL'], ...s.services.map(serviceCells)], []).map((l) => `  ${l}`));
  if (s.filesystems.length > 0) {
    lines.push('');
    lines.push(
      ...table([['FILESYSTEM', 'SIZE', 'USED', 'AVAIL', 'USE%', 'GROWTH', 'FULL ON', 'STATE'], ...s.filesystems.map(filesystemCells)], [1, 2, 3, 4, 5]).map((l) => `  ${l}`),
    );
  }
  lines.push(`  sizes: ${s.disk.source === 'live' ? `measured now` : s.disk.source === 'history' ? `disk-usage history, ${formatTime(s.disk.measured ?? '')}` : 'not measured'}; drift: ${driftWord(s)}`);
  if (s.problems.length > 0) {
    lines.push('', '  problems:');
    for (const p of s.problems) lines.push(`    ${p.kind.toUpperCase()} ${p.subject}: ${p.message}`, `      fix: ${p.fix}`);
  }
  if (s.notes.length > 0) {
    lines.push('', '  notes:');
    for (const n of s.notes) lines.push(`    ${n.subject}: ${n.message}`);
  }
  if (s.errors.length > 0) {
    lines.push('', '  could not check:');
    for (const e of s.errors) lines.push(`    ${e}`);
  }
  return lines;
}

/** The report in a few words; "all good" only when something was checked. */
export function verdictOf(report: StatusReport): string {
  const { problems, checked, errors } = report.summary;
  if (problems > 0) return `${problems} problem(s)`;
  if (errors > 0) return `${errors} check(s) could not run`;
  return checked === 0 ? 'nothing deployed here to check' : 'all good';
}

export function renderStatus(report: StatusReport): string {
  const blocks = report.stacks.map((s) => renderStack(s).join('\n'));
  const { checked, stacks } = report.summary;
  const verdict = verdictOf(report);
  return [...blocks, `${formatTime(report.generated)}: ${checked} of ${stacks} stack environment(s) checked, ${verdict}`].join('\n\n');
}
