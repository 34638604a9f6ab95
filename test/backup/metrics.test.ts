import { describe, expect, it } from 'vitest';
import { resolveModel } from '../../src/config/model.js';
import { parseStackText } from '../../src/config/load.js';
import { previousLastSuccess, renderBackupMetrics } from '../../src/backup/metrics.js';

const stack = parseStackText('app: demo\nvolumes: { data: {} }\nservices: { app: { image: x:1, mounts: ["data:/d"] } }\nenvironments: { dev: {} }\n', 'demo.yaml');
const model = resolveModel(stack, 'dev', { stackFile: '/tmp/stacks/demo.yaml' });
const artifact = { volume: 'data', file: 'data.tar.zst', method: 'tar' as const, bytes: 1234, sha256: 'a'.repeat(64) };

describe('Prometheus textfile metrics', () => {
  it('reports success time, duration and bytes per volume after a successful run', () => {
    const text = renderBackupMetrics(model, { ok: true, finished: new Date(1_800_000_000_000), durationSeconds: 12.5, artifacts: [artifact] }, undefined);
    expect(text).toContain('stowage_backup_last_run_success{project="demo",env="dev"} 1');
    expect(text).toContain('stowage_backup_last_success_timestamp_seconds{project="demo",env="dev"} 1800000000');
    expect(text).toContain('stowage_backup_duration_seconds{project="demo",env="dev"} 12.5');
    expect(text).toContain('stowage_backup_artifact_bytes{project="demo",env="dev",volume="data",method="tar"} 1234');
  });

  it('keeps the previous success time when a run fails, so age alerts keep working', () => {
    const before = renderBackupMetrics(model, { ok: true, finished: new Date(1_700_000_000_000), durationSeconds: 1, artifacts: [] }, undefined);
    const last = previousLastSuccess(before, 'demo', 'dev');
    expect(last).toBe(1_700_000_000);
    const failed = renderBackupMetrics(model, { ok: false, finished: new Date(1_800_000_000_000), durationSeconds: 2, artifacts: [] }, last);
    expect(failed).toContain('stowage_backup_last_run_success{project="demo",env="dev"} 0');
    expect(failed).toContain('stowage_backup_last_success_timestamp_seconds{project="demo",env="dev"} 1700000000');
  });

  it('declares a TYPE for every metric it writes', () => {
    const text = renderBackupMetrics(model, { ok: true, finished: new Date(0), durationSeconds: 1, artifacts: [artifact] }, undefined);
    const names = new Set(text.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => l.split('{')[0]));
    for (const name of names) expect(text).toContain(`# TYPE ${name ?? ''} gauge`);
  });
});
