import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Model, VolumeModel } from '../config/model.js';
import { CommandFailed, startStreaming, type Command, type StreamingProcess } from '../engine/command.js';
import { feedProcess, writeArtifact, writeArtifactFromProcess, type ByteCounter, type Compression } from '../engine/pipeline.js';
import { backupErrors, backupSummary, MANIFEST_FILE, restic, TAG, type BackupSummary, type BackupTags, type ResticSnapshot } from '../engine/restic.js';
import type { Chunks } from '../engine/tar-format.js';
import { fsyncPath } from '../util/durable-file.js';
import { utcStamp } from '../util/timestamps.js';
import { artifactName } from './artifact-name.js';
import type { RepositoryDestination } from './destination.js';
import { groupSets, type Repository, type RepositorySet } from './repository.js';
import { createSetDir, listSets, readManifest, removeIncompleteSets, writeManifest, type ArtifactRecord, type Manifest } from './set.js';
import { parseTreeIndex, rootFacts, treeIndexScan, type TreeIndex } from './tree-index.js';

/**
 * Where one backup run writes its set: a set directory (artifacts compressed,
 * maybe encrypted, manifest.json last) or a restic repository (a snapshot
 * per volume, the manifest snapshot last). backup.ts reads the volumes the
 * same way for both and hands each artifact's stream to the writer.
 */

export type StoredArtifact = Pick<ArtifactRecord, 'file' | 'bytes' | 'sha256' | 'format' | 'encrypted' | 'sourceBytes' | 'snapshot' | 'added' | 'unchanged' | 'tree'>;

export interface DirectorySnapshot {
  /** Absolute paths restic leaves out, matched exactly. */
  excludes: string[];
  /** SQLite online copies restic reads under the live database's name: [copy, live], absolute paths. */
  shadows: Array<[string, string]>;
}

export interface SetWriter {
  readonly kind: 'directory' | 'repository';
  /** The set's id: its UTC timestamp. */
  readonly id: string;
  readonly created: Date;
  /** Where the set is, for people and --json: the set directory, or `restic:<repository> set <id>`. */
  readonly location: string;
  /** What was removed of interrupted runs' sets (they never count). */
  readonly removedIncomplete: string[];
  /** Size of each volume's artifact in the newest complete set, for progress. */
  readonly expected: Map<string, number>;
  /** A tar stream that passes through this process. */
  tarStream(volume: VolumeModel, source: Chunks, onBytes?: ByteCounter): Promise<StoredArtifact>;
  /** A tar stream that another process writes to its stdout. */
  tarProcess(volume: VolumeModel, producer: StreamingProcess, onBytes?: ByteCounter): Promise<StoredArtifact>;
  /** A database dump. */
  dumpStream(volume: VolumeModel, content: Chunks, onBytes?: ByteCounter): Promise<StoredArtifact>;
  /** Repositories: a directory of this machine as a directory snapshot (restic reads only what changed). */
  readonly takesDirectories: boolean;
  directory(volume: VolumeModel, directory: string, options: DirectorySnapshot): Promise<StoredArtifact>;
  /** Writes the manifest last; returns it as stored. After this the set counts. */
  commit(manifest: Manifest): Promise<Manifest>;
  /** A failed run: nothing of the set may count. */
  abandon(): Promise<void>;
}

// ---------------------------------------------------------------- set directories

export class DirectorySetWriter implements SetWriter {
  readonly kind = 'directory';
  readonly takesDirectories = false;
  readonly expected: Map<string, number>;

  private constructor(
    readonly location: string,
    readonly id: string,
    readonly created: Date,
    readonly removedIncomplete: string[],
    private readonly steps: { tar: Command[]; dump: Command[] },
    private readonly compression: Compression,
    private readonly encrypted: boolean,
    expected: Map<string, number>,
  ) {
    this.expected = expected;
  }

  /** Removes sets interrupted runs left (no manifest) and creates this run's set directory. */
  static async create(to: string, project: string, options: { steps: { tar: Command[]; dump: Command[] }; compression: Compression; encrypted: boolean }): Promise<DirectorySetWriter> {
    const expected = previousSizes(to, project);
    const removed = removeIncompleteSets(to, project, undefined);
    const set = await createSetDir(to, project);
    return new DirectorySetWriter(set.path, set.path.split('/').pop() ?? '', set.created, removed, options.steps, options.compression, options.encrypted, expected);
  }

