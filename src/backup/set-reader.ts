import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { CheckFailed, UsageError } from '../config/errors.js';
import { UTC_STAMP } from '../util/timestamps.js';
import type { Destination } from './destination.js';
import { CommandFailed, renderCommand, startStreaming, type Command, type Runner, type StreamingProcess } from '../engine/command.js';
import { decodeIntoProcess, fileFingerprint, filters, Meter, readArtifact, renderStream, settlePipeline, type ByteCounter } from '../engine/pipeline.js';
import { restic } from '../engine/restic.js';
import { createHash } from 'node:crypto';
import { Repository, type RepositorySet } from './repository.js';
import { readManifest, resolveBackupSet, type ArtifactRecord, type Manifest } from './set.js';
import { nodeLines, repairTreeDump } from './tree-index.js';
import { decodeSteps, verifySet, type VerifyOptions, type VerifyResult } from './verify.js';
import { verifyRepositorySet } from './repository-verify.js';

/**
 * A backup set being read, wherever it is: a set directory or a set in a
 * restic repository. verify and restore read artifacts only through this, so
 * both go through the same checks, staging and swap.
 *
 * `content` is an artifact as its method restores it: a tar stream (tar,
 * sqlite volumes), a pg_dump custom-format file, a mongodump archive (gzip
 * decoded for checks, kept compressed for mongorestore --gzip: `stored`).
 */
export type ReadPurpose = 'content' | 'stored';

export interface ArtifactStream {
  content: Readable;
  /** Resolves once everything was read and the bytes are the ones the manifest names; rejects otherwise. */
  done: Promise<void>;
}

export interface SetReader {
  readonly kind: 'directory' | 'repository';
  /** Where the set is, for people: the set directory, or `restic:<repository> set <id>`. */
  readonly location: string;
  readonly id: string;
  readonly manifest: Manifest;
  verify(options: VerifyOptions): Promise<VerifyResult>;
  /** The identity of an artifact's stored bytes: taken before verification, checked again before a restore uses them. */
  fingerprint(artifact: ArtifactRecord): string;
  /** Bytes a restore reads, for progress. */
  size(artifact: ArtifactRecord): number;
  read(artifact: ArtifactRecord, purpose: ReadPurpose, identity: string | undefined, onBytes?: ByteCounter): ArtifactStream;
  /** The content straight into a consumer process (docker cp into a helper, tar -x). */
  into(artifact: ArtifactRecord, identity: string | undefined, consumer: Command, expected: { fingerprint: string; onStoredBytes?: ByteCounter }): Promise<void>;
  /** What `into` runs, as a shell pipeline, for --dry-run. */
  render(artifact: ArtifactRecord, identity: string | undefined, consumer: Command): string;
}

// ---------------------------------------------------------------- set directories

export class DirectorySetReader implements SetReader {
  readonly kind = 'directory';
  readonly manifest: Manifest;
  readonly id: string;

  constructor(readonly location: string) {
    this.manifest = readManifest(location);
    this.id = location.split('/').filter((p) => p !== '').pop() ?? location;
  }

  private path(artifact: ArtifactRecord): string {
    return join(this.location, artifact.file);
  }

  verify(options: VerifyOptions): Promise<VerifyResult> {
    return verifySet(this.location, options);
  }

  fingerprint(artifact: ArtifactRecord): string {
    try {
      return fileFingerprint(statSync(this.path(artifact), { bigint: true }));
    } catch {
      return 'missing'; // verification reports the missing file
    }
  }

  size(artifact: ArtifactRecord): number {
    return statSync(this.path(artifact)).size;
  }

  read(artifact: ArtifactRecord, purpose: ReadPurpose, identity: string | undefined, onBytes?: ByteCounter): ArtifactStream {
    const steps = decodeSteps(artifact, identity).filter((s) => purpose === 'content' || s.program === 'age');
    const reader = readArtifact(this.path(artifact), steps, onBytes);
    const done = reader.done.then((hashed) => {
      if (hashed.sha256 !== artifact.sha256) throw new CheckFailed(`${artifact.file}: sha256 ${hashed.sha256} does not match the manifest (${artifact.sha256}): the file changed after the backup`);
    });
    return { content: reader.content, done };
  }

  into(artifact: ArtifactRecord, identity: string | undefined, consumer: Command, expected: { fingerprint: string; onStoredBytes?: ByteCounter }): Promise<void> {
    // Whole archive: file -> zstd -> consumer, process to process.
    return decodeIntoProcess(this.path(artifact), decodeSteps(artifact, identity), consumer, expected);
  }

  render(artifact: ArtifactRecord, identity: string | undefined, consumer: Command): string {
    return renderStream(this.path(artifact), decodeSteps(artifact, identity), consumer);
  }
}

