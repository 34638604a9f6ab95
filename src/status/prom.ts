import { renderMetrics } from '../util/prometheus.js';
import type { StackStatus, StatusReport, Verification } from './status.js';

/**
 * status.mjs --prom: the same findings as gauges for node_exporter's textfile
 * collector, so Prometheus alerts on them without parsing exit codes. Series
 * carry project and env; volumes carry volume.
 */
export function statusMetrics(report: StatusReport): string {
  const checked = report.stacks.filter((s) => s.deployed);
  const stackLabels = (s: StackStatus): Record<string, string> => ({ project: s.project, env: s.env });
  const volumes = checked.flatMap((s) => s.volumes.filter((v) => v.method !== 'none').map((v) => ({ s, v, labels: { ...stackLabels(s), volume: v.volume } })));
  const states: Verification[] = ['verified', 'failed', 'unverified'];
  return renderMetrics([
    {
      name: 'stowage_status_problems',
      help: 'Findings that make status.mjs exit 3 (stale or missing backup, failed verification, disk threshold, drift, unhealthy container).',
      samples: checked.map((s) => ({ labels: stackLabels(s), value: s.problems.length })),
    },
    { name: 'stowage_status_check_errors', help: 'Checks that could not run (the engine did not answer).', samples: checked.map((s) => ({ labels: stackLabels(s), value: s.errors.length })) },
    { name: 'stowage_status_deployed', help: '1 when the environment has containers or volumes on this engine or backups, 0 when it was not checked.', samples: report.stacks.map((s) => ({ labels: stackLabels(s), value: s.deployed ? 1 : 0 })) },
    {
      name: 'stowage_status_backup_age_seconds',
      help: 'Age of the newest complete backup of the volume; absent when there is none.',
      samples: volumes.flatMap(({ v, labels }) => (v.backup === null ? [] : [{ labels, value: v.backup.ageSeconds }])),
    },
    {
      name: 'stowage_status_backup_timestamp_seconds',
      help: 'When the newest complete backup of the volume was made (Unix time): alert on time() minus this, which keeps growing between status runs.',
      samples: volumes.flatMap(({ v, labels }) => (v.backup === null ? [] : [{ labels, value: Date.parse(v.backup.created) / 1000 }])),
    },
    { name: 'stowage_status_backup_max_age_seconds', help: 'backups.maxAge of the stack.', samples: checked.map((s) => ({ labels: stackLabels(s), value: s.maxAgeSeconds })) },
    { name: 'stowage_status_backup_present', help: '1 when the volume has a complete backup, 0 when it has none.', samples: volumes.map(({ v, labels }) => ({ labels, value: v.backup === null ? 0 : 1 })) },
    {
      name: 'stowage_status_backup_bytes',
      help: 'Size of the newest backup artifact of the volume as stored.',
      samples: volumes.flatMap(({ v, labels }) => (v.backup === null ? [] : [{ labels, value: v.backup.bytes }])),
    },
    {
      name: 'stowage_status_backup_verification',
      help: 'Verification of the newest backup of the volume as verify.mjs recorded it: 1 for the current state.',
      samples: volumes.flatMap(({ v, labels }) => (v.backup === null ? [] : states.map((state) => ({ labels: { ...labels, state }, value: v.verification.state === state ? 1 : 0 })))),
    },
    { name: 'stowage_status_backup_sets', help: 'Complete sets that hold the volume.', samples: volumes.map(({ v, labels }) => ({ labels, value: v.setsKept })) },
    { name: 'stowage_status_drift_items', help: 'Differences between the engine and the stack file.', samples: checked.filter((s) => s.drift.state !== 'unknown').map((s) => ({ labels: stackLabels(s), value: s.drift.items.length })) },
    { name: 'stowage_status_timestamp_seconds', help: 'When status.mjs made this report (Unix time).', samples: [{ labels: {}, value: Date.parse(report.generated) / 1000 }] },
  ]);
}
