import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UTC_STAMP, utcStamp } from '../util/timestamps.js';
import { writeFileAtomic } from '../util/durable-file.js';
import type { BackupMethod } from '../config/types.js';
import type { TreeIndex } from './tree-index.js';
import { CheckFailed, UsageError } from '../config/errors.js';
import { compileSchema } from '../config/schema.js';

/** The backup set contract: docs/architecture.md, "Backup set". */
export interface ArtifactRecord {
  volume: string;
  file: string;
  method: BackupMethod;
  bytes: number;
  sha256: string;
  /**
   * How the artifact is stored. In a restic repository: `tar` (a tar stream stored as one
   * file), `tree` (a directory snapshot: restic's own files and directories, plus `tree`
   * below), or a dump's own format stored as one file.
   */
  format?: 'tar+zstd' | 'tar+gzip' | 'pg_dump-custom' | 'mongodump-archive-gzip' | 'tar' | 'tree';
  encrypted?: boolean;
  paths?: string[];
  databases?: string[];
  sourceBytes?: number;
  /** Seconds this artifact took to copy, compress and write. */
  durationSeconds?: number;
  stopped?: string[];
  /** In a restic repository: the snapshot that holds the artifact (full id). */
  snapshot?: string;
  /** In a restic repository: how many bytes this artifact added to it (what deduplication left). */
  added?: number;
  /** A directory snapshot: files restic found unchanged since the parent snapshot and did not read. */
  unchanged?: number;
  /** A directory snapshot's facts restic does not keep (tree-index.ts). */
  tree?: TreeIndex;
  /** Sockets and device files the archive could not hold, named when the backup ran. */
  skipped?: Array<{ path: string; kind: 'socket' | 'block-device' | 'character-device' }>;
}

export interface Manifest {
  format: 1;
  project: string;
  env: string;
  app?: string;
  created: string;
  id?: string;
  tool?: string;
  durationSeconds?: number;
  artifacts: ArtifactRecord[];
}

export const MANIFEST = 'manifest.json';
const SET_NAME = UTC_STAMP;

/**
 * A manifest that is missing its fields, names files outside the set, lists a
 * volume twice or holds no artifact: a set is input from a disk that may be
 * shared, copied or damaged, so this is a verification failure (exit 3).
 */
export class ManifestInvalid extends CheckFailed {
  constructor(message: string) {
    super(message);
    this.name = 'ManifestInvalid';
  }
}

let manifestValidator: ReturnType<typeof compileSchema<Manifest>> | undefined;


export function readManifest(setDir: string): Manifest {
  const path = join(setDir, MANIFEST);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ManifestInvalid(`${path}: cannot read the manifest (${err instanceof Error ? err.message : String(err)}); the set is damaged, pick another with --backup`);
  }
  const manifest = parseManifest(text, path);
  const inRepository = manifest.artifacts.find((a) => a.snapshot !== undefined);
  if (inRepository !== undefined) throw new ManifestInvalid(`${path}: artifact ${inRepository.file} names restic snapshot ${inRepository.snapshot ?? ''}: this manifest belongs to a restic repository, not a set directory`);
  return manifest;
}

/** A manifest's text, validated (`where` names it in messages: a file, or a repository's snapshot). */
export function parseManifest(text: string, where: string): Manifest {
  const path = where;
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ManifestInvalid(`${path}: cannot read the manifest (${err instanceof Error ? err.message : String(err)}); the set is damaged, pick another with --backup`);
  }
  manifestValidator ??= compileSchema<Manifest>('manifest.schema.json');
  if (!manifestValidator(data)) {
    const detail = (manifestValidator.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
    throw new ManifestInvalid(`${path}: not a valid stowage manifest (${detail}); the set cannot be used, pick another with --backup`);
  }
  const seen = new Set<string>();
  for (const artifact of data.artifacts) {
    if (artifact.file.includes('/') || artifact.file === '.' || artifact.file === '..') throw new ManifestInvalid(`${path}: artifact file "${artifact.file}" is not a plain file name in the set directory; the set cannot be used`);
    if (seen.has(artifact.volume)) throw new ManifestInvalid(`${path}: volume ${artifact.volume} appears twice; the set cannot be used`);
    seen.add(artifact.volume);
  }
  return data;
}