// ---------------------------------------------------------------- restic repositories

export class RepositorySetReader implements SetReader {
  readonly kind = 'repository';

  constructor(
    readonly repo: Repository,
    readonly set: RepositorySet,
    readonly manifest: Manifest,
  ) {}

  static async open(repo: Repository, set: RepositorySet): Promise<RepositorySetReader> {
    return new RepositorySetReader(repo, set, await repo.manifest(set));
  }

  get id(): string {
    return this.set.id;
  }

  get location(): string {
    return `${this.repo.display} set ${this.set.id}`;
  }

  verify(options: VerifyOptions): Promise<VerifyResult> {
    return verifyRepositorySet(this, options);
  }

  /** A snapshot is content-addressed and authenticated: its id (and a tree's root) is its bytes' identity. */
  fingerprint(artifact: ArtifactRecord): string {
    const snapshot = this.set.volumes.get(artifact.volume);
    return snapshot === undefined ? 'missing' : `${snapshot.id}:${snapshot.tree}`;
  }

  size(artifact: ArtifactRecord): number {
    return artifact.bytes;
  }

  snapshotOf(artifact: ArtifactRecord): string {
    const snapshot = this.set.volumes.get(artifact.volume);
    if (snapshot === undefined || artifact.snapshot === undefined || snapshot.id !== artifact.snapshot) {
      throw new CheckFailed(`volume ${artifact.volume}: its snapshot ${(artifact.snapshot ?? '?').slice(0, 8)} is no longer in ${this.repo.display}; nothing was changed`);
    }
    return snapshot.id;
  }

  /**
   * restic dump of the artifact: a tree through the repair that makes it the
   * exact tar (tree-index.ts), a stored file as it is, hashed on the way
   * against the manifest. restic authenticates every blob it reads.
   */
  read(artifact: ArtifactRecord, purpose: ReadPurpose, _identity: string | undefined, onBytes?: ByteCounter): ArtifactStream {
    const snapshot = this.snapshotOf(artifact);
    const destination = this.repo.destination;
    if (artifact.format === 'tree') {
      if (artifact.tree === undefined) throw new CheckFailed(`${this.location}: volume ${artifact.volume} is a directory snapshot without its index in the manifest; the set cannot be restored exactly`);
      const dump = startStreaming(restic.dump(destination, snapshot, '/'), { stdin: 'ignore', stdout: 'pipe' });
      const ls = startStreaming(restic.ls(destination, snapshot), { stdin: 'ignore', stdout: 'pipe' });
      const dumpOut = dump.child.stdout;
      const lsOut = ls.child.stdout;
      if (dumpOut === null || lsOut === null) throw new Error('restic produced no stream');
      const meter = new Meter(undefined, onBytes);
      const content = repairTreeDump(dumpOut.pipe(meter), nodeLines(lsOut), artifact.tree);
      const done = this.settle([ls.done, dump.done, finished(content)], [dump, ls]);
      done.catch((err: unknown) => content.destroy(err instanceof Error ? err : new Error(String(err))));
      return { content, done };
    }
    const dump = startStreaming(restic.dump(destination, snapshot, `/${artifact.file}`), { stdin: 'ignore', stdout: 'pipe' });
    const out = dump.child.stdout;
    if (out === null) throw new Error('restic produced no stream');
    const hash = createHash('sha256');
    const meter = new Meter(hash, onBytes);
    const gunzip = purpose === 'content' && artifact.method === 'mongodump' ? startStreaming(filters.decompress('gzip'), { stdin: 'pipe', stdout: 'pipe' }) : undefined;
    const content = new PassThrough({ highWaterMark: 1 << 20 });
    const parts: Array<Promise<unknown>> = [dump.done];
    if (gunzip === undefined) parts.push(pipeline(out, meter, content));
    else {
      const zin = gunzip.child.stdin;
      const zout = gunzip.child.stdout;
      if (zin === null || zout === null) throw new Error('gzip has no pipes');
      parts.push(pipeline(out, meter, zin), gunzip.done, pipeline(zout, content));
    }
    const done = this.settle(parts, gunzip === undefined ? [dump] : [dump, gunzip]).then(() => {
      const digest = hash.digest('hex');
      if (digest !== artifact.sha256) throw new CheckFailed(`${artifact.file} in snapshot ${snapshot.slice(0, 8)}: sha256 ${digest} does not match the manifest (${artifact.sha256})`);
    });
    done.catch((err: unknown) => content.destroy(err instanceof Error ? err : new Error(String(err))));
    return { content, done };
  }

