import { chownSync, closeSync, openSync, rmSync, utimesSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { DATA_OWNER, RandomBytes, type DatasetPlan } from './dataset.js';

/**
 * The rollback case: a volume that still holds the backed-up content except
 * for a small share of its files, changed, added or deleted since (a
 * safe-update rollback, a mistaken delete). A restore of the set must bring
 * back exactly the backup; how long it takes, against a full restore into a
 * fresh volume, is what the benchmark reports.
 */

/** Share of the data set's files touched, split evenly between changed, deleted and added. */
export const ROLLBACK_SHARE = 0.01;

export interface ChangePlan {
  /** Files rewritten with other bytes of the same size and a newer time. */
  changed: string[];
  deleted: string[];
  /** New files, each next to a file of the data set. */
  added: string[];
}

export interface ChangeSummary {
  share: number;
  files: number;
  changed: number;
  deleted: number;
  added: number;
  /** Bytes written by the changes (rewritten and added files). */
  bytesWritten: number;
}

const ADDED_BYTES = 4096;
/** 2025-01-01T00:00:00Z: later than every time of the data set, so a change shows in the times too. */
const CHANGED_AT = Date.UTC(2025, 0, 1) / 1000;

/**
 * Which files change: `share` of them, spread evenly over the data set (small
 * files, logs and blobs alike), taking turns: changed, deleted, added next to.
 */
export function planChanges(plan: DatasetPlan, share = ROLLBACK_SHARE): ChangePlan {
  const files = plan.files;
  const count = Math.max(3, Math.round(files.length * share));
  const changes: ChangePlan = { changed: [], deleted: [], added: [] };
  for (let k = 0; k < count; k++) {
    const job = files[Math.floor(((k + 0.5) * files.length) / count)];
    if (job === undefined) continue;
    if (k % 3 === 0) changes.changed.push(job.path);
    else if (k % 3 === 1) changes.deleted.push(job.path);
    else changes.added.push(join(dirname(job.path), `rollback-${k}.new`));
  }
  return changes;
}

function writeFile(path: string, content: Buffer, asRoot: boolean): void {
  const fd = openSync(path, 'w', 0o640);
  try {
    let off = 0;
    while (off < content.length) off += writeSync(fd, content, off, content.length - off);
  } finally {
    closeSync(fd);
  }
  if (asRoot) chownSync(path, DATA_OWNER[0], DATA_OWNER[1]);
  utimesSync(path, CHANGED_AT, CHANGED_AT);
}

/** Applies the changes to a tree on this machine that holds the data set. */
export function applyChanges(root: string, plan: DatasetPlan, changes: ChangePlan, seed: number, share = ROLLBACK_SHARE): ChangeSummary {
  const asRoot = process.getuid?.() === 0;
  const sizes = new Map(plan.files.map((f) => [f.path, f.size]));
  let bytesWritten = 0;
  for (const path of changes.changed) {
    const content = new RandomBytes(seed, `rollback:${path}`).take(sizes.get(path) ?? ADDED_BYTES);
    writeFile(join(root, path), content, asRoot);
    bytesWritten += content.length;
  }
  for (const path of changes.deleted) rmSync(join(root, path));
  for (const path of changes.added) {
    writeFile(join(root, path), new RandomBytes(seed, `rollback:${path}`).take(ADDED_BYTES), asRoot);
    bytesWritten += ADDED_BYTES;
  }
  return { share, files: plan.files.length, changed: changes.changed.length, deleted: changes.deleted.length, added: changes.added.length, bytesWritten };
}
