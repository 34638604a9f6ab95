import { closeSync, createWriteStream, existsSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { privateScratch } from '../session/scratch.js';
import { scanArchive, type ArchiveSummary, type FileConsumer, type HeldBackEntries } from '../engine/archive.js';
import { displayName, entryNameOf } from '../engine/tar-format.js';
import type { Command, Runner } from '../engine/command.js';
import { pg, sqlite } from '../engine/databases.js';
import { filters, readArtifact, sha256File, type Compression } from '../engine/pipeline.js';
import { readManifest, type ArtifactRecord, type Manifest } from './set.js';
import { silentProgress, type ProgressFactory } from '../cli/progress.js';
import type { RepositoryCheck } from './repository-verify.js';

/**
 * Verification of a set: every artifact hashed against its manifest, each
 * archive read to its end with every entry checked against the restore safety
 * rules, SQLite copies run through PRAGMA integrity_check, dumps through
 * pg_restore --list. A restore verifies whole trees while it stages them
 * (stage.ts); verify.mjs and drills verify everything here.
 */

export interface VerifyOptions {
  runner: Runner;
  /** age identity file for encrypted artifacts (--identity or STOWAGE_AGE_IDENTITY). */
  identity: string | undefined;
  progress?: ProgressFactory;
  /** Only these volumes (restore verifies what it will use). */
  volumes?: string[];
  /** Repositories: how much data restic check reads back (all, none, n/t, x%, a size), or skip: no restic check. */
  readDataSubset?: string;
  /**
   * Artifacts a restore is about to stream (whole trees): they get only the
   * checks that cost no read, and the restore checks the rest while it stages them.
   */
  staged?: (record: ArtifactRecord) => boolean;
}

export interface ArtifactCheck {
  volume: string;
  file: string;
  method: string;
  ok: boolean;
  problems: string[];
  /** What was proven: checksum, archive read to the end, integrity_check, pg_restore --list. */
  checked: string[];
  warnings: string[];
  entries?: number;
  root?: { uid: number; gid: number; mode: number; mtime: string };
  /** Entries a restore through the archive endpoint creates in a second pass (not part of the report). */
  heldBack?: HeldBackEntries;
  /** Hard link groups of the archive, for restoring some paths only (not part of the report). */
  linkGroups?: Map<string, string[]>;
}

export interface VerifyResult {
  set: string;
  manifest: Manifest;
  ok: boolean;
  artifacts: ArtifactCheck[];
  /** A set in a restic repository: what restic check said of the repository. */
  repository?: RepositoryCheck;
}

export function compressionOf(record: ArtifactRecord): Compression {
  return record.format === 'tar+gzip' || record.file.includes('.tar.gz') ? 'gzip' : 'zstd';
}

export function isEncrypted(record: ArtifactRecord): boolean {
  return record.encrypted === true || record.file.endsWith('.age');
}

/** The filters that turn a stored artifact back into its plain format. */
export function decodeSteps(record: ArtifactRecord, identity: string | undefined): Command[] {
  const steps: Command[] = [];
  if (isEncrypted(record)) {
    if (identity === undefined) throw new Error(`${record.file} is encrypted: pass --identity <age identity file> (or set STOWAGE_AGE_IDENTITY)`);
    steps.push(filters.decrypt(identity));
  }
  if (record.method === 'tar' || record.method === 'sqlite') steps.push(filters.decompress(compressionOf(record)));
  if (record.method === 'mongodump') steps.push(filters.decompress('gzip'));
  return steps;
}

/** `PRAGMA integrity_check` of SQLite copies taken out of an archive, into the check's findings. */
export async function checkDatabases(runner: Runner, artifactFile: string, copies: Array<{ name: string; file: string }>, check: Pick<ArtifactCheck, 'problems' | 'checked' | 'warnings'>): Promise<void> {
  for (const { name, file } of copies) {
    const result = await runner.run(sqlite.integrityCheck(file), { allowFailure: true }).catch((err: unknown) => ({ code: -1, stdout: '', stderr: `cannot run: ${reason(err)}` }));
    if (result.code !== 0 && /cannot run/.test(result.stderr)) check.warnings.push(`sqlite3 is not installed here: integrity_check of ${name} skipped`);
    else if (result.stdout.trim() !== 'ok') check.problems.push(`${artifactFile}: PRAGMA integrity_check of ${name} failed: ${(result.stdout + result.stderr).trim().split('\n').slice(0, 3).join('; ')}`);
    else check.checked.push(`integrity_check ${name}`);
  }
}

/**
 * Verifies the selected artifacts. `staged` artifacts get only the checks that
 * cost no read: present, and the size the manifest says; the restore checks
 * the rest while it stages them (hash, every entry, SQLite copies) and swaps
 * nothing in unless it all holds.
 */
export async function verifySet(setDir: string, options: VerifyOptions): Promise<VerifyResult> {
  const manifest = readManifest(setDir);
  const selected = manifest.artifacts.filter((a) => options.volumes === undefined || options.volumes.length === 0 || options.volumes.includes(a.volume));
  const artifacts: ArtifactCheck[] = [];
  for (const record of selected) artifacts.push(options.staged?.(record) === true ? presence(setDir, record) : await verifyArtifact(setDir, record, options));
  return { set: setDir, manifest, ok: artifacts.every((a) => a.ok), artifacts };
}

function presence(setDir: string, record: ArtifactRecord): ArtifactCheck {
  const check: ArtifactCheck = { volume: record.volume, file: record.file, method: record.method, ok: false, problems: [], checked: [], warnings: [] };
  const path = join(setDir, record.file);
  if (!existsSync(path)) check.problems.push(`${record.file} is missing from the set`);
  else if (statSync(path).size !== record.bytes) check.problems.push(`${record.file} has ${statSync(path).size} bytes, the manifest says ${record.bytes}`);
  else check.checked.push('size (the content is verified while it is restored)');
  check.ok = check.problems.length === 0;
  return check;
}

async function verifyArtifact(setDir: string, record: ArtifactRecord, options: VerifyOptions): Promise<ArtifactCheck> {
  const check: ArtifactCheck = { volume: record.volume, file: record.file, method: record.method, ok: false, problems: [], checked: [], warnings: [] };
  const path = join(setDir, record.file);
  if (!existsSync(path)) {
    check.problems.push(`${record.file} is missing from the set`);
    return check;
  }
  const size = statSync(path).size;
  if (size !== record.bytes) check.problems.push(`${record.file} has ${size} bytes, the manifest says ${record.bytes}`);

  const encryptedWithoutKey = isEncrypted(record) && options.identity === undefined;
  const scratch = privateScratch('verify');
  try {
    const steps = encryptedWithoutKey ? [] : decodeSteps(record, options.identity);
    const bar = (options.progress ?? silentProgress)(`verify ${record.file}`, size);
    const reader = readArtifact(path, steps, (n) => bar.add(n));
    const content = encryptedWithoutKey ? { decoded: drain(reader.content), summary: () => undefined, extracted: [] } : startContentCheck(record, reader.content, scratch);
    const outcome = await Promise.allSettled([reader.done, content.decoded]);
    bar.finish();
    const [hashed, read] = outcome;
    // A decoder that fails stops the read, so the checksum comes from a separate pass: it names the real cause.
    const digest = hashed.status === 'fulfilled' ? hashed.value.sha256 : (await sha256File(path)).sha256;
    if (digest !== record.sha256) check.problems.push(`${record.file}: sha256 ${digest} does not match the manifest (${record.sha256}): the file changed after the backup`);
    else if (hashed.status === 'fulfilled') check.checked.push('sha256');
    // A decoder killed by us was stopped because the archive reader failed: the reader's error is the cause.
    const decoderStopped = hashed.status === 'rejected' && read.status === 'rejected' && /killed by SIG/.test(String(hashed.reason));
    if (hashed.status === 'rejected' && !decoderStopped) check.problems.push(`${record.file}: cannot be decoded to its end: ${reason(hashed.reason)}`);
    if (read.status === 'rejected' && (hashed.status === 'fulfilled' || decoderStopped)) check.problems.push(`${record.file}: cannot be read to its end: ${reason(read.reason)}`);
    if (encryptedWithoutKey) check.warnings.push('encrypted and no --identity given: only the checksum was verified');
    else await finishContentCheck(record, content, check, options.runner, scratch);
  } catch (err) {
    check.problems.push(`${record.file}: ${reason(err)}`);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  check.ok = check.problems.length === 0;
  return check;
}

/** A content check under way: the decoded stream being read to its end. */
export interface ContentCheck {
  decoded: Promise<void>;
  summary: () => ArchiveSummary | undefined;
  /** Private copies of the SQLite databases the archive holds, for integrity_check. */
  extracted: string[];
}

/**
 * Reads an artifact's decoded content to its end as its method says: a tar
 * archive is scanned entry by entry (and its SQLite copies extracted), a
 * pg_dump is kept for pg_restore --list, a mongodump is read through. The
 * same checks run on set directories and on restic repositories.
 */
export function startContentCheck(record: ArtifactRecord, content: Readable, scratch: string): ContentCheck {
  let summary: ArchiveSummary | undefined;
  const databaseNames = record.databases ?? [];
  const databases = new Set(databaseNames.map(entryNameOf));
  const extracted: string[] = [];
  let decoded: Promise<void>;
  if (record.method === 'mongodump') decoded = drain(content);
  else if (record.method === 'pg_dump') decoded = pipeline(content, createWriteStream(join(scratch, 'dump'), { mode: 0o600 }));
  else {
    decoded = scanArchive(content, (name) => {
      if (!databases.has(name)) return undefined;
      const target = join(scratch, `db-${extracted.length}`);
      extracted.push(target);
      return fileWriter(target);
    }, [...(record.paths ?? []), ...databaseNames].map((p) => entryNameOf(p.replace(/^\.\//, '').replace(/\/+$/, '')))).then((s) => {
      summary = s;
    });
  }
  return { decoded, summary: () => summary, extracted };
}

/** What the read proved (entries, root, links), then integrity_check of SQLite copies and pg_restore --list of dumps. */
export async function finishContentCheck(record: ArtifactRecord, content: ContentCheck, check: ArtifactCheck, runner: Runner, scratch: string): Promise<void> {
  const summary = content.summary();
  const databaseNames = record.databases ?? [];
  if (summary !== undefined && check.problems.length === 0) {
    check.checked.push(`archive read to the end (${summary.entries} entries)`);
    check.entries = summary.entries;
    if (summary.heldBack.names.size > 0) check.heldBack = summary.heldBack;
    if (summary.linkGroups.size > 0) check.linkGroups = summary.linkGroups;
    for (const p of summary.problems) check.problems.push(`${record.file}: unsafe entry "${p.name}": ${p.reason}`);
    for (const m of summary.missing) check.problems.push(`${record.file}: the manifest lists ${displayName(m)}, which the archive does not hold`);
    if (summary.root !== undefined) {
      check.root = { uid: summary.root.uid, gid: summary.root.gid, mode: summary.root.mode, mtime: new Date(summary.root.mtime * 1000).toISOString() };
    }
    await checkDatabases(runner, record.file, content.extracted.map((file, index) => ({ name: databaseNames[index] ?? file, file })), check);
  }
  if (record.method === 'pg_dump' && check.problems.length === 0) {
    const listed = await runner.run(pg.list(join(scratch, 'dump')), { allowFailure: true }).catch((err: unknown) => ({ code: -1, stdout: '', stderr: reason(err) }));
    if (listed.code === -1) check.warnings.push('pg_restore is not installed here: the dump\'s table of contents was not read');
    else if (listed.code !== 0) check.problems.push(`${record.file}: pg_restore --list failed: ${listed.stderr.trim()}`);
    else check.checked.push('pg_restore --list');
  }
  if (record.method === 'mongodump' && check.problems.length === 0) check.checked.push('gzip stream read to the end');
}

async function drain(stream: Readable): Promise<void> {
  for await (const chunk of stream) void chunk;
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err);
}

/** Writes a file's content to a private file (0600) as the scan delivers it. */
export function fileWriter(path: string): FileConsumer {
  const fd = openSync(path, 'wx', 0o600);
  return {
    write(chunk) {
      writeSync(fd, chunk);
    },
    end() {
      closeSync(fd);
      return Promise.resolve();
    },
  };
}