  private async settle(parts: Array<Promise<unknown>>, processes: StreamingProcess[]): Promise<void> {
    try {
      await settlePipeline(parts, processes);
    } catch (err) {
      throw err instanceof CommandFailed ? this.repo.explain(err) : err;
    }
  }

  async into(artifact: ArtifactRecord, identity: string | undefined, consumer: Command, expected: { fingerprint: string; onStoredBytes?: ByteCounter }): Promise<void> {
    if (this.fingerprint(artifact) !== expected.fingerprint) throw new CheckFailed(`volume ${artifact.volume}: its snapshot changed since it was verified; nothing was swapped in`);
    const stream = this.read(artifact, 'content', identity, expected.onStoredBytes);
    const writer = startStreaming(consumer, { stdin: 'pipe', stdout: 'ignore' });
    const stdin = writer.child.stdin;
    if (stdin === null) throw new Error(`${consumer.purpose}: no stdin`);
    await settlePipeline([stream.done, feedAll(stream.content, stdin), writer.done], [writer]);
  }

  render(artifact: ArtifactRecord, _identity: string | undefined, consumer: Command): string {
    const snapshot = artifact.snapshot ?? '<snapshot>';
    if (artifact.format === 'tree') {
      return `${renderCommand(restic.dump(this.repo.destination, snapshot, '/'))} | <exact times, FIFOs, hard links and the root entry from restic ls and the manifest> | ${renderCommand(consumer)}`;
    }
    return `${renderCommand(restic.dump(this.repo.destination, snapshot, `/${artifact.file}`))} | ${renderCommand(consumer)}`;
  }
}


/**
 * Writes a stream into a consumer's stdin and reads it to its end whatever the
 * consumer does: tar stops reading at the archive's end marker, before the
 * padding after it, and the rest must still be read (restic dump finishes,
 * the hash is checked). The consumer's own exit says whether it succeeded.
 */
async function feedAll(content: Readable, stdin: Writable): Promise<void> {
  let open = true;
  const closed = (): void => {
    open = false;
  };
  stdin.on('error', closed);
  stdin.on('close', closed);
  for await (const chunk of content) {
    if (!open) continue;
    if (!stdin.write(chunk)) {
      await new Promise<void>((resume) => {
        const go = (): void => {
          stdin.off('drain', go);
          stdin.off('close', go);
          resume();
        };
        stdin.once('drain', go);
        stdin.once('close', go);
      });
    }
  }
  if (open) stdin.end();
}

// ---------------------------------------------------------------- which set

/**
 * The set `--backup` names at a destination: `latest` (the newest complete
 * set made in `env`), a set id (its UTC timestamp), or for set directories a
 * path. A repository is opened first: a wrong password or a missing
 * repository is bad usage (exit 2) before anything is read or stopped.
 */
export async function openSetReader(destination: Destination, arg: string, project: string, env: string | undefined, runner: Runner, log: (line: string) => void): Promise<SetReader> {
  if (destination.kind === 'directory') {
    const byId = UTC_STAMP.test(arg) && !existsSync(arg) ? join(destination.path, project, arg) : arg;
    return new DirectorySetReader(resolveBackupSet(byId, destination.path, project, env));
  }
  const repo = new Repository(runner, destination, log);
  return RepositorySetReader.open(repo, pickSet(await repo.open(project), arg, repo.display, project, env));
}

export function pickSet(sets: RepositorySet[], arg: string, display: string, project: string, env: string | undefined): RepositorySet {
  if (arg === 'latest') {
    const complete = sets.filter((s) => s.manifest !== undefined);
    const mine = complete.filter((s) => env === undefined || s.env === env);
    const newest = mine[mine.length - 1];
    if (newest === undefined) {
      const others = complete.filter((s) => s.env !== env);
      throw new UsageError(
        `no complete backup set of project ${project}${env === undefined ? '' : ` made in environment ${env}`} in ${display}; run backup.mjs first or pass --backup <set id>` +
          (others.length > 0 ? ` (sets of other environments are there: pass one with --backup ${others[others.length - 1]?.id ?? ''} --from-env ${others[others.length - 1]?.env ?? ''})` : ''),
      );
    }
    return newest;
  }
  if (!UTC_STAMP.test(arg)) throw new UsageError(`--backup ${arg}: in a repository, name a set by its id (its UTC timestamp, YYYYMMDDTHHMMSSZ) or latest`);
  const set = sets.find((s) => s.id === arg);
  if (set === undefined) throw new UsageError(`--backup ${arg}: there is no set ${arg} of project ${project} in ${display}`);
  if (set.manifest === undefined) throw new UsageError(`--backup ${arg}: set ${arg} in ${display} has no manifest, so it is incomplete (an interrupted backup) and is never used`);
  return set;
}
