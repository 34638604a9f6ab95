import { appendFileSync, closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import type { BackupMethod } from '../config/types.js';
import { UsageError } from '../config/errors.js';
import { compileSchema } from '../config/schema.js';

/** DESIGN.md "Backup set" contract. */
export interface ArtifactRecord {
  volume: string;
  file: string;
  method: BackupMethod;
  bytes: number;
  sha256: string;
  format?: 'tar+zstd' | 'tar+gzip' | 'pg_dump-custom' | 'mongodump-archive-gzip';
  encrypted?: boolean;
  paths?: string[];
  databases?: string[];
  sourceBytes?: number;
  /** Seconds this artifact took to copy, compress and write. */
  durationSeconds?: number;
  stopped?: string[];
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
const SET_NAME = /^\d{8}T\d{6}Z$/;

let manifestValidator: ReturnType<typeof compileSchema<Manifest>> | undefined;

/** UTC timestamp YYYYMMDDTHHMMSSZ. */
export function setName(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

export function readManifest(setDir: string): Manifest {
  const path = join(setDir, MANIFEST);
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: cannot read the manifest (${err instanceof Error ? err.message : String(err)}); the set is incomplete or damaged, pick another with --backup`);
  }
  manifestValidator ??= compileSchema<Manifest>('manifest.schema.json');
  if (!manifestValidator(data)) {
    const detail = (manifestValidator.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
    throw new Error(`${path}: not a valid stowage manifest (${detail}); the set cannot be used`);
  }
  for (const artifact of data.artifacts) {
    if (artifact.file.includes('..') || artifact.file.includes('/')) throw new Error(`${path}: artifact file "${artifact.file}" is not a plain file name`);
  }
  return data;
}

/** fsync a file or directory by path, so a crash cannot lose what was written. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Temp file, fsync, rename, fsync the directory: the manifest appears whole or not at all. */
export function writeManifest(setDir: string, manifest: Manifest): void {
  const temp = join(setDir, `.${MANIFEST}.tmp`);
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, `${JSON.stringify(manifest, null, 2)}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, join(setDir, MANIFEST));
  fsyncPath(setDir);
}

export function projectDir(to: string, project: string): string {
  return join(resolve(to), project);
}

export interface SetInfo {
  path: string;
  name: string;
  complete: boolean;
}

export function listSets(to: string, project: string): SetInfo[] {
  const dir = projectDir(to, project);
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((name) => SET_NAME.test(name))
    .sort()
    .map((name) => ({ path: join(dir, name), name, complete: existsSync(join(dir, name, MANIFEST)) }));
}

/**
 * `--backup latest` is the newest complete set; a path names a set directory
 * (or its manifest). Sets without a manifest are never used.
 */
export function resolveBackupSet(arg: string, to: string, project: string): string {
  if (arg === 'latest') {
    const complete = listSets(to, project).filter((s) => s.complete);
    const newest = complete[complete.length - 1];
    if (newest === undefined) {
      throw new UsageError(`no complete backup set of project ${project} in ${projectDir(to, project)}; run backup.mjs first or pass --to/--backup <path>`);
    }
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
    if (set.complete || set.path === keep) continue;
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
    const path = join(parent, setName(created));
    try {
      mkdirSync(path, { mode: 0o700 });
      return { path, created };
    } catch (err) {
      if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) throw err;
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    }
  }
}

/**
 * What a run changed on the engine that it must undo. `forgotten` closes a
 * `stopped` entry that is no longer stowage's to undo (someone stopped the
 * container again after the run died).
 */
export type EngineChange = 'stopped' | 'started' | 'helper' | 'removed' | 'forgotten';

/** Containers a run stopped and did not start again (with when it stopped them), and helpers it created and did not remove. */
export interface Leftovers {
  owner: string;
  stopped: Array<{ name: string; at: number | undefined }>;
  helpers: string[];
}

/** Replays journal lines: `stopped NAME [epoch ms]`, `started NAME`, `forgotten NAME`, `helper NAME`, `removed NAME`. */
export function leftoversOf(owner: string, journal: string[]): Leftovers {
  const stopped = new Map<string, number | undefined>();
  const helpers = new Set<string>();
  for (const line of journal) {
    const [kind, name, at] = line.trim().split(' ');
    if (name === undefined || name === '') continue;
    if (kind === 'stopped') stopped.set(name, at !== undefined && /^\d+$/.test(at) ? Number(at) : undefined);
    else if (kind === 'started' || kind === 'forgotten') stopped.delete(name);
    else if (kind === 'helper') helpers.add(name);
    else if (kind === 'removed') helpers.delete(name);
  }
  return { owner, stopped: [...stopped].map(([name, at]) => ({ name, at })), helpers: [...helpers] };
}

function journalLines(leftovers: Leftovers): string {
  return [...leftovers.stopped.map((s) => `stopped ${s.name}${s.at === undefined ? '' : ` ${s.at}`}\n`), ...leftovers.helpers.map((h) => `helper ${h}\n`)].join('');
}

function merge(a: Leftovers | undefined, b: Leftovers | undefined): Leftovers | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return { owner: `${a.owner}, ${b.owner}`, stopped: [...a.stopped, ...b.stopped.filter((s) => !a.stopped.some((t) => t.name === s.name))], helpers: [...new Set([...a.helpers, ...b.helpers])] };
}

