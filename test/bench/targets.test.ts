// The benchmark's targets: ratios from the medians of one run, PASS/MISS against issue 13's goals.
import { describe, expect, it } from 'vitest';
import { newReport, parseOptions } from '../../bench/main.js';
import type { OpResult } from '../../bench/methods.js';
import { evaluate, render, series, type BenchReport, type Target } from '../../bench/report.js';
import { compareStartup, type StartupRow } from '../../bench/startup.js';

const op = (method: string, seconds: number, extra: Partial<OpResult> = {}): OpResult => ({
  method,
  round: 1,
  timing: { seconds, syncSeconds: 0, loadAtStart: 0, machineBusy: undefined },
  ...extra,
});

function measured(fill: (r: BenchReport) => void): { report: BenchReport; target: (id: string) => Target | undefined } {
  const report = newReport(parseOptions(['--size-mib', '256']));
  fill(report);
  evaluate(report);
  return { report, target: (id) => report.targets.find((t) => t.id === id) };
}

const row = (id: string, cpu: number, wall = cpu): StartupRow => ({ id, name: id, fromSource: id.endsWith('-source'), wallSeconds: [wall], cpuSeconds: [cpu], medianWall: wall, medianCpu: cpu });

describe('backup targets', () => {
  it("compares the local path with the docs' method (8x), restic and the floor (within 1.5x)", () => {
    const { target } = measured((r) => {
      r.backup = { local: series([op('local', 3)]), archive: series([op('archive', 6)]), floor: series([op('floor', 2.5)]), docs: series([op('docs', 30)]), restic: series([op('restic', 5)]) };
    });
    expect(target('backup-local-vs-docs')).toMatchObject({ value: 10, pass: true });
    expect(target('backup-local-vs-restic')?.pass).toBe(true);
    expect(target('backup-local-vs-floor')).toMatchObject({ value: 1.2, pass: true });
    expect(target('backup-archive-vs-docs')).toMatchObject({ value: 5, pass: true });
  });

  it('misses the floor target when the local path takes more than 1.5x the floor', () => {
    const { target } = measured((r) => {
      r.backup = { ...r.backup, local: series([op('local', 4)]), floor: series([op('floor', 2.5)]) };
    });
    expect(target('backup-local-vs-floor')).toMatchObject({ value: 1.6, pass: false });
  });

  it('cannot evaluate a target whose method did not run', () => {
    const { target } = measured((r) => {
      r.backup = { ...r.backup, local: series([op('local', 3)]) };
    });
    expect(target('backup-local-vs-docs')).toMatchObject({ value: null, pass: null, measured: 'n/a' });
  });
});

describe('rollback targets', () => {
  it("compares each path's rollback with that path's fresh restore (5x) and requires the backup back exactly", () => {
    const { target } = measured((r) => {
      r.restore = { ...r.restore, local: series([op('local', 12)]), archive: series([op('archive', 11)]) };
      r.rollback = {
        local: series([op('local', 2)]),
        archive: series([op('archive', 10)]),
        changes: null,
        checks: [
          { method: 'local', round: 1, content: true, metadata: true, fileMetadata: true },
          { method: 'archive', round: 1, content: true, metadata: false, fileMetadata: true },
        ],
      };
    });
    expect(target('rollback-local-vs-full')).toMatchObject({ value: 6, pass: true });
    expect(target('rollback-archive-vs-full')).toMatchObject({ value: 1.1, pass: false });
    expect(target('rollback-exact')).toMatchObject({ measured: '1 of 2', pass: false });
  });

  it('shows how many unchanged files a rollback kept, when restore.mjs reports it', () => {
    const { report } = measured((r) => {
      r.restore = { ...r.restore, local: series([op('local', 12)]) };
      r.rollback = { ...r.rollback, local: series([op('local', 2, { detail: { unchangedFilesKept: 4950 } }), op('local', 3, { detail: { unchangedFilesKept: 4951 } })]) };
    });
    expect(render(report)).toMatch(/rollback +stowage restore\.mjs --via local .*4\.80x faster than a fresh restore; kept 4950, 4951 unchanged files/);
  });
});

describe('start-up targets', () => {
  const rows = [
    row('node', 0.05), row('zx', 0.4), row('verify', 0.5), row('verify-source', 0.75), row('backup', 0.52), row('backup-source', 0.7),
    row('compose-check', 0.7), row('compose-check-source', 0.9),
  ];

  it("takes stowage's own share above npx zx of an empty script, compiled against from source", () => {
    const [verify, backup] = compareStartup(rows);
    expect(verify?.ownCpu.compiled).toBeCloseTo(0.1);
    expect(verify?.ownCpu.source).toBeCloseTo(0.35);
    expect(verify?.cpuRatio).toBeCloseTo(3.5);
    expect(backup?.cpuRatio).toBeCloseTo(2.5);
  });

  it("reports a real command's figure without a target: it holds the command's work too", () => {
    const { target, report } = measured((r) => {
      r.startup = { reps: 1, rows, comparisons: compareStartup(rows), compiledCurrent: true };
    });
    expect(report.startup?.comparisons.find((c) => c.script === 'compose-check')?.cpuRatio).toBeCloseTo(0.5 / 0.3);
    expect(target('startup-compose-check')).toBeUndefined();
    expect(render(report)).toContain('scripts/compose.mjs --check above npx zx: CPU 0.30 s compiled vs 0.50 s from source');
  });

  it('passes when the compiled share is at most half, and never when dist/ was stale', () => {
    const current = measured((r) => {
      r.startup = { reps: 1, rows, comparisons: compareStartup(rows), compiledCurrent: true };
    });
    expect(current.target('startup-verify')?.pass).toBe(true);
    expect(current.target('startup-backup')?.pass).toBe(true);
    const stale = measured((r) => {
      r.startup = { reps: 1, rows, comparisons: compareStartup(rows), compiledCurrent: false };
    });
    expect(stale.target('startup-verify')?.pass).toBe(false);
    expect(render(stale.report)).toContain('dist/ is stale');
  });
});
