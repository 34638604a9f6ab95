// The benchmark's repository phase: which files each growth round changes and how each kind of
// file changes, and the targets of backups into a restic repository against restic's own runs in
// the same benchmark.
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirectories, planDataset, Population, Rng, writeFiles, type DatasetPlan, type FileJob } from '../../bench/dataset.js';
import {
  applyGrowthChange,
  applyGrowthRound,
  BLOB_REGION_BYTES,
  changedAt,
  chooseRewrites,
  LOG_APPEND_BYTES,
  planGrowthChange,
  planGrowthRound,
  SMALL_FILE_BYTES,
  type GrowthChange,
} from '../../bench/growth.js';
import { newReport, parseOptions } from '../../bench/main.js';
import type { OpResult } from '../../bench/methods.js';
import { evaluate, render, repositoryReport, series, type BenchReport, type Target } from '../../bench/report.js';
import type { RepositoryBench, RepositoryGrowth } from '../../bench/repository.js';

const MB = 1e6;
const KIB = 1024;
const MIB = 1024 * KIB;

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

/** Growth from 100 MB to `after` MB; restic's own repository from 98 MB to 105 MB. */
function growth(after: number): RepositoryGrowth {
  return {
    afterFirstBytes: 100 * MB,
    afterSeventhBytes: after * MB,
    ratio: after / 100,
    restic: { afterFirstBytes: 98 * MB, afterSeventhBytes: 105 * MB, ratio: 105 / 98 },
    filesChangedPerRound: 50,
    bytesChangedPerRound: [MB],
    changesPerRound: [{ replaced: 49, appended: 1, regions: 0 }],
  };
}

