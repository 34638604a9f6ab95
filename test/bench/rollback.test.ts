// The benchmark's rollback case: which files change, and what changing them does to a tree.
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeDirectories, planDataset, writeFiles } from '../../bench/dataset.js';
import { applyChanges, planChanges } from '../../bench/rollback.js';

/** ~1,250 small files and a few large ones (planned only, never written). */
const plan = planDataset({ bytes: 64 * 1024 * 1024, seed: 7 });

describe('planChanges', () => {
  it('touches 1% of the files, a third each changed, deleted and added', () => {
    const changes = planChanges(plan);
    const count = Math.round(plan.files.length * 0.01);
    expect(changes.changed.length + changes.deleted.length + changes.added.length).toBe(count);
    expect(Math.max(changes.changed.length, changes.deleted.length, changes.added.length) - Math.min(changes.changed.length, changes.deleted.length, changes.added.length)).toBeLessThanOrEqual(1);
  });

  it('changes and deletes files of the data set, and adds files it does not hold', () => {
    const changes = planChanges(plan);
    const paths = new Set(plan.files.map((f) => f.path));
    expect([...changes.changed, ...changes.deleted].every((p) => paths.has(p))).toBe(true);
    expect(changes.added.some((p) => paths.has(p))).toBe(false);
    expect(new Set([...changes.changed, ...changes.deleted]).size).toBe(changes.changed.length + changes.deleted.length);
  });

  it('is the same for the same data set', () => {
    expect(planChanges(planDataset({ bytes: 64 * 1024 * 1024, seed: 7 }))).toEqual(planChanges(plan));
  });
});

describe('applyChanges', () => {
  const root = mkdtempSync(join(tmpdir(), 'stowage-rollback-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('rewrites changed files with other bytes of the same size and a later time, deletes and adds', () => {
    const small = planDataset({ bytes: 2 * 1024 * 1024, seed: 7 });
    makeDirectories(root, small);
    writeFiles(root, 7, small.files);
    const changes = planChanges(small);
    const before = new Map(changes.changed.map((p) => [p, { bytes: readFileSync(join(root, p)), mtime: statSync(join(root, p)).mtimeMs }]));
    const summary = applyChanges(root, small, changes, 7);
    for (const [path, old] of before) {
      const now = readFileSync(join(root, path));
      expect(now.length).toBe(old.bytes.length);
      expect(now.equals(old.bytes)).toBe(false);
      expect(statSync(join(root, path)).mtimeMs).toBeGreaterThan(old.mtime);
    }
    expect(changes.deleted.filter((p) => existsSync(join(root, p)))).toEqual([]);
    expect(changes.added.filter((p) => !existsSync(join(root, p)))).toEqual([]);
    expect(summary).toMatchObject({ files: small.files.length, changed: changes.changed.length, deleted: changes.deleted.length, added: changes.added.length });
  });
});