/**
 * One backup or restore per project at a time. The lock file holds host and
 * pid, then a journal of engine changes. A lock whose process is gone (same
 * host) is stale and taken over, and what its journal left undone is handed
 * to the new owner (SIGKILL cannot be caught, so the dead run could not start
 * its writers again); so is what a finished run could not undo (`.leftovers`).
 * The inherited entries go into the new journal at once: a run killed while
 * it recovers hands them on again.
 */
export class ProjectLock {
  private warned = false;

  private constructor(
    readonly path: string,
    /** What earlier runs left undone, when there is anything. */
    readonly inherited: Leftovers | undefined,
  ) {}

  static acquire(to: string, project: string): ProjectLock {
    const dir = projectDir(to, project);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const path = join(dir, '.lock');
    let dead: Leftovers | undefined;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        writeFileSync(path, `${hostname()} ${process.pid}\n`, { flag: 'wx', mode: 0o600 });
        const carried = join(dir, '.leftovers');
        const unfinished = existsSync(carried) ? leftoversOf('an earlier run', readFileSync(carried, 'utf8').split('\n')) : undefined;
        const inherited = merge(dead, unfinished);
        const open = inherited !== undefined && (inherited.stopped.length > 0 || inherited.helpers.length > 0) ? inherited : undefined;
        if (open !== undefined) appendFileSync(path, journalLines(open));
        rmSync(carried, { force: true });
        return new ProjectLock(path, open);
      } catch (err) {
        if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) throw err;
        const [first = '', ...journal] = readFileSync(path, 'utf8').split('\n');
        const [host, pidText] = first.trim().split(' ');
        const pid = Number(pidText);
        if (host === hostname() && Number.isInteger(pid) && !processAlive(pid)) {
          dead = leftoversOf(`pid ${pid}`, journal);
          rmSync(path, { force: true });
          continue;
        }
        throw new Error(`another backup or restore of ${project} is running (lock ${path} held by ${host ?? '?'} pid ${pidText ?? '?'}); wait for it, or remove the lock if that process is gone`);
      }
    }
    throw new Error(`cannot take the lock ${path}`);
  }

  /**
   * Appends to the journal before the change is made, so a killed run leaves a
   * record of it. Best effort: a full disk must not stop a writer from being
   * started again, so a failed write only warns.
   */
  note(change: EngineChange, names: string[], at: number = Date.now()): void {
    if (names.length === 0) return;
    try {
      appendFileSync(this.path, names.map((n) => `${change} ${n}${change === 'stopped' ? ` ${at}` : ''}\n`).join(''));
    } catch (err) {
      if (!this.warned) process.stderr.write(`warning: cannot write the journal ${this.path} (${err instanceof Error ? err.message : String(err)}); if this run is killed, start its stopped containers by hand\n`);
      this.warned = true;
    }
  }

  /** Removes the lock; what this run could not undo stays in `.leftovers` for the next run. */
  release(): void {
    try {
      const open = leftoversOf('this run', readFileSync(this.path, 'utf8').split('\n').slice(1));
      if (open.stopped.length > 0 || open.helpers.length > 0) writeFileSync(join(dirname(this.path), '.leftovers'), journalLines(open), { mode: 0o600 });
    } catch {
      // No journal to carry over.
    }
    rmSync(this.path, { force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err instanceof Error && 'code' in err && err.code === 'EPERM';
  }
}