/** A repository phase that ran to its end: first backups 13 s (restic 10 s), second 3 s (restic 2 s), 100 MB growing to 110 MB. */
function bench(overrides: Partial<RepositoryBench> = {}): RepositoryBench {
  return {
    first: { stowage: withPeak('repository', 13, 90 * MB), resticSeconds: 10 },
    second: { stowage: withPeak('repository', 3, 80 * MB, { added: 1234, unchanged: 5000 }), resticSeconds: 2 },
    growthRuns: [withPeak('repository', 4, 95 * MB)],
    growth: growth(110),
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

const job = (path: string, kind: FileJob['kind'], size: number): Pick<FileJob, 'path' | 'kind' | 'size'> => ({ path, kind, size });

describe('planGrowthChange', () => {
  it('replaces a small text document by a new document of the same kind and size', () => {
    expect(planGrowthChange(job('mail/u07/cur/17.eml', 'doc', 3500), 11)).toEqual({ path: 'mail/u07/cur/17.eml', change: 'replace', content: 'mail', bytes: 3500, seed: 11 });
    expect(planGrowthChange(job('records/07/18-0a1b2c3d4e5f.json', 'doc', 900), 11)).toMatchObject({ change: 'replace', content: 'json', bytes: 900 });
    expect(planGrowthChange(job('notes/07/19.md', 'doc', 64 * KIB), 11)).toMatchObject({ change: 'replace', content: 'note', bytes: 64 * KIB });
  });

  it('replaces a small binary file by new random bytes of the same size', () => {
    expect(planGrowthChange(job('uploads/07/20-00ff.jpg', 'bin', 4500), 11)).toEqual({ path: 'uploads/07/20-00ff.jpg', change: 'replace', content: 'bin', bytes: 4500, seed: 11 });
  });

  it('replaces a log of at most 1 MiB whole, by new log text', () => {
    expect(planGrowthChange(job('logs/smtp-2024-01-09.log', 'log', SMALL_FILE_BYTES), 11)).toMatchObject({ change: 'replace', content: 'log', bytes: SMALL_FILE_BYTES });
  });

  it('appends 64 KiB of new log text to a larger log', () => {
    expect(planGrowthChange(job('logs/imap-2024-01-02.log', 'log', SMALL_FILE_BYTES + 1), 11)).toEqual({ path: 'logs/imap-2024-01-02.log', change: 'append', bytes: LOG_APPEND_BYTES, seed: 11 });
    expect(planGrowthChange(job('logs/imap-2024-01-03.log', 'log', 48 * MIB), 11)).toMatchObject({ change: 'append', bytes: 64 * KIB });
  });

  it('rewrites 1 MiB of a larger blob in place, on a 4 KiB page inside the file, at a seeded offset', () => {
    const size = 16 * MIB + 123;
    const changes = Array.from({ length: 40 }, (_, seed) => planGrowthChange(job('blobs/1/1-abc.bin', 'bin', size), seed));
    for (const c of changes) {
      expect(c).toMatchObject({ change: 'rewrite-region', bytes: BLOB_REGION_BYTES });
      if (c.change !== 'rewrite-region') continue;
      expect(c.offset % 4096).toBe(0);
      expect(c.offset + c.bytes).toBeLessThanOrEqual(size);
    }
    expect(new Set(changes.map((c) => (c.change === 'rewrite-region' ? c.offset : -1))).size).toBeGreaterThan(30);
    expect(planGrowthChange(job('blobs/1/1-abc.bin', 'bin', size), 5)).toEqual(changes[5]);
  });

  it('rewrites a blob just over 1 MiB from its start', () => {
    expect(planGrowthChange(job('blobs/0/0-abc.bin', 'bin', SMALL_FILE_BYTES + 4095), 3)).toMatchObject({ change: 'rewrite-region', offset: 0, bytes: BLOB_REGION_BYTES });
  });
});

describe('planGrowthRound', () => {
  /** ~1,250 small files and a few large ones (planned only, never written). */
  const plan = planDataset({ bytes: 64 * MIB, seed: 7 });
  const onDisk = plan.files.map((f) => f.path).sort();

  it('changes the files a seeded uniform choice over the files on disk picks, each as its planned kind and size say', () => {
    const round = planGrowthRound(onDisk, plan, new Rng(15));
    expect(round.map((c) => c.path)).toEqual(chooseRewrites(onDisk.length, new Rng(15)).map((i) => onDisk[i]));
    const jobs = new Map(plan.files.map((f) => [f.path, f]));
    for (const c of round) {
      const planned = jobs.get(c.path);
      expect(planned).toBeDefined();
      if (planned !== undefined) expect(c).toEqual(planGrowthChange(planned, c.seed));
    }
  });

  it('is the same for the same seed, and changes other files the next round', () => {
    const a = new Rng(15);
    const first = planGrowthRound(onDisk, plan, a);
    expect(planGrowthRound(onDisk, plan, new Rng(15))).toEqual(first);
    expect(planGrowthRound(onDisk, plan, a).map((c) => c.path)).not.toEqual(first.map((c) => c.path));
  });

  it('appends to every large log and rewrites a region of every large blob, and replaces every small file', () => {
    const all = plan.files.map((f) => planGrowthChange(f, f.index));
    const large = plan.files.filter((f) => f.size > SMALL_FILE_BYTES);
    expect(large.some((f) => f.kind === 'log') && large.some((f) => f.kind === 'bin')).toBe(true);
    for (const [i, f] of plan.files.entries()) {
      expect(all[i]?.change).toBe(f.size <= SMALL_FILE_BYTES ? 'replace' : f.kind === 'log' ? 'append' : 'rewrite-region');
    }
  });

  it('refuses a volume that holds a file the plan does not, or lacks one it does, naming it', () => {
    expect(() => planGrowthRound([...onDisk, 'lost+found/stray'].sort(), plan, new Rng(15))).toThrow(/not in the plan: lost\+found\/stray/);
    expect(() => planGrowthRound(onDisk.filter((p) => p !== onDisk[3]), plan, new Rng(15))).toThrow(new RegExp(`missing: ${onDisk[3] ?? '?'}`));
  });
});

describe('applyGrowthChange', () => {
  const root = mkdtempSync(join(tmpdir(), 'stowage-growth-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const seed = 7;
  const people = new Population(seed);
  const at = changedAt(1);
  /** Small files of a real (small) data set, and one large log and one large blob written by the data set's own generator. */
  const small = planDataset({ bytes: 2 * MIB, seed });
  const large: FileJob[] = [
    { index: 900001, path: 'logs/backend-2024-01-05.log', kind: 'log', size: 2 * MIB + 77, mtime: 1704067200 + 86400 },
    { index: 900002, path: 'blobs/2/2-0123456789abcdef0123.bin', kind: 'bin', size: 3 * MIB + 5, mtime: 1704067200 + 86400 },
  ];
  const plan: DatasetPlan = { ...small, files: [...small.files, ...large], directories: [...small.directories, 'blobs', 'blobs/2', 'logs'].sort() };
  makeDirectories(root, plan);
  writeFiles(root, seed, plan.files);

  const read = (path: string): Buffer => readFileSync(join(root, path));
  const first = (pred: (f: FileJob) => boolean): FileJob => {
    const f = plan.files.find(pred);
    if (f === undefined) throw new Error('the small data set has no such file');
    return f;
  };
  /** Text the data set's generator writes: printable ASCII, tabs and newlines. */
  const isText = (b: Buffer): boolean => b.every((c) => c === 10 || c === 9 || (c >= 32 && c < 127));

  it('replaces a mail, a record and a note by new ones of the same kind and size, with a newer time, owner and mode kept', () => {
    for (const [ext, head] of [['.eml', 'From: '], ['.json', '{"id":"'], ['.md', '# notes ']] as const) {
      const f = first((j) => j.kind === 'doc' && j.path.endsWith(ext) && j.size > 200);
      const before = read(f.path);
      const stat = statSync(join(root, f.path));
      const written = applyGrowthChange(root, planGrowthChange(f, 99), people, at);
      const after = read(f.path);
      expect(written).toBe(f.size);
      expect(after.length).toBe(before.length);
      expect(after.equals(before)).toBe(false);
      expect(after.subarray(0, head.length).toString('latin1')).toBe(head);
      expect(isText(after)).toBe(true);
      const now = statSync(join(root, f.path));
      expect(now.mtimeMs).toBe(at * 1000);
      expect(now.mtimeMs).toBeGreaterThan(stat.mtimeMs);
      expect([now.uid, now.gid, now.mode]).toEqual([stat.uid, stat.gid, stat.mode]);
    }
  });

  it('replaces a small binary file by other random bytes of the same size', () => {
    const f = first((j) => j.kind === 'bin' && j.size > 1000);
    const before = read(f.path);
    expect(applyGrowthChange(root, planGrowthChange(f, 99), people, at)).toBe(f.size);
    const after = read(f.path);
    expect(after.length).toBe(before.length);
    expect(after.equals(before)).toBe(false);
    expect(isText(after)).toBe(false);
  });

  it('appends 64 KiB of new log lines to a large log and leaves what it held', () => {
    const log = large[0] as FileJob;
    const before = read(log.path);
    expect(applyGrowthChange(root, planGrowthChange(log, 99), people, at)).toBe(LOG_APPEND_BYTES);
    const after = read(log.path);
    expect(after.length).toBe(before.length + LOG_APPEND_BYTES);
    expect(after.subarray(0, before.length).equals(before)).toBe(true);
    const added = after.subarray(before.length);
    expect(isText(added)).toBe(true);
    // Log lines from the time of the change on.
    expect(added.toString('latin1')).toMatch(/2025-01-02T00:00:\d\d\.\d{3}Z (INFO |DEBUG|WARN |ERROR) \[/);
    expect(statSync(join(root, log.path)).mtimeMs).toBe(at * 1000);
  });

  it('rewrites 1 MiB of a large blob in place: its size and every byte outside the region stay', () => {
    const blob = large[1] as FileJob;
    const change = planGrowthChange(blob, 99);
    if (change.change !== 'rewrite-region') throw new Error(`a large blob is ${change.change}d, not rewritten in place`);
    const before = read(blob.path);
    expect(applyGrowthChange(root, change, people, at)).toBe(BLOB_REGION_BYTES);
    const after = read(blob.path);
    const end = change.offset + change.bytes;
    expect(after.length).toBe(before.length);
    expect(after.subarray(0, change.offset).equals(before.subarray(0, change.offset))).toBe(true);
    expect(after.subarray(end).equals(before.subarray(end))).toBe(true);
    const region = after.subarray(change.offset, end);
    const old = before.subarray(change.offset, end);
    // New random bytes: hardly a byte in place by chance (1 in 256).
    expect(region.filter((b, i) => b === old[i]).length).toBeLessThan(BLOB_REGION_BYTES / 128);
    expect(statSync(join(root, blob.path)).mtimeMs).toBe(at * 1000);
  });

  it('writes the same bytes for the same change', () => {
    const f = first((j) => j.kind === 'doc' && j.path.endsWith('.eml'));
    const change = planGrowthChange(f, 4242);
    applyGrowthChange(root, change, people, at);
    const once = read(f.path);
    writeFileSync(join(root, f.path), 'something else');
    applyGrowthChange(root, change, people, at);
    expect(read(f.path).equals(once)).toBe(true);
  });

  it('refuses a region past the end of the file rather than growing it', () => {
    const change: GrowthChange = { path: (large[1] as FileJob).path, change: 'rewrite-region', offset: 3 * MIB, bytes: BLOB_REGION_BYTES, seed: 1 };
    const before = read(change.path);
    expect(() => applyGrowthChange(root, change, people, at)).toThrow(/too short for a region/);
    expect(read(change.path).equals(before)).toBe(true);
  });

  it('counts a round: files, bytes written, and each kind of change', () => {
    const doc = first((j) => j.kind === 'doc');
    const changes = [planGrowthChange(doc, 1), planGrowthChange(large[0] as FileJob, 2), planGrowthChange(large[1] as FileJob, 3)];
    expect(applyGrowthRound(root, changes, people, 2)).toEqual({ files: 3, bytes: doc.size + LOG_APPEND_BYTES + BLOB_REGION_BYTES, replaced: 1, appended: 1, regions: 1 });
    expect(statSync(join(root, doc.path)).mtimeMs).toBe(changedAt(2) * 1000);
    expect(changedAt(2)).toBeGreaterThan(changedAt(1));
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
          growth: growth(120),
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
    expect(text).toMatch(/repository +size after 1 \/ 7 backups \(50 files changed each\) +100\.0 MB +110\.0 MB +1\.100x/);
  });

  it("shows restic's own repository's growth under the same changes beside stowage's, in the table, the target and the JSON", () => {
    const { report, target } = measured((r) => {
      r.repository = repositoryReport(bench());
    });
    const text = render(report);
    expect(text).toMatch(/size after 1 \/ 7 backups .*1\.100x; restic's own repository grew 1\.071x under the same changes/);
    expect(text).toMatch(/repository +restic's own repository after 1 \/ 7 backups +98\.0 MB +105\.0 MB +1\.071x/);
    expect(target('repo-growth')?.measured).toBe("110.0 MB vs 100.0 MB (1.100x; restic's own 1.071x)");
    // The target stays stowage's own repository: restic's figure is the reference, not the measure.
    expect(target('repo-growth')).toMatchObject({ value: 1.1, pass: true });
    expect(JSON.parse(JSON.stringify(report)).repository.growth.restic).toEqual({ afterFirstBytes: 98 * MB, afterSeventhBytes: 105 * MB, ratio: 105 / 98 });
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
