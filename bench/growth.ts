import { closeSync, fstatSync, openSync, utimesSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { documentKind, LogText, RandomBytes, Rng, type DatasetPlan, type DocumentKind, type FileJob, type Population } from './dataset.js';

/**
 * What changes in the data set between the repository phase's backups (bench/repository.ts):
 * 1% of the files, each the way a volume's files of its kind change. Small files are
 * replaced by new content of the same kind and size (a mail, a record, a note, a
 * thumbnail); a large log gets new lines appended; a large blob gets one region
 * rewritten in place, as a database page or an edited attachment would. Rewriting
 * whole multi-MiB logs with random bytes instead measured the data set's worst case,
 * which no real volume sees, rather than the repository.
 */

const KIB = 1024;
const MIB = 1024 * KIB;
/** Files up to this size are replaced whole; larger ones change in part. */
export const SMALL_FILE_BYTES = MIB;
/** New log text appended to a large log per change. */
export const LOG_APPEND_BYTES = 64 * KIB;
/** Bytes a change rewrites in place in a large blob. */
export const BLOB_REGION_BYTES = MIB;
/** A rewritten region starts on a page boundary, as a database's write does. */
const PAGE_BYTES = 4 * KIB;
/** 2025-01-01T00:00:00Z: later than every time of the data set; each round's changes are a day later than the last's. */
const CHANGED_FROM = Date.UTC(2025, 0, 1) / 1000;

export type GrowthChange =
  /** The whole file, by new content of its kind and the same size. */
  | { path: string; change: 'replace'; content: 'log' | 'bin' | DocumentKind; bytes: number; seed: number }
  /** New log text after the end. */
  | { path: string; change: 'append'; bytes: number; seed: number }
  /** New random bytes over [offset, offset + bytes), the size unchanged. */
  | { path: string; change: 'rewrite-region'; offset: number; bytes: number; seed: number };

export interface GrowthRound {
  files: number;
  /** Bytes written: replaced files' sizes, appended text and rewritten regions. */
  bytes: number;
  replaced: number;
  appended: number;
  regions: number;
}

/** The time (seconds since the epoch) round `round` stamps its changed files with: newer than the data set and every earlier round. */
export function changedAt(round: number): number {
  return CHANGED_FROM + round * 86400;
}

/** Which of `total` files one growth round changes: 1% of them (at least one), distinct, the same for the same seed's generator. */
export function chooseRewrites(total: number, rng: Rng): number[] {
  if (total <= 0) throw new Error('the volume holds no files to rewrite: the data set was not generated');
  const count = Math.max(1, Math.round(total / 100));
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(rng.int(total));
  return [...chosen].sort((a, b) => a - b);
}

/** How one file of the data set changes, from its kind and planned size and a seed for the new bytes and the region. */
export function planGrowthChange(job: Pick<FileJob, 'path' | 'kind' | 'size'>, seed: number): GrowthChange {
  const { path, kind, size } = job;
  if (size <= SMALL_FILE_BYTES) return { path, change: 'replace', content: kind === 'doc' ? documentKind(path) : kind, bytes: size, seed };
  // Larger text is only ever a log (documents stay small), so it is appended to whatever its planned kind.
  if (kind !== 'bin') return { path, change: 'append', bytes: LOG_APPEND_BYTES, seed };
  const bytes = Math.min(BLOB_REGION_BYTES, size);
  const pages = Math.floor((size - bytes) / PAGE_BYTES) + 1;
  return { path, change: 'rewrite-region', offset: new Rng(seed).int(pages) * PAGE_BYTES, bytes, seed };
}

/**
 * One round's changes: 1% of the files on disk (relative paths, sorted: a uniform,
 * seeded choice), each mapped to its file of the data set by path and changed as its
 * kind is. A file on disk the plan does not hold, or the other way round, means the
 * volume is not the data set the plan describes: an error, not a guess.
 */
export function planGrowthRound(onDisk: readonly string[], plan: DatasetPlan, rng: Rng): GrowthChange[] {
  const jobs = new Map(plan.files.map((f) => [f.path, f]));
  const extra = onDisk.filter((p) => !jobs.has(p));
  const present = new Set(onDisk);
  const missing = plan.files.filter((f) => !present.has(f.path)).map((f) => f.path);
  if (extra.length > 0 || missing.length > 0) {
    const some = (paths: string[]): string => `${paths.slice(0, 3).join(', ')}${paths.length > 3 ? `, ... (${paths.length})` : ''}`;
    throw new Error(
      `the volume does not hold the data set its seed and size plan${extra.length > 0 ? `; not in the plan: ${some(extra)}` : ''}${missing.length > 0 ? `; missing: ${some(missing)}` : ''}` +
        ': run the benchmark again (it generates the volume anew)',
    );
  }
  return chooseRewrites(onDisk.length, rng).map((i) => {
    const job = jobs.get(onDisk[i] ?? '');
    if (job === undefined) throw new Error(`file ${i} of ${onDisk.length} on disk has no place in the plan`);
    return planGrowthChange(job, rng.next());
  });
}

function writeAll(fd: number, content: Buffer, position: number | null): void {
  let off = 0;
  while (off < content.length) off += writeSync(fd, content, off, content.length - off, position === null ? null : position + off);
}

/**
 * Applies one change to the file under root (its owner and mode stay) and stamps it
 * with time `at`; returns the bytes written. New text comes from the data set's own
 * generator with the data set's users and addresses (`people`), so it compresses and
 * deduplicates like the rest of it.
 */
export function applyGrowthChange(root: string, change: GrowthChange, people: Population, at: number): number {
  const path = join(root, change.path);
  const text = (): LogText => new LogText(change.seed, people, at * 1000);
  const random = (n: number): Buffer => new RandomBytes(change.seed, `growth:${change.path}`).take(n);
  let content: Buffer;
  let fd: number;
  if (change.change === 'replace') {
    content = change.content === 'bin' ? random(change.bytes) : change.content === 'log' ? text().take(change.bytes) : text().document(change.bytes, change.content);
    fd = openSync(path, 'w');
  } else if (change.change === 'append') {
    content = text().take(change.bytes);
    fd = openSync(path, 'a');
  } else {
    content = random(change.bytes);
    fd = openSync(path, 'r+');
  }
  try {
    if (change.change === 'rewrite-region') {
      const size = fstatSync(fd).size;
      if (change.offset + change.bytes > size) throw new Error(`${path}: ${size} bytes, too short for a region of ${change.bytes} bytes at ${change.offset}: the volume is not the data set planned`);
      writeAll(fd, content, change.offset);
    } else writeAll(fd, content, null);
  } finally {
    closeSync(fd);
  }
  utimesSync(path, at, at);
  return content.length;
}

/** Applies one round's changes under root, stamped with the round's time. */
export function applyGrowthRound(root: string, changes: readonly GrowthChange[], people: Population, round: number): GrowthRound {
  const done: GrowthRound = { files: changes.length, bytes: 0, replaced: 0, appended: 0, regions: 0 };
  for (const change of changes) {
    done.bytes += applyGrowthChange(root, change, people, changedAt(round));
    if (change.change === 'replace') done.replaced++;
    else if (change.change === 'append') done.appended++;
    else done.regions++;
  }
  return done;
}