  private record(volume: VolumeModel, written: { bytes: number; sha256: string; sourceBytes: number }): StoredArtifact {
    const file = artifactName(volume, this.compression, this.encrypted);
    const format: StoredArtifact['format'] =
      volume.backup.method === 'pg_dump' ? 'pg_dump-custom' : volume.backup.method === 'mongodump' ? 'mongodump-archive-gzip' : this.compression === 'zstd' ? 'tar+zstd' : 'tar+gzip';
    return { file, bytes: written.bytes, sha256: written.sha256, format, encrypted: this.encrypted, ...(written.sourceBytes > 0 ? { sourceBytes: written.sourceBytes } : {}) };
  }

  private path(volume: VolumeModel): string {
    return join(this.location, artifactName(volume, this.compression, this.encrypted));
  }

  async tarStream(volume: VolumeModel, source: Chunks, onBytes?: ByteCounter): Promise<StoredArtifact> {
    return this.record(volume, await writeArtifact(source, this.steps.tar, this.path(volume), onBytes));
  }

  async tarProcess(volume: VolumeModel, producer: StreamingProcess, onBytes?: ByteCounter): Promise<StoredArtifact> {
    return this.record(volume, await writeArtifactFromProcess(producer, this.steps.tar, this.path(volume), onBytes));
  }

  async dumpStream(volume: VolumeModel, content: Chunks, onBytes?: ByteCounter): Promise<StoredArtifact> {
    const written = await writeArtifact(content, this.steps.dump, this.path(volume), onBytes);
    return { ...this.record(volume, written), sourceBytes: written.sourceBytes };
  }

  directory(): Promise<StoredArtifact> {
    return Promise.reject(new Error('internal: a set directory takes tar streams, not directories'));
  }

  commit(manifest: Manifest): Promise<Manifest> {
    fsyncPath(this.location);
    writeManifest(this.location, manifest);
    return Promise.resolve(manifest);
  }

  abandon(): Promise<void> {
    rmSync(this.location, { recursive: true, force: true });
    return Promise.resolve();
  }
}

/** Size of each volume's artifact in the newest complete set: the total an ETA can be based on. */
function previousSizes(to: string, project: string): Map<string, number> {
  const sizes = new Map<string, number>();
  const newest = listSets(to, project).filter((s) => s.complete).pop();
  if (newest === undefined) return sizes;
  try {
    for (const a of readManifest(newest.path).artifacts) if (a.paths === undefined) sizes.set(a.volume, a.bytes);
  } catch {
    // A damaged older manifest only costs the ETA.
  }
  return sizes;
}

// ---------------------------------------------------------------- restic repositories

/**
 * A SQLite online copy shown to restic under the live database's name: a bind
 * mount in a mount namespace of restic's own (unshare), which nothing else
 * sees and which ends with restic. The snapshot then holds `database.sqlite`
 * as it would be restored, and a restore by hand with stock restic gets it.
 */
export const SHADOW_SCRIPT = 'set -e\nwhile [ "$1" != -- ]; do mount --bind "$1" "$2"; shift 2; done\nshift\nexec "$@"';

export function withShadows(cmd: Command, shadows: Array<[string, string]>): Command {
  if (shadows.length === 0) return cmd;
  return {
    ...cmd,
    program: 'unshare',
    args: ['--mount', '--propagation', 'private', '--', 'sh', '-c', SHADOW_SCRIPT, 'sh', ...shadows.flat(), '--', cmd.program, ...cmd.args],
  };
}

export class RepositorySetWriter implements SetWriter {
  readonly kind = 'repository';
  readonly takesDirectories = true;
  readonly expected = new Map<string, number>();
  private readonly made: string[] = [];
  /**
   * The set's snapshots as listed after the newest one was stored: started at
   * once, so that the listing (a restic run: key derivation, index) runs while
   * the writers start again, and commit finds it done.
   */
  private listing: Promise<ResticSnapshot[]> | undefined;

  private constructor(
    private readonly repo: Repository,
    private readonly owner: SetOwner,
    readonly id: string,
    readonly created: Date,
    readonly removedIncomplete: string[],
    /** Snapshots carry this time instead of now (a copy keeps the set's own time). */
    private readonly time: Date | undefined = undefined,
  ) {}

  /** A writer for a set whose id and time are given: a copy of a set made elsewhere. */
  static forSet(repo: Repository, owner: SetOwner, id: string, created: Date): RepositorySetWriter {
    return new RepositorySetWriter(repo, owner, id, created, [], created);
  }