/** Temp file, fsync, rename, fsync the directory: the manifest appears whole or not at all. */
export function writeManifest(setDir: string, manifest: Manifest): void {
  writeFileAtomic(join(setDir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`, 0o600);
}

export function projectDir(to: string, project: string): string {
  return join(resolve(to), project);
}

export interface SetInfo {
  path: string;
  name: string;
  /** A manifest that validates: a set that can be used. */
  complete: boolean;
  /** A manifest is there but does not validate: never used, never removed as incomplete. */
  damaged: boolean;
  /** The environment the set was made in (complete sets). */
  env?: string;
}

export function listSets(to: string, project: string): SetInfo[] {
  const dir = projectDir(to, project);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => SET_NAME.test(name))
    .sort()
    .map((name) => {
      const path = join(dir, name);
      if (!existsSync(join(path, MANIFEST))) return { path, name, complete: false, damaged: false };
      try {
        const manifest = readManifest(path);
        return { path, name, complete: true, damaged: false, env: manifest.env };
      } catch {
        return { path, name, complete: false, damaged: true };
      }
    });
}

/**
 * `--backup latest` is the newest complete set; a path names a set directory
 * (or its manifest). Sets without a manifest are never used.
 */
export function resolveBackupSet(arg: string, to: string, project: string, env?: string): string {
  if (arg === 'latest') {
    const sets = listSets(to, project);
    const complete = sets.filter((s) => s.complete && (env === undefined || s.env === env));
    const newest = complete[complete.length - 1];
    if (newest === undefined) {
      const others = sets.filter((s) => s.complete && s.env !== env);
      throw new UsageError(
        `no complete backup set of project ${project}${env === undefined ? '' : ` made in environment ${env}`} in ${projectDir(to, project)}; run backup.mjs first or pass --to/--backup <path>` +
          (others.length > 0 ? ` (sets of other environments are there: pass one with --backup <path> --from-env ${others[others.length - 1]?.env ?? ''})` : ''),
      );
    }
    const damaged = sets.filter((s) => s.damaged && s.name > newest.name);
    if (damaged.length > 0) process.stderr.write(`warning: ${damaged.map((s) => s.path).join(', ')} ${damaged.length === 1 ? 'has' : 'have'} a damaged manifest and ${damaged.length === 1 ? 'is' : 'are'} skipped; latest is ${newest.path}\n`);
    return newest.path;
  }
  const path = resolve(arg);
  const dir = basename(path) === MANIFEST ? dirname(path) : path;
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`--backup ${arg}: no such backup set directory`);
  if (!existsSync(join(dir, MANIFEST))) {
    throw new UsageError(`--backup ${arg}: the set has no ${MANIFEST}, so it is incomplete (an interrupted backup) and is never used`);
  }
  return dir;
}

/** Removes sets an interrupted backup left without a manifest; returns what it removed. */
export function removeIncompleteSets(to: string, project: string, keep: string | undefined): string[] {
  const removed: string[] = [];
  for (const set of listSets(to, project)) {
    if (set.complete || set.damaged || set.path === keep) continue;
    rmSync(set.path, { recursive: true, force: true });
    removed.push(set.path);
  }
  return removed;
}

/** Creates the set directory, waiting for the next second when the name is taken. */
export async function createSetDir(to: string, project: string): Promise<{ path: string; created: Date }> {
  const parent = projectDir(to, project);
  mkdirSync(parent, { recursive: true, mode: 0o700 });
  for (;;) {
    const created = new Date();
    const path = join(parent, utcStamp(created));
    try {
      mkdirSync(path, { mode: 0o700 });
      return { path, created };
    } catch (err) {
      if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) throw err;
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    }
  }
}
