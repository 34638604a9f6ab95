// The benchmark's repository phase: which files each growth round rewrites, and the targets
// of backups into a restic repository against restic's own runs in the same benchmark.
import { describe, expect, it } from 'vitest';
import { Rng } from '../../bench/dataset.js';
import { newReport, parseOptions } from '../../bench/main.js';
import type { OpResult } from '../../bench/methods.js';
import { evaluate, render, repositoryReport, series, type BenchReport, type Target } from '../../bench/report.js';
import { chooseRewrites, type RepositoryBench } from '../../bench/repository.js';

const MB = 1e6;

const op = (method: string, seconds: number, extra: Partial<OpResult> = {}): OpResult => ({
  method,
  round: 1,
  timing: { seconds, syncSeconds: 0, loadAtStart: 0, machineBusy: undefined },
  ...extra,
});

const withPeak = (method: string, seconds: number, peakBytes: number, detail?: Record<string, unknown>): OpResult =>
  op(method, seconds, {
    memory: { stowageNodePeakBytes: peakBytes, stowageNodeCpuSeconds: undefined, treePeakBytes: peakBytes, gnuTimeMaxRssBytes: undefined, processes: [] },
    ...(detail === undefined ? {} : { detail }),
  });

/** A repository phase that ran to its end: first backups 13 s (restic 10 s), second 3 s (restic 2 s), 100 MB growing to 110 MB. */
function bench(overrides: Partial<RepositoryBench> = {}): RepositoryBench {
  return {
    first: { stowage: withPeak('repository', 13, 90 * MB), resticSeconds: 10 },
    second: { stowage: withPeak('repository', 3, 80 * MB, { added: 1234, unchanged: 5000 }), resticSeconds: 2 },
    growthRuns: [withPeak('repository', 4, 95 * MB)],
    growth: { afterFirstBytes: 100 * MB, afterSeventhBytes: 110 * MB, ratio: 1.1, filesChangedPerRound: 50, bytesChangedPerRound: [MB] },
    repository: 'restic:/tmp/x',
    passwordFile: '/tmp/p',
    ...overrides,
  };
}

function measured(fill: (r: BenchReport) => void): { report: BenchReport; target: (id: string) => Target | undefined } {
  const report = newReport(parseOptions(['--size-mib', '256']));
  fill(report);
  evaluate(report);
  return { report, target: (id) => report.targets.find((t) => t.id === id) };
}

describe('chooseRewrites', () => {
  it('picks 1% of the files, each once, all within the tree', () => {
    const chosen = chooseRewrites(5000, new Rng(8));
    expect(chosen).toHaveLength(50);
    expect(new Set(chosen).size).toBe(50);
    expect(chosen.every((i) => Number.isInteger(i) && i >= 0 && i < 5000)).toBe(true);
  });

  it('rewrites at least one file of a small tree', () => {
    expect(chooseRewrites(30, new Rng(8))).toHaveLength(1);
  });

  it('makes the same choices for the same seed, and other files the next round', () => {
    const a = new Rng(8);
    const b = new Rng(8);
    const first = chooseRewrites(5000, a);
    expect(chooseRewrites(5000, b)).toEqual(first);
    expect(chooseRewrites(5000, a)).not.toEqual(first);
  });

  it('refuses an empty tree rather than looking for a file forever', () => {
    expect(() => chooseRewrites(0, new Rng(8))).toThrow(/no files/);
  });
});

describe('repository targets', () => {
  it("compares the first and second backups with restic's own (1.3x and 2x) and the growth over seven backups (1.15x)", () => {
    const { target } = measured((r) => {
      r.repository = repositoryReport(bench());
    });
    expect(target('repo-first-backup')).toMatchObject({ value: 1.3, pass: true });
    expect(target('repo-second-backup')).toMatchObject({ value: 1.5, pass: true });
    expect(target('repo-growth')).toMatchObject({ value: 1.1, pass: true });
  });

  it("misses when stowage takes more than its share of restic's time or the repository grows too much", () => {
    const { target } = measured((r) => {
      r.repository = repositoryReport(
        bench({
          first: { stowage: op('repository', 14), resticSeconds: 10 },
          second: { stowage: op('repository', 5), resticSeconds: 2 },
          growth: { afterFirstBytes: 100 * MB, afterSeventhBytes: 120 * MB, ratio: 1.2, filesChangedPerRound: 50, bytesChangedPerRound: [MB] },
        }),
      );
    });
    expect(target('repo-first-backup')?.pass).toBe(false);
    expect(target('repo-second-backup')).toMatchObject({ value: 2.5, pass: false });
    expect(target('repo-growth')?.pass).toBe(false);
  });

  it("compares restores from the repository with the docs' restores of the same run", () => {
    const { target } = measured((r) => {
      r.repository = repositoryReport(bench());
      r.restore = { ...r.restore, docs: series([op('docs', 12)]), repository: series([withPeak('repository', 8, 120 * MB), withPeak('repository', 9, 150 * MB)]) };
    });
    expect(target('repo-restore-vs-docs')).toMatchObject({ value: 12 / 8.5, pass: true });
    expect(target('rss-repo-restore')).toMatchObject({ value: 150 * MB, pass: true });
    const slower = measured((r) => {
      r.repository = repositoryReport(bench());
      r.restore = { ...r.restore, docs: series([op('docs', 12)]), repository: series([op('repository', 13)]) };
    });
    expect(slower.target('repo-restore-vs-docs')?.pass).toBe(false);
  });

  it("takes the backups' peak RSS over every backup into the repository, the growth rounds too", () => {
    const { target } = measured((r) => {
      r.repository = repositoryReport(bench({ growthRuns: [withPeak('repository', 4, 95 * MB), withPeak('repository', 4, 210 * MB)] }));
    });
    expect(target('rss-repo-backup')).toMatchObject({ value: 210 * MB, pass: false });
  });

  it('has no repository targets and no repository rows when the phase did not run', () => {
    const { report } = measured(() => undefined);
    expect(report.targets.filter((t) => t.id.startsWith('repo-') || t.id.startsWith('rss-repo-'))).toEqual([]);
    expect(render(report)).not.toMatch(/^repository/m);
  });

  it('shows what the second backup stored and how the repository grew', () => {
    const { report } = measured((r) => {
      r.repository = repositoryReport(bench());
    });
    const text = render(report);
    expect(text).toMatch(/repository +stowage second backup, nothing changed .*restic's own: 2\.00 s; stored 1234 bytes, 5000 files not read/);
    expect(text).toMatch(/repository +size after 1 \/ 7 backups \(50 files rewritten each\) +100\.0 MB +110\.0 MB +1\.100x/);
  });
});

describe('--only repository', () => {
  it('is a phase of its own', () => {
    expect(parseOptions(['--only', 'repository']).only).toEqual(['repository']);
    expect(parseOptions(['--only', 'rollback,repository']).only).toEqual(['repository', 'rollback']);
  });

  it('lists it among the phases when a word is unknown', () => {
    expect(() => parseOptions(['--only', 'repo'])).toThrow(/startup, backup, repository, restore, rollback/);
  });
});