  get location(): string {
    return `${this.repo.display} set ${this.id}`;
  }

  /**
   * Forgets the snapshots of sets interrupted runs left (no manifest; the
   * next prune frees their data) and picks this run's id: the UTC second,
   * waiting for the next one when a set of that second exists.
   */
  static async create(repo: Repository, model: SetOwner, sets: RepositorySet[], log: (line: string) => void): Promise<RepositorySetWriter> {
    const incomplete = sets.filter((s) => s.manifest === undefined);
    const removed: string[] = [];
    if (incomplete.length > 0) {
      await repo.runChecked(restic.forget(repo.destination, incomplete.flatMap((s) => s.snapshots.map((x) => x.id)), false));
      for (const s of incomplete) {
        removed.push(`${repo.display} set ${s.id}`);
        log(`forgot incomplete set ${s.id} in ${repo.display} (no manifest: an interrupted run); the next --prune frees its data`);
      }
    }
    const taken = new Set(sets.map((s) => s.id));
    for (;;) {
      const created = new Date();
      const id = utcStamp(created);
      if (!taken.has(id)) return new RepositorySetWriter(repo, model, id, created, removed);
      await new Promise((r) => setTimeout(r, 1000 - (Date.now() % 1000) + 5));
    }
  }

  private tags(volume: string | undefined): BackupTags {
    const base = [TAG.stowage, TAG.project(this.owner.project), TAG.env(this.owner.env), TAG.set(this.id)];
    return { tags: volume === undefined ? [...base, TAG.manifest] : [...base, TAG.volume(volume)], host: this.owner.project, ...(this.time === undefined ? {} : { time: this.time }) };
  }

  /** Stores a stream as the file `file` of a new snapshot of `volume`; says what it stored. */
  async storeFile(volume: string, file: string, source: Readable | StreamingProcess, onBytes?: ByteCounter): Promise<{ bytes: number; sha256: string; summary: BackupSummary }> {
    const cmd = restic.backupStdin(this.repo.destination, file, this.tags(volume));
    let fed;
    try {
      fed = await feedProcess(source, cmd, onBytes);
    } catch (err) {
      throw this.repo.explain(err);
    }
    const summary = backupSummary(fed.stdout);
    if (summary === undefined) throw new Error(`${cmd.purpose}: restic printed no summary; is restic 0.14 or later installed?`);
    this.stored(summary.snapshot_id);
    return { bytes: fed.bytes, sha256: fed.sha256, summary };
  }

  async tarStream(volume: VolumeModel, source: Chunks, onBytes?: ByteCounter): Promise<StoredArtifact> {
    const file = `${volume.key}.tar`;
    const stored = await this.storeFile(volume.key, file, source instanceof Readable ? source : Readable.from(source, { objectMode: false }), onBytes);
    return { file, bytes: stored.bytes, sha256: stored.sha256, format: 'tar', encrypted: false, snapshot: stored.summary.snapshot_id, added: stored.summary.data_added };
  }

  async tarProcess(volume: VolumeModel, producer: StreamingProcess, onBytes?: ByteCounter): Promise<StoredArtifact> {
    const file = `${volume.key}.tar`;
    const stored = await this.storeFile(volume.key, file, producer, onBytes);
    return { file, bytes: stored.bytes, sha256: stored.sha256, format: 'tar', encrypted: false, snapshot: stored.summary.snapshot_id, added: stored.summary.data_added };
  }

  async dumpStream(volume: VolumeModel, content: Chunks, onBytes?: ByteCounter): Promise<StoredArtifact> {
    const file = artifactName(volume, 'zstd', false);
    const stored = await this.storeFile(volume.key, file, content instanceof Readable ? content : Readable.from(content, { objectMode: false }), onBytes);
    const format: StoredArtifact['format'] = volume.backup.method === 'pg_dump' ? 'pg_dump-custom' : 'mongodump-archive-gzip';
    return { file, bytes: stored.bytes, sha256: stored.sha256, format, encrypted: false, sourceBytes: stored.bytes, snapshot: stored.summary.snapshot_id, added: stored.summary.data_added };
  }

