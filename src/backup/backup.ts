import { chmodSync, chownSync, existsSync, lstatSync, rmSync, statfsSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { engineIsLocal } from '../engine/endpoint.js';
import { decideLocal, hostTarCreate, localPathConceivable, seenByRunningContainer, type LocalDecision, type Via } from '../engine/local-path.js';
import { treeIndexScan } from './tree-index.js';
import { privateScratch } from '../session/scratch.js';
import { COPY_PREFIX, copyOf, removeCopies, sqliteOnlineCopies, type OnlineCopies } from './sqlite-copies.js';
import { dumpDatabase, mongoTarget, pgTarget } from './dumps.js';
import { artifactName } from './artifact-name.js';
import { findVolume, isDumpMethod, LABEL, type Model, type VolumeModel } from '../config/model.js';
import { mapLimited } from '../util/concurrency.js';
import { UsageError } from '../config/errors.js';
import { isSafeRelativePath } from '../config/syntax.js';
import { transformArchive, type Chunks } from '../engine/archive.js';
import { displayName, entryNameOf } from '../engine/tar-format.js';
import { hostSpecialFilesScan, parseLinkGroups, parseOwnEntries, parseRootIdentity, parseSpecialFiles, specialFilesScan, type SpecialFile } from '../engine/special-files.js';
import { startStreaming, renderCommand, type Command, type CommandResult, type Runner } from '../engine/command.js';
import { mongo, pg } from '../engine/databases.js';
import { docker } from '../engine/docker.js';
import { inspectVolumes, runningContainersUsing, withoutHelpers, type ContainerState, type VolumeState } from '../engine/inspect.js';
import { filters, programAvailable, type Compression } from '../engine/pipeline.js';
import { type ArtifactRecord, type Manifest } from './set.js';
import { DirectorySetWriter, RepositorySetWriter, withShadows, type SetWriter } from './set-writer.js';
import type { Repository } from './repository.js';
import { restic, TAG } from '../engine/restic.js';
import { EngineSession, helperImage, volumeMount } from '../session/session.js';
import { formatBytes, silentProgress, type ProgressFactory } from '../cli/progress.js';

/**
 * A backup run: volumes in, one set out (<to>/<project>/<UTC stamp>/ with one
 * artifact per volume, manifest.json last). Each tar volume is read on the
 * local path or through the archive endpoint (see local-path.ts), with its
 * writers stopped for the shortest window; SQLite volumes are copied online
 * (sqlite-copies.ts), databases dumped in their container (dumps.ts). Every
 * change to the engine goes through the run's EngineSession and its lock.
 */

export interface BackupOptions {
  /** A backup root of set directories, or a restic repository (see destination.ts). */
  to: string | Repository;
  /** Create the repository when it does not exist yet (--init). */
  init?: boolean;
  volumes: string[];
  paths: string[];
  runner: Runner;
  progress?: ProgressFactory;
  log?: (line: string) => void;
  /** Prefer gzip even when zstd is installed (the stack's backups.compression decides otherwise). */
  compression?: Compression;
  /** How volume content is read: `auto` takes the local path where it is proven safe (default). */
  via?: Via;
}

export interface BackupResult {
  id: string;
  path: string;
  artifacts: ArtifactRecord[];
  stopped: string[];
  removedIncomplete: string[];
  durationSeconds: number;
  /** What this run undid of earlier, interrupted runs (containers started again, helpers removed, restores finished). */
  recovered: string[];
  /** Per tar volume: whether it was read on the local path or through the archive endpoint, and why. */
  via: LocalDecision[];
}

/** Which volumes a backup covers: the named ones, or every volume whose method is not none. */
export function selectVolumes(model: Model, names: string[], paths: string[]): VolumeModel[] {
  const selected = names.length > 0 ? [...new Set(names)].map((n) => findVolume(model, n)) : model.volumes.filter((v) => v.backup.method !== 'none');
  if (names.length > 0) {
    for (const v of selected) {
      if (v.backup.method === 'none') throw new UsageError(`volume ${v.key} has backup method none${v.backup.reason === undefined ? '' : ` (${v.backup.reason})`}; nothing to back up`);
    }
  }
  if (paths.length > 0) {
    if (selected.length !== 1) throw new UsageError('--path selects files inside one volume: name it with --volume');
    const only = selected[0];
    if (only !== undefined && (isDumpMethod(only.backup.method))) {
      throw new UsageError(`--path does not apply to volume ${only.key}: its backup is a ${only.backup.method} of the whole database`);
    }
    for (const p of paths) {
      if (normalizedPath(p) === '') throw new UsageError(`--path ${p} is the whole volume: leave --path out to back up all of it`);
      if (!isSafeRelativePath(normalizedPath(p))) throw new UsageError(`--path ${p}: write a path relative to the volume root, without a leading / or ".."`);
    }
  }
  if (selected.length === 0) throw new UsageError(`stack ${model.app}-${model.env} has no volume to back up`);
  return selected;
}

/** `./a/b/` -> `a/b`; `.` and `./` -> '' (the whole volume). */
export function normalizedPath(p: string): string {
  const n = p.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  return n === '.' ? '' : n;
}

/** Containers (from the engine) that have the volume mounted read-write and are running. */
function writersOf(volume: VolumeModel, running: ContainerState[]): string[] {
  return running
    .filter((c) => c.Mounts.some((m) => m.RW && (volume.kind === 'bind' ? m.Type === 'bind' && m.Source === volume.hostPath : m.Name === volume.name)))
    .map((c) => c.Name);
}

/**
 * Groups tar volumes so that each group's writers are stopped once: volumes
 * sharing a writer (digidig's app_logs is written by every service) form one
 * group; unrelated groups run in parallel.
 */
function downtimeGroups(volumes: Array<{ volume: VolumeModel; writers: string[] }>): Array<{ volumes: VolumeModel[]; writers: string[] }> {
  const groups: Array<{ volumes: VolumeModel[]; writers: Set<string> }> = [];
  for (const item of volumes) {
    const overlapping = groups.filter((g) => item.writers.some((w) => g.writers.has(w)));
    const merged = { volumes: [item.volume], writers: new Set(item.writers) };
    for (const g of overlapping) {
      merged.volumes.unshift(...g.volumes);
      for (const w of g.writers) merged.writers.add(w);
      groups.splice(groups.indexOf(g), 1);
    }
    groups.push(merged);
  }
  return groups.map((g) => ({ volumes: g.volumes, writers: [...g.writers].sort() }));
}

function compressionFor(model: Model, override: Compression | undefined): Compression {
  const wanted = override ?? model.backups.compression;
  return wanted === 'zstd' && !programAvailable('zstd') ? 'gzip' : wanted;
}




export async function backup(model: Model, options: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const { runner } = options;
  const log = options.log ?? (() => undefined);
  const progress = options.progress ?? silentProgress;
  const volumes = selectVolumes(model, options.volumes, options.paths);
  const paths = [...new Set(options.paths.map(normalizedPath))];
  const compression = compressionFor(model, options.compression);
  if (compression !== (options.compression ?? model.backups.compression)) log('zstd is not installed here: compressing with gzip (slower; install the zstd package)');
  const recipients = model.backups.recipients;
  const stepsAfterTar: Command[] = [filters.compress(compression, model.backups.zstdLevel), ...(recipients.length > 0 ? [filters.encrypt(recipients)] : [])];
  const stepsAfterDump: Command[] = recipients.length > 0 ? [filters.encrypt(recipients)] : [];
  const repo = typeof options.to === 'string' ? undefined : options.to;
  // Before anything stops, and while the engine is asked about the volumes: the repository must open with this password.
  const opening = repo?.open(model.project, { init: options.init === true, clearStaleLocks: !runner.dryRun });
  opening?.catch(() => undefined);
  if (repo !== undefined && recipients.length > 0) log(`note: ${repo.display} encrypts everything with its own key; backups.encryption (age) applies to set directories only`);

  const inspected = inspectVolumes(runner, volumes.filter((v) => v.kind !== 'bind').map((v) => v.name));
  inspected.catch(() => undefined);
  // The lock is taken while the engine is asked about the volumes (and while the repository opens, below).
  const sessionOpening = runner.dryRun ? undefined : EngineSession.open(runner, model, 'backup', log);
  // Handled below: a busy lock must not crash the process as an unhandled rejection meanwhile.
  sessionOpening?.catch(() => undefined);
  const letGo = async (): Promise<void> => (await sessionOpening?.catch(() => undefined))?.close();
  const states = new Map(
    (
      await inspected.catch(async (err: unknown) => {
        await letGo();
        throw err;
      })
    ).map((v) => [v.Name, v]),
  );
  const existing = new Set(states.keys());
  for (const v of volumes) {
    const missing = v.kind === 'bind' ? engineIsLocal() && !existsSync(v.hostPath ?? '') : !existing.has(v.name);
    if (missing) {
      await letGo();
      throw new Error(`volume ${v.key} (${v.kind === 'bind' ? v.hostPath ?? '' : v.name}) does not exist on the engine; deploy the stack first, or leave it out with --volume`);
    }
  }
  const usingVolumes = async (): Promise<ContainerState[]> =>
    withoutHelpers(
      await runningContainersUsing(
        runner,
        volumes.filter((v) => v.kind !== 'bind').map((v) => v.name),
        volumes.filter((v) => v.kind === 'bind').map((v) => v.hostPath ?? ''),
      ),
    );

  if (sessionOpening === undefined) {
    await opening;
    const running = await usingVolumes();
    const decisions = await decideVia(runner, model, volumes.filter((v) => !isDumpMethod(v.backup.method)), options.via ?? 'auto', states, running);
    planBackup(model, volumes, running, options, stepsAfterTar, runner, decisions, repo);
    return { id: '(dry run)', path: '(dry run)', artifacts: [], stopped: [], removedIncomplete: [], durationSeconds: 0, recovered: [], via: [...decisions.values()] };
  }

  // The volumes are looked at while the repository opens (restic's key derivation alone takes
  // half a second); nothing stops before all are done, and a repository that does not open
  // (a wrong password: exit 2) lets the lock go again.
  let session: EngineSession;
  try {
    session = await sessionOpening;
  } catch (err) {
    // A busy lock wins over a repository that does not open: the lock is what the operator waits for.
    await opening?.catch(() => undefined);
    throw err;
  }
  let writer: SetWriter | undefined;
  let committed = false;
  try {
    const running = await usingVolumes();
    const scanned: ScanContext = { model, runner, session, paths, log, running, specials: new Map(), linkGroups: new Map(), staleCopies: new Map(), local: new Map(), via: options.via ?? 'auto', states };
    const tarLike = volumes.filter((v) => v.backup.method === 'tar' || v.backup.method === 'sqlite');
    const scanning = findSpecialFiles(scanned, tarLike);
    scanning.catch(() => undefined);
    const repoSets = await opening;
    await scanning;
    writer =
      typeof options.to === 'string'
        ? await DirectorySetWriter.create(options.to, model.project, { steps: { tar: stepsAfterTar, dump: stepsAfterDump }, compression, encrypted: recipients.length > 0 })
        : await RepositorySetWriter.create(options.to, model, repoSets ?? [], log);
    if (writer.kind === 'directory') for (const path of writer.removedIncomplete) log(`removed incomplete backup set ${path} (no manifest: an interrupted run)`);
    const records = new Map<string, ArtifactRecord>();
    const stopped: string[] = [];
    const context: ArtifactContext = { ...scanned, writer, progress, expected: writer.expected };

    const dumps = volumes.filter((v) => isDumpMethod(v.backup.method));

    // SQLite volumes copy online when a running container has sqlite3; otherwise they fall back to stopping writers.
    const needStop: Array<{ volume: VolumeModel; writers: string[] }> = [];
    for (const volume of tarLike) {
      const writers = volume.backup.stop ? writersOf(volume, running) : [];
      if (volume.backup.method === 'sqlite') {
        const started = performance.now();
        const online = await sqliteOnlineCopies(runner, running, volume, log);
        if (online !== undefined) {
          records.set(volume.key, withDuration(await archiveVolume(context, volume, online), started));
          continue;
        }
        log(`volume ${volume.key}: no running container with sqlite3 can make an online copy; stopping its writers instead`);
      }
      needStop.push({ volume, writers });
    }
    await mapLimited(downtimeGroups(needStop), 2, async (group) => {
      // Helpers exist before the writers stop, and the writers start again once every volume of the group has been read.
      await withHelpersFor(context, group.volumes, async (helpers) => {
        if (group.writers.length > 0) log(`stopping ${group.writers.join(', ')} for a consistent copy of ${group.volumes.map((v) => v.key).join(', ')}`);
        await session.withStopped(group.writers, async (resume) => {
          stopped.push(...group.writers);
          let unread = group.volumes.length;
          const onRead = (): void => {
            unread -= 1;
            if (unread === 0) resume().catch(() => undefined);
          };
          // All at once: the writers wait for the last volume of their group to be read.
          await mapLimited(group.volumes, group.volumes.length, async (volume) => {
            const started = performance.now();
            const local = context.local.get(volume.key)?.path;
            const helper = helpers.get(volume.key);
            const record = withDuration(
              local !== undefined
                ? await streamLocal(context, volume, undefined, local, onRead)
                : helper !== undefined
                  ? await streamVolume(context, volume, undefined, helper, onRead)
                  : await Promise.reject(new Error(`internal: no helper for volume ${volume.key}`)),
              started,
            );
            records.set(volume.key, { ...record, ...(group.writers.length > 0 ? { stopped: group.writers } : {}) });
          });
        });
      });
    });
    for (const volume of dumps) {
      const started = performance.now();
      records.set(volume.key, withDuration(await dumpDatabase(context, volume), started));
    }

    const artifacts = volumes.map((v) => records.get(v.key)).filter((r): r is ArtifactRecord => r !== undefined);
    const durationSeconds = (Date.now() - started) / 1000;
    const manifest: Manifest = {
      format: 1,
      project: model.project,
      env: model.env,
      app: model.app,
      created: writer.created.toISOString(),
      id: writer.id,
      tool: 'stowage',
      durationSeconds,
      artifacts,
    };
    const stored = await writer.commit(manifest);
    committed = true;
    return { id: writer.id, path: writer.location, artifacts: stored.artifacts, stopped: [...new Set(stopped)].sort(), removedIncomplete: writer.removedIncomplete, durationSeconds, recovered: session.recovered, via: [...context.local.values()] };
  } catch (err) {
    const explained = repo === undefined ? err : repo.explain(err);
    throw writer?.kind === 'directory' && !committed && isNoSpace(explained) ? new Error(`${noSpaceMessage(writer.location)} (${explained instanceof Error ? explained.message.split('\n')[0] ?? '' : String(explained)})`) : explained;
  } finally {
    // A failed run leaves no half set that counts (the next run removes what is left).
    if (writer !== undefined && !committed) await writer.abandon().catch(() => undefined);
    await session.close();
  }
}

/** The artifact's own time, from the start of its copy to its file being written (status.mjs charts it per volume). */
function withDuration(record: ArtifactRecord, startedMs: number): ArtifactRecord {
  return { ...record, durationSeconds: Math.round(performance.now() - startedMs) / 1000 };
}

interface ArtifactContext {
  model: Model;
  runner: Runner;
  session: EngineSession;
  writer: SetWriter;
  paths: string[];
  progress: ProgressFactory;
  log: (line: string) => void;
  running: ContainerState[];
  expected: Map<string, number>;
  /** Sockets and device files per volume, which the archive leaves out. */
  specials: Map<string, SpecialFile[]>;
  /** How each tar volume is read (the local path or the archive endpoint), decided from the scan. */
  local: Map<string, LocalDecision>;
  via: Via;
  states: Map<string, VolumeState>;
  /** `.stowage-sqlite-*` copies an interrupted backup left in a volume: never archived. */
  staleCopies: Map<string, string[]>;
  /** Hard link groups per volume, looked up when --path selects part of it. */
  linkGroups: Map<string, Map<string, string[]>>;
}

/** What the look before anything stops needs and fills: everything but the set being written. */
type ScanContext = Omit<ArtifactContext, 'writer' | 'expected' | 'progress'>;

/** The volume's tree through the archive endpoint of a never-started helper, compressed (and encrypted) into the set. */
async function archiveVolume(ctx: ArtifactContext, volume: VolumeModel, online: OnlineCopies | undefined): Promise<ArtifactRecord> {
  const image = await helperImage(ctx.runner, ctx.model, volume.key);
  const local = ctx.local.get(volume.key)?.path;
  try {
    if (local !== undefined) return await streamLocal(ctx, volume, online, local);
    return await ctx.session.withHelper(image, [volumeMount(volume, HELPER_MOUNT, true)], (name) => streamVolume(ctx, volume, online, { name, image }));
  } finally {
    if (online !== undefined && online.copies.length > 0) await removeCopies(ctx.runner, volume, online, image, ctx.session.labels(), ctx.log);
  }
}

interface Helper {
  name: string;
  image: string;
}

const HELPER_MOUNT = '/data';

/** One never-started helper per volume, all created before `work` and all removed after it. */
async function withHelpersFor<T>(ctx: ArtifactContext, volumes: VolumeModel[], work: (helpers: Map<string, Helper>) => Promise<T>): Promise<T> {
  const helpers = new Map<string, Helper>();
  const open = async (index: number): Promise<T> => {
    const volume = volumes[index];
    if (volume === undefined) return work(helpers);
    // The local path reads the directory itself: no helper.
    if (ctx.local.get(volume.key)?.path !== undefined) return open(index + 1);
    const image = await helperImage(ctx.runner, ctx.model, volume.key);
    return ctx.session.withHelper(image, [volumeMount(volume, HELPER_MOUNT, true)], (name) => {
      helpers.set(volume.key, { name, image });
      return open(index + 1);
    });
  };
  return open(0);
}

/**
 * Streams the volume out of `helper` into the set. `onRead` runs once the
 * engine has delivered the whole tree: the volume is no longer read, even if
 * compression is still catching up.
 */
async function streamVolume(ctx: ArtifactContext, volume: VolumeModel, online: OnlineCopies | undefined, { name: helper }: Helper, onRead?: () => void): Promise<ArtifactRecord> {
  const mountPoint = HELPER_MOUNT;
  const reader = startStreaming(docker.archiveRead(helper, mountPoint), { stdin: 'ignore', stdout: 'pipe' });
  const raw = reader.child.stdout;
  if (raw === null) throw new Error('docker cp produced no stream');
  const copies = online?.copies ?? [];
  const matched = new Set<string>();
  const excluded = volume.backup.exclude.map((p) => entryNameOf(p.replace(/^\.\//, '').replace(/\/+$/, '')));
  // Device files are left out (restores refuse them); sockets the endpoint leaves out itself.
  const specials = ctx.specials.get(volume.key) ?? [];
  const devices = [...specials.filter((f) => f.kind !== 'socket').map((f) => f.path), ...(ctx.staleCopies.get(volume.key) ?? [])];
  const needsTransform = ctx.paths.length > 0 || copies.length > 0 || excluded.length > 0 || devices.length > 0;
  const source: Chunks = needsTransform
    ? transformArchive(raw, {
        include: ctx.paths.map(entryNameOf),
        onKept: (name) => matched.add(name),
        exclude: [...excluded, ...devices, ...copies.map((c) => entryNameOf(c.copyInVolume))],
        splice: copies.map((c) => ({
          name: entryNameOf(c.database),
          open: () => Promise.resolve(copyOf(helper, `${mountPoint}/${c.copyInVolume}`)),
        })),
        ...(ctx.linkGroups.has(volume.key) ? { linkGroups: ctx.linkGroups.get(volume.key) } : {}),
        dropWith: (name) => copies.some((c) => name === entryNameOf(`${c.database}-wal`) || name === entryNameOf(`${c.database}-shm`) || name === entryNameOf(`${c.database}-journal`)),
      })
    : raw;
  const bar = ctx.progress(volume.key, ctx.paths.length > 0 ? undefined : ctx.expected.get(volume.key));
  const unmatched = (): string[] => ctx.paths.filter((p) => { const n = entryNameOf(p); return ![...matched].some((m) => m === n || m.startsWith(`${n}/`)); });
  // Without a rewrite, docker cp feeds zstd directly: the uncompressed stream never passes through node.
  const read = reader.done.then(() => onRead?.());
  const artifact = needsTransform
    ? (await Promise.all([ctx.writer.tarStream(volume, source), read]))[0]
    : // The writer awaits the reader itself, to name the real cause of a failure.
      (await Promise.all([ctx.writer.tarProcess(volume, reader, (n) => bar.add(n)), read.catch(() => undefined)]))[0];
  bar.finish();
  const nothing = unmatched();
  if (nothing.length > 0) throw new Error(`volume ${volume.key}: --path ${nothing.join(', --path ')} matches nothing in the volume; nothing was backed up. Check the path with: npx zx scripts/inspect.mjs --stack ${ctx.model.app}-${ctx.model.env} ls ${volume.key}`);
  return {
    volume: volume.key,
    method: volume.backup.method,
    ...artifact,
    ...(ctx.paths.length > 0 ? { paths: ctx.paths } : {}),
    ...(volume.backup.method === 'sqlite' ? { databases: copies.map((c) => c.database) } : {}),
    ...(specials.length > 0 ? { skipped: specials.map((f) => ({ path: displayName(f.path), kind: f.kind })) } : {}),
  };
}

/**
 * The local path: GNU tar reads the volume's directory on this machine (proven
 * to be the one the engine mounts) straight into the compressor. tar itself
 * leaves out what the archive must not hold and names the SQLite copies after
 * the live databases, so no byte passes through node on the way.
 */
async function streamLocal(ctx: ArtifactContext, volume: VolumeModel, online: OnlineCopies | undefined, directory: string, onRead?: () => void): Promise<ArtifactRecord> {
  const copies = online?.copies ?? [];
  const missing = ctx.paths.filter((p) => !existsOnHost(join(directory, p)));
  if (missing.length > 0) throw new Error(`volume ${volume.key}: --path ${missing.join(', --path ')} matches nothing in the volume; nothing was backed up. Check the path with: npx zx scripts/inspect.mjs --stack ${ctx.model.app}-${ctx.model.env} ls ${volume.key}`);
  const specials = ctx.specials.get(volume.key) ?? [];
  const excluded = [
    ...volume.backup.exclude.map((p) => entryNameOf(normalizedPath(p))),
    ...specials.filter((f) => f.kind !== 'socket').map((f) => f.path),
    ...(ctx.staleCopies.get(volume.key) ?? []),
    ...copies.flatMap((c) => [c.database, `${c.database}-wal`, `${c.database}-shm`, `${c.database}-journal`].map(entryNameOf)),
  ];
  // The copy takes the live file's owner, mode and times, so a restore puts back what was there.
  for (const c of copies) matchMetadata(join(directory, c.copyInVolume), join(directory, c.database));
  const details = {
    ...(ctx.paths.length > 0 ? { paths: ctx.paths } : {}),
    ...(volume.backup.method === 'sqlite' ? { databases: copies.map((c) => c.database) } : {}),
    ...(specials.length > 0 ? { skipped: specials.map((f) => ({ path: displayName(f.path), kind: f.kind })) } : {}),
  };
  if (ctx.writer.takesDirectories && ctx.paths.length === 0 && excluded.every(resticNameable)) {
    // A whole volume into a repository: a directory snapshot, so that the next backup reads only what changed.
    const withoutLive = excluded.filter((n) => !copies.some((c) => n === entryNameOf(c.database)));
    const artifact = await ctx.writer.directory(volume, directory, {
      excludes: [...withoutLive, ...copies.map((c) => entryNameOf(c.copyInVolume))].map((n) => join(directory, displayName(n))),
      shadows: copies.map((c) => [join(directory, c.copyInVolume), join(directory, c.database)]),
    });
    onRead?.();
    return { volume: volume.key, method: volume.backup.method, ...artifact, ...details };
  }
  const scratch = privateScratch('backup');
  try {
    const excludeFile = join(scratch, 'exclude');
    writeFileSync(excludeFile, Buffer.from(excluded.map((n) => `./${n}\n`).join(''), 'latin1'), { mode: 0o600 });
    const reader = startStreaming(hostTarCreate(directory, { excludeFile, include: ctx.paths, rename: copies.map((c) => [c.copyInVolume, c.database]) }), { stdin: 'ignore', stdout: 'pipe' });
    const bar = ctx.progress(volume.key, ctx.paths.length > 0 ? undefined : ctx.expected.get(volume.key));
    const read = reader.done.then(() => onRead?.());
    const [artifact] = await Promise.all([ctx.writer.tarProcess(volume, reader, (n) => bar.add(n)), read.catch(() => undefined)]);
    bar.finish();
    return { volume: volume.key, method: volume.backup.method, ...artifact, ...details };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Whether restic can be told to leave this name out: its exclude patterns are arguments, which carry UTF-8 only. */
function resticNameable(binaryName: string): boolean {
  const bytes = Buffer.from(binaryName, 'latin1');
  return Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
}

function existsOnHost(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Gives `copy` the owner, mode and times of `live` (both on this machine, as root). */
function matchMetadata(copy: string, live: string): void {
  const st = lstatSync(live);
  chownSync(copy, st.uid, st.gid);
  chmodSync(copy, st.mode & 0o7777);
  utimesSync(copy, st.atime, st.mtime);
}

/**
 * Looks for sockets and device files in each volume before anything stops,
 * and says which ones the backup will not hold: never a silent loss.
 */
async function findSpecialFiles(ctx: ScanContext, volumes: VolumeModel[]): Promise<void> {
  await Promise.all(
    volumes.map(async (volume) => {
      const look = await lookAtVolume(ctx.runner, ctx.model, volume, ctx.via, ctx.states.get(volume.name), ctx.running, ctx.session.labels(), ctx.paths.length > 0);
      let found: SpecialFile[];
      let leftovers: string[] = [];
      try {
        if (look.scan.code !== 0) throw new Error(look.scan.stderr.trim().split('\n').pop() ?? `exit ${look.scan.code}`);
        found = parseSpecialFiles(look.scan.stdout);
        leftovers = parseOwnEntries(look.scan.stdout);
        ctx.local.set(volume.key, look.decide());
        if (ctx.paths.length > 0) ctx.linkGroups.set(volume.key, parseLinkGroups(look.scan.stdout));
      } catch (err) {
        ctx.local.set(volume.key, unlooked(volume));
        ctx.log(`warning: volume ${volume.key}: could not look for sockets and device files (${err instanceof Error ? err.message : String(err)}); the archive endpoint leaves sockets out, and a device file would make the set unrestorable. Set helper.image to an image with find and od (busybox)`);
        return;
      }
      let decision = ctx.local.get(volume.key);
      // GNU tar reads the names it leaves out one per line: a name holding a newline must go the other way.
      if (decision?.path !== undefined && [...found.filter((f) => f.kind !== 'socket').map((f) => f.path), ...leftovers].some((n) => n.includes('\n'))) {
        decision = { volume: volume.key, path: undefined, reason: 'the archive endpoint: a file to leave out has a newline in its name' };
        ctx.local.set(volume.key, decision);
      }
      if (ctx.via === 'local' && decision?.path === undefined) throw new Error(`--via local: volume ${volume.key} cannot take the local path: ${decision?.reason.replace(/^the archive endpoint: /, '') ?? 'it was not proven'}; leave out --via local to read it through the engine`);
      const halfRestored = leftovers.filter((n) => !n.startsWith(COPY_PREFIX));
      if (halfRestored.length > 0) {
        throw new Error(
          `volume ${volume.key} holds ${halfRestored.map(displayName).join(', ')}: what an interrupted restore left, which no lock journal explains; ` +
            'the backup stops here so that half a restore is never archived. Look at it (npx zx scripts/inspect.mjs ... ls), put the content you want in place and remove these, then back up again',
        );
      }
      const staleCopies = leftovers.filter((n) => n.startsWith(COPY_PREFIX));
      if (staleCopies.length > 0) {
        ctx.log(`volume ${volume.key}: leaving out the temporary SQLite copies ${staleCopies.join(', ')} an interrupted backup left; remove them when convenient`);
        ctx.staleCopies.set(volume.key, staleCopies);
      }
      const inScope = ctx.paths.length === 0 ? found : found.filter((f) => ctx.paths.some((p) => { const n = entryNameOf(p); return f.path === n || f.path.startsWith(`${n}/`); }));
      for (const f of inScope) {
        ctx.log(`warning: volume ${volume.key}: ${f.kind} ./${displayName(f.path)} is not in the backup: ${f.kind === 'socket' ? 'the engine cannot archive sockets (the program that listens on it creates it again)' : 'restores refuse device files; create it again by hand (mknod) if it is needed'}`);
      }
      if (inScope.length > 0) ctx.specials.set(volume.key, inScope);
    }),
  );
}

/**
 * The read-only look at a volume before anything stops: its sockets and
 * device files, leftovers of interrupted runs, and whether the local path may
 * read it. When a running container already proves the local path
 * (local-path.ts), the look runs on this machine; otherwise a helper of the
 * engine looks, and its view of the volume root is the proof.
 */
async function lookAtVolume(
  runner: Runner,
  model: Model,
  volume: VolumeModel,
  via: Via,
  state: VolumeState | undefined,
  running: ContainerState[],
  labels: Record<string, string>,
  links: boolean,
): Promise<{ scan: CommandResult; decide: () => LocalDecision }> {
  if (localPathConceivable(via)) {
    const seen = seenByRunningContainer(volume, running);
    const decision = seen === undefined ? undefined : decideLocal(via, volume, state, seen);
    if (decision?.path !== undefined) {
      const scan = await runner.run(hostSpecialFilesScan(decision.path, links), { allowFailure: true });
      if (scan.code === 0) return { scan, decide: () => decision };
    }
  }
  const image = await helperImage(runner, model, volume.key);
  const scan = await runner.run(specialFilesScan(image, volumeMount(volume, HELPER_MOUNT, true), labels, links), { allowFailure: true });
  return { scan, decide: () => { const seen = parseRootIdentity(scan.stdout); return decideLocal(via, volume, state, seen === undefined ? undefined : { ...seen, by: 'a helper container' }); } };
}

/** A volume nobody could look at goes through the engine. */
function unlooked(volume: VolumeModel): LocalDecision {
  return { volume: volume.key, path: undefined, reason: 'the archive endpoint: the helper could not look at the volume' };
}

/** For --dry-run: how each volume would be read, from the same read-only look a backup takes. */
async function decideVia(runner: Runner, model: Model, volumes: VolumeModel[], via: Via, states: Map<string, VolumeState>, running: ContainerState[]): Promise<Map<string, LocalDecision>> {
  const decisions = new Map<string, LocalDecision>();
  for (const volume of volumes) {
    const look = await lookAtVolume(runner, model, volume, via, states.get(volume.name), running, { [LABEL.project]: model.project, [LABEL.env]: model.env }, false);
    decisions.set(volume.key, look.scan.code === 0 ? look.decide() : unlooked(volume));
  }
  return decisions;
}

function planBackup(model: Model, volumes: VolumeModel[], running: ContainerState[], options: BackupOptions, stepsAfterTar: Command[], runner: Runner, decisions: Map<string, LocalDecision>, repo: Repository | undefined): void {
  const say = (line: string): void => runner.plan(line);
  say(typeof options.to === 'string' ? `# backup of ${model.app}-${model.env} into ${join(options.to, model.project, '<UTC timestamp>')}/` : `# backup of ${model.app}-${model.env} into ${options.to.display}, one snapshot per volume tagged set=<UTC timestamp>`);
  const tags = (volume: string | undefined): { tags: string[]; host: string } => ({
    tags: [TAG.stowage, TAG.project(model.project), TAG.env(model.env), TAG.set('<UTC timestamp>'), volume === undefined ? TAG.manifest : TAG.volume(volume)],
    host: model.project,
  });
  const store = (volume: VolumeModel, file: string): string =>
    repo === undefined ? `> ${file}` : `| ${renderCommand(restic.backupStdin(repo.destination, file, tags(volume.key)))}`;
  for (const volume of volumes) {
    const mount = volumeMount(volume, '/data', true);
    const helper = `${model.project}-stowage-helper-XXXX`;
    const file = repo === undefined ? artifactName(volume, compressionFor(model, options.compression), model.backups.recipients.length > 0) : isDumpMethod(volume.backup.method) ? artifactName(volume, 'zstd', false) : `${volume.key}.tar`;
    const compress = repo === undefined ? ` | ${stepsAfterTar.map(renderCommand).join(' | ')}` : '';
    if (isDumpMethod(volume.backup.method)) {
      const container = model.containers.find((c) => c.service === volume.backup.service)?.name ?? '?';
      const state = running.find((c) => c.Name === container);
      const inside = '/tmp/stowage-XXXX.dump';
      const cmd = volume.backup.method === 'pg_dump' && state !== undefined ? pg.dump(pgTarget(volume, state, false), inside) : state !== undefined ? mongo.dump(mongoTarget(volume, state), inside) : undefined;
      say(`# ${volume.key}: ${volume.backup.method} inside ${container}${state === undefined ? ' (not running: the backup would fail)' : ''}`);
      if (cmd !== undefined) say(renderCommand(cmd));
      say(`${renderCommand(docker.archiveReadPath(container, inside))} | tar -xO ${store(volume, file)}`);
      continue;
    }
    const writers = volume.backup.stop && volume.backup.method === 'tar' ? writersOf(volume, running) : [];
    const decision = decisions.get(volume.key);
    say(`# ${volume.key}: ${volume.backup.method}${volume.backup.method === 'sqlite' ? ` (online copy of ${volume.backup.databases.join(', ')})` : ''}; read through ${decision?.reason ?? 'the archive endpoint'}`);
    if (decision?.path !== undefined) {
      if (writers.length > 0) say(renderCommand(docker.stop(writers)));
      if (repo !== undefined && options.paths.length === 0) {
        const databases = volume.backup.method === 'sqlite' ? volume.backup.databases : [];
        const snapshot = restic.backupDirectory(repo.destination, decision.path, { ...tags(volume.key), excludes: volume.backup.exclude.map((p) => join(decision.path ?? '', normalizedPath(p))) });
        if (databases.length > 0) say(`# the online copies are shown to restic as ${databases.join(', ')} (a bind mount in restic's own mount namespace)`);
        say(renderCommand(withShadows(snapshot, databases.map((d) => [join(decision.path ?? '', '.stowage-sqlite-XXXX'), join(decision.path ?? '', d)]))));
        say(renderCommand(treeIndexScan(decision.path)) + '   # hard links and symlinks, for the manifest');
      } else {
        say(`${renderCommand(hostTarCreate(decision.path, { excludeFile: undefined, include: options.paths.map(normalizedPath), rename: [] }))}${compress} ${store(volume, file)}`);
      }
      if (writers.length > 0) say(`${renderCommand(docker.start(writers))}   # as soon as ${repo === undefined ? 'tar' : 'restic'} has read the whole directory`);
      continue;
    }
    say(renderCommand(docker.createHelper(helper, '<helper image>', [mount], { [LABEL.project]: model.project, [LABEL.env]: model.env })));
    if (writers.length > 0) say(renderCommand(docker.stop(writers)));
    say(`${renderCommand(docker.archiveRead(helper, '/data'))}${compress} ${store(volume, file)}`);
    if (writers.length > 0) say(`${renderCommand(docker.start(writers))}   # as soon as docker cp has read the whole volume`);
    say(renderCommand(docker.removeContainer(helper)));
  }
  if (repo === undefined) say('# then manifest.json is written last (temp file, fsync, rename)');
  else say(`# then the set's manifest is stored last: <manifest.json> | ${renderCommand(restic.backupStdin(repo.destination, 'manifest.json', tags(undefined)))}`);
}

/** A write that failed because the backup's filesystem is full (node's ENOSPC, or a filter saying so). */
export function isNoSpace(err: unknown): boolean {
  if (err instanceof Error && 'code' in err && err.code === 'ENOSPC') return true;
  return err instanceof Error && /ENOSPC|No space left on device/.test(err.message);
}

function noSpaceMessage(setPath: string): string {
  let free = 'unknown space';
  try {
    const fs = statfsSync(dirname(setPath));
    free = `${formatBytes(fs.bavail * fs.bsize)} free of ${formatBytes(fs.blocks * fs.bsize)}`;
  } catch {
    // The figure is a courtesy; the message stands without it.
  }
  return `no space left on the filesystem of ${setPath} (${free}); the backup stopped, the incomplete set was removed and no set was made. Free space there, or back up elsewhere with --to DIR`;
}
