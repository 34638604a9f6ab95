import { Readable } from 'node:stream';
import { UsageError } from '../config/errors.js';
import { renderCommand, type Runner } from '../engine/command.js';
import { restic } from '../engine/restic.js';
import { isDumpMethod } from '../config/model.js';
import { silentProgress, type ProgressFactory } from '../cli/progress.js';
import type { Repository } from './repository.js';
import { RepositorySetReader, type SetReader } from './set-reader.js';
import { RepositorySetWriter } from './set-writer.js';
import type { ArtifactRecord, Manifest } from './set.js';

/**
 * Replicates one set into another restic repository (3-2-1: fast local sets
 * on the machine, a copy off-site). The copy is the same set: same id, same
 * time, same tags, the volumes first and its manifest last, so that an
 * interrupted copy is an incomplete set there and never used. Only what the
 * target lacks travels: between repositories `restic copy` moves just the
 * missing blobs; a local set's streams are chunked by restic and stored once.
 */

export interface CopyOptions {
  runner: Runner;
  /** age identity, for encrypted local sets (their content goes into the repository, which encrypts it itself). */
  identity: string | undefined;
  init: boolean;
  progress?: ProgressFactory;
  log?: (line: string) => void;
}

export interface CopyResult {
  id: string;
  from: string;
  to: string;
  /** false: the target already held this set, complete. */
  copied: boolean;
  /** Bytes the target grew by (what it did not have); restic copy does not say. */
  added: number | undefined;
  artifacts: ArtifactRecord[];
}

export async function copySet(source: SetReader, target: Repository, options: CopyOptions): Promise<CopyResult> {
  const log = options.log ?? (() => undefined);
  const manifest = source.manifest;
  const to = `${target.display} set ${source.id}`;
  if (source.kind === 'repository' && source instanceof RepositorySetReader && source.repo.destination.repository === target.destination.repository) {
    throw new UsageError(`--to ${target.display} is where the set already is; name another repository`);
  }
  const sets = await target.open(manifest.project, { init: options.init, clearStaleLocks: !options.runner.dryRun });
  const there = sets.find((s) => s.id === source.id);
  if (there?.manifest !== undefined) {
    log(`${to} is there already, complete; nothing to copy`);
    return { id: source.id, from: source.location, to, copied: false, added: 0, artifacts: (await target.manifest(there)).artifacts };
  }
  if (options.runner.dryRun) {
    planCopy(source, target);
    return { id: source.id, from: source.location, to, copied: false, added: 0, artifacts: [] };
  }
  if (there !== undefined) {
    // What an interrupted copy left: never used, and in the way of this one.
    await target.runChecked(restic.forget(target.destination, there.snapshots.map((s) => s.id), false));
  }
  const writer = RepositorySetWriter.forSet(target, { project: manifest.project, env: manifest.env }, source.id, new Date(manifest.created));
  const copied =
    source instanceof RepositorySetReader
      ? await copySnapshots(source, target, manifest)
      : await copyArtifacts(source, writer, manifest, options);
  const stored = await writer.commit({ ...manifest, artifacts: copied.artifacts });
  return { id: source.id, from: source.location, to, copied: true, added: copied.added, artifacts: stored.artifacts };
}

/** Between repositories: restic copy of the set's volume snapshots (only the blobs the target lacks), then the manifest. */
async function copySnapshots(source: RepositorySetReader, target: Repository, manifest: Manifest): Promise<{ artifacts: ArtifactRecord[]; added: number | undefined }> {
  const ids = manifest.artifacts.map((a) => source.snapshotOf(a));
  await target.runChecked(restic.copy(target.destination, source.repo.destination, ids));
  // The manifest names each copy by the snapshot it was copied from; commit finds the copy's own id.
  return { artifacts: manifest.artifacts, added: undefined };
}

/** From a set directory: each artifact's content stored as one file per volume (a tar, a dump), chunked and deduplicated by restic. */
async function copyArtifacts(source: SetReader, writer: RepositorySetWriter, manifest: Manifest, options: CopyOptions): Promise<{ artifacts: ArtifactRecord[]; added: number }> {
  const artifacts: ArtifactRecord[] = [];
  let added = 0;
  for (const artifact of manifest.artifacts) {
    const dump = isDumpMethod(artifact.method);
    const file = dump ? artifact.file.replace(/\.age$/, '') : `${artifact.volume}.tar`;
    const bar = (options.progress ?? silentProgress)(`copy ${artifact.volume}`, source.size(artifact));
    // A dump goes as it is restored (pg_dump's own format, mongodump's gzip archive); a tar decompressed, so that restic can deduplicate it.
    const stream = source.read(artifact, dump ? 'stored' : 'content', options.identity, (n) => bar.add(n));
    const [stored] = await Promise.all([writer.storeFile(artifact.volume, file, stream.content instanceof Readable ? stream.content : Readable.from(stream.content)), stream.done]);
    bar.finish();
    added += stored.summary.data_added;
    const { encrypted, sourceBytes, ...rest } = artifact;
    void encrypted;
    void sourceBytes;
    artifacts.push({
      ...rest,
      file,
      bytes: stored.bytes,
      sha256: stored.sha256,
      format: dump ? artifact.format : 'tar',
      encrypted: false,
      snapshot: stored.summary.snapshot_id,
      added: stored.summary.data_added,
    });
  }
  return { artifacts, added };
}

function planCopy(source: SetReader, target: Repository): void {
  const say = (line: string): void => target.runner.plan(line);
  say(`# copy of ${source.location} into ${target.display}, as set ${source.id}: volumes first, its manifest last`);
  if (source instanceof RepositorySetReader) {
    say(renderCommand(restic.copy(target.destination, source.repo.destination, source.manifest.artifacts.map((a) => a.snapshot ?? '<snapshot>'))));
  } else {
    for (const a of source.manifest.artifacts) say(`<${a.file}, decoded> | restic backup --stdin --stdin-filename ${isDumpMethod(a.method) ? a.file.replace(/\.age$/, '') : `${a.volume}.tar`} --tag ...set=${source.id},volume=${a.volume}`);
  }
  say('# then the set\'s manifest.json, with the new snapshot ids, as its last snapshot');
}
