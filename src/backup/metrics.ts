import { existsSync, readFileSync } from 'node:fs';
import { labelSet, renderMetrics } from '../util/prometheus.js';
import { writeFileAtomic } from '../util/durable-file.js';
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

export function previousLastSuccess(text: string, project: string, env: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`stowage_backup_last_success_timestamp_seconds${labelSet({ project, env })} `));
  const value = line === undefined ? Number.NaN : Number(line.split(' ').pop());
  return Number.isFinite(value) ? value : undefined;
}

export function renderBackupMetrics(model: Model, outcome: BackupOutcome, lastSuccess: number | undefined): string {
  const labels = { project: model.project, env: model.env };
  const success = outcome.ok ? outcome.finished.getTime() / 1000 : lastSuccess;
  return renderMetrics([
    { name: 'stowage_backup_last_run_success', help: '1 if the last backup run succeeded, 0 if it failed.', samples: [{ labels, value: outcome.ok ? 1 : 0 }] },
    { name: 'stowage_backup_last_run_timestamp_seconds', help: 'When the last backup run finished.', samples: [{ labels, value: outcome.finished.getTime() / 1000 }] },
    { name: 'stowage_backup_last_success_timestamp_seconds', help: 'When the last successful backup finished.', samples: success === undefined ? [] : [{ labels, value: success }] },
    { name: 'stowage_backup_duration_seconds', help: 'Duration of the last backup run.', samples: [{ labels, value: outcome.durationSeconds }] },
    {
      name: 'stowage_backup_artifact_bytes',
      help: "Size of each volume's artifact in the last successful backup.",
      samples: outcome.artifacts.map((a) => ({ labels: { ...labels, volume: a.volume, method: a.method }, value: a.bytes })),
    },
  ]);
}

export function writeBackupMetrics(file: string, model: Model, outcome: BackupOutcome): void {
  const previous = existsSync(file) ? previousLastSuccess(readFileSync(file, 'utf8'), model.project, model.env) : undefined;
  writeFileAtomic(file, renderBackupMetrics(model, outcome, previous), 0o644);
}