  /**
   * `restic backup .` of the volume's directory, and in the same window the
   * index of what restic does not keep (hard links, the root's own entry,
   * non-UTF-8 symlink targets). Files that vanished while restic read them
   * (a writer that keeps running) are a note, as GNU tar's "file removed"
   * is; any other unreadable file fails the backup.
   */
  async directory(volume: VolumeModel, directory: string, options: DirectorySnapshot): Promise<StoredArtifact> {
    const cmd = withShadows(restic.backupDirectory(this.repo.destination, directory, { ...this.tags(volume.key), excludes: options.excludes }), options.shadows);
    const [index, result] = await Promise.all([scanTree(directory), this.repo.runner.run(cmd, { allowFailure: true })]);
    if (result.code === 3) {
      const errors = backupErrors(result.stderr);
      const others = errors.filter((e) => e.errno !== ENOENT);
      if (errors.length === 0 || others.length > 0) {
        throw new Error(`volume ${volume.key}: restic could not read ${(others.length > 0 ? others : errors).map((e) => e.item).slice(0, 5).join(', ') || 'some files'}; the set is not complete. Check the files' permissions and run again`);
      }
    } else if (result.code !== 0) throw this.repo.explain(new CommandFailed(cmd, result));
    const summary = backupSummary(result.stdout);
    if (summary === undefined) throw new Error(`${cmd.purpose}: restic printed no summary; is restic 0.14 or later installed?`);
    this.stored(summary.snapshot_id);
    return { file: volume.key, bytes: summary.total_bytes_processed, sha256: '', format: 'tree', encrypted: false, snapshot: summary.snapshot_id, added: summary.data_added, unchanged: summary.files_unmodified, tree: index };
  }

  /**
   * Resolves the snapshots' full ids (and a tree's root tree, its sha256)
   * from the repository, then stores the manifest as the set's last snapshot.
   */
  private stored(shortId: string): void {
    this.made.push(shortId);
    this.listing = this.listSet();
    this.listing.catch(() => undefined);
  }

  async commit(manifest: Manifest): Promise<Manifest> {
    // The listing started after the newest snapshot: it holds them all unless two volumes finished at once.
    let listed = this.listing === undefined ? undefined : await this.listing.catch(() => undefined);
    if (listed === undefined || !this.made.every((short) => listed?.some((s) => s.id.startsWith(short)) === true)) listed = await this.listSet();
    const set = groupSets(listed).find((s) => s.id === this.id);
    const artifacts = manifest.artifacts.map((a) => {
      const snapshot = set?.volumes.get(a.volume);
      // A copied snapshot names the one it was copied from as its original.
      if (snapshot === undefined || a.snapshot === undefined || !(snapshot.id.startsWith(a.snapshot) || snapshot.original === a.snapshot)) {
        throw new Error(`the snapshot of volume ${a.volume} (${a.snapshot ?? '?'}) is not in ${this.repo.display} after the backup; the set is not complete. Run the backup again`);
      }
      return { ...a, snapshot: snapshot.id, ...(a.format === 'tree' ? { sha256: snapshot.tree } : {}) };
    });
    const stored: Manifest = { ...manifest, id: this.id, artifacts };
    const cmd = restic.backupStdin(this.repo.destination, MANIFEST_FILE, this.tags(undefined));
    try {
      await feedProcess(Readable.from([Buffer.from(`${JSON.stringify(stored, null, 2)}\n`)]), cmd);
    } catch (err) {
      throw this.repo.explain(err);
    }
    return stored;
  }

  private async listSet(): Promise<ResticSnapshot[]> {
    return this.repo.snapshots(this.owner.project, [TAG.set(this.id)]);
  }

  /** The set's snapshots stay without a manifest: incomplete, never used, forgotten by the next backup. */
  abandon(): Promise<void> {
    return Promise.resolve();
  }
}

const ENOENT = 2;

/** The index of a directory: GNU find's binary output (names are raw bytes) and the root's own facts. */
async function scanTree(directory: string): Promise<TreeIndex> {
  const root = rootFacts(directory);
  const find = startStreaming(treeIndexScan(directory), { stdin: 'ignore', stdout: 'pipe' });
  const chunks: Buffer[] = [];
  find.child.stdout?.on('data', (c: Buffer) => chunks.push(c));
  await find.done;
  return parseTreeIndex(Buffer.concat(chunks).toString('latin1'), root);
}

/** Whose set a writer writes: the project and environment its snapshots are tagged with. */
export type SetOwner = Pick<Model, 'project' | 'env'>;

export type { RepositoryDestination };
