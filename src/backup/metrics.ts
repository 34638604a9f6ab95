import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { Model } from '../config/model.js';
import type { ArtifactRecord } from './set.js';

/**
 * Prometheus textfile metrics for node_exporter's textfile collector. The file
 * is replaced atomically (node_exporter may read it at any moment), and a
 * failed run keeps the previous last-success time so alerts on age still work.
 */
export interface BackupOutcome {
  ok: boolean;
  finished: Date;
  durationSeconds: number;
  artifacts: ArtifactRecord[];
}

function labels(pairs: Record<string, string>): string {
  return `{${Object.entries(pairs)
    .map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`)
    .join(',')}}`;
}

export function previousLastSuccess(text: string, project: string, env: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`stowage_backup_last_success_timestamp_seconds${labels({ project, env })} `));
  const value = line === undefined ? Number.NaN : Number(line.split(' ').pop());
  return Number.isFinite(value) ? value : undefined;
}

export function renderBackupMetrics(model: Model, outcome: BackupOutcome, lastSuccess: number | undefined): string {
  const base = { project: model.project, env: model.env };
  const success = outcome.ok ? outcome.finished.getTime() / 1000 : lastSuccess;
  const lines = [
    '# HELP stowage_backup_last_run_success 1 if the last backup run succeeded, 0 if it failed.',
    '# TYPE stowage_backup_last_run_success gauge',
    `stowage_backup_last_run_success${labels(base)} ${outcome.ok ? 1 : 0}`,
    '# HELP stowage_backup_last_run_timestamp_seconds When the last backup run finished.',
    '# TYPE stowage_backup_last_run_timestamp_seconds gauge',
    `stowage_backup_last_run_timestamp_seconds${labels(base)} ${outcome.finished.getTime() / 1000}`,
  ];
  if (success !== undefined) {
    lines.push(
      '# HELP stowage_backup_last_success_timestamp_seconds When the last successful backup finished.',
      '# TYPE stowage_backup_last_success_timestamp_seconds gauge',
      `stowage_backup_last_success_timestamp_seconds${labels(base)} ${success}`,
    );
  }
  lines.push(
    '# HELP stowage_backup_duration_seconds Duration of the last backup run.',
    '# TYPE stowage_backup_duration_seconds gauge',
    `stowage_backup_duration_seconds${labels(base)} ${outcome.durationSeconds}`,
  );
  if (outcome.artifacts.length > 0) {
    lines.push('# HELP stowage_backup_artifact_bytes Size of each volume\'s artifact in the last successful backup.', '# TYPE stowage_backup_artifact_bytes gauge');
    for (const a of outcome.artifacts) lines.push(`stowage_backup_artifact_bytes${labels({ ...base, volume: a.volume, method: a.method })} ${a.bytes}`);
  }
  return `${lines.join('\n')}\n`;
}

export function writeBackupMetrics(file: string, model: Model, outcome: BackupOutcome): void {
  const previous = existsSync(file) ? previousLastSuccess(readFileSync(file, 'utf8'), model.project, model.env) : undefined;
  const temp = `${file}.tmp-${process.pid}`;
  writeFileSync(temp, renderBackupMetrics(model, outcome, previous), { mode: 0o644 });
  renameSync(temp, file);
}
