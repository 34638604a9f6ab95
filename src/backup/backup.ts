import { existsSync, rmSync, statfsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { PassThrough } from 'node:stream';
import { UsageError } from '../config/errors.js';
import { findVolume, type Model, type VolumeModel } from '../config/model.js';
import { isSafeRelativePath } from '../config/syntax.js';
import { transformArchive, singleFileContent, type Chunks } from '../engine/archive.js';
import { displayName, entryNameOf } from '../engine/tar-format.js';
import { parseLinkGroups, parseOwnEntries, parseSpecialFiles, specialFilesScan, type SpecialFile } from '../engine/special-files.js';
import { startStreaming, renderCommand, type Command, type Runner } from '../engine/command.js';
import { mongo, pg, removeFile, sqlite } from '../engine/databases.js';
import { docker } from '../engine/docker.js';
import { engineIsLocal } from '../engine/endpoint.js';
import { inspectContainers, inspectVolumes, runningContainersUsing, withoutHelpers, type ContainerState } from '../engine/inspect.js';
import { filters, programAvailable, writeArtifact, writeArtifactFromProcess, type Compression } from '../engine/pipeline.js';
import { createSetDir, fsyncPath, listSets, readManifest, removeIncompleteSets, writeManifest, type ArtifactRecord, type Manifest } from './set.js';
import { EngineSession, helperImage, uniqueSuffix, volumeMount } from '../session/session.js';
import { formatBytes, silentProgress, type ProgressFactory } from '../cli/progress.js';

export interface BackupOptions {
  to: string;
  volumes: string[];
  paths: string[];
  runner: Runner;
  progress?: ProgressFactory;
  log?: (line: string) => void;
  /** Prefer gzip even when zstd is installed (the stack's backups.compression decides otherwise). */
  compression?: Compression;
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
    if (only !== undefined && (only.backup.method === 'pg_dump' || only.backup.method === 'mongodump')) {
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
export function writersOf(volume: VolumeModel, running: ContainerState[]): string[] {
  return running
    .filter((c) => c.Mounts.some((m) => m.RW && (volume.kind === 'bind' ? m.Type === 'bind' && m.Source === volume.hostPath : m.Name === volume.name)))
    .map((c) => c.Name);
}

/**
 * Groups tar volumes so that each group's writers are stopped once: volumes
 * sharing a writer (digidig's app_logs is written by every service) form one
 * group; unrelated groups run in parallel.
 */
export function downtimeGroups(volumes: Array<{ volume: VolumeModel; writers: string[] }>): Array<{ volumes: VolumeModel[]; writers: string[] }> {
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

function artifactName(volume: VolumeModel, compression: Compression, encrypted: boolean): string {
  const suffix = encrypted ? '.age' : '';
  switch (volume.backup.method) {
    case 'pg_dump':
      return `${volume.key}.pgdump${suffix}`;
    case 'mongodump':
      return `${volume.key}.mongo.archive.gz${suffix}`;
    default:
      return `${volume.key}.tar.${compression === 'zstd' ? 'zst' : 'gz'}${suffix}`;
  }
}

async function runLimited<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const errors: unknown[] = [];
  await Promise.all(
    Array.from({ length: Math.min(limit, queue.length) }, async () => {
      for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
        try {
          await work(item);
        } catch (err) {
          errors.push(err);
        }
      }
    }),
  );
  if (errors.length > 0) throw errors[0];
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

  const existing = new Set((await inspectVolumes(runner, volumes.filter((v) => v.kind !== 'bind').map((v) => v.name))).map((v) => v.Name));
  for (const v of volumes) {
    const missing = v.kind === 'bind' ? engineIsLocal() && !existsSync(v.hostPath ?? '') : !existing.has(v.name);
    if (missing) throw new Error(`volume ${v.key} (${v.kind === 'bind' ? v.hostPath ?? '' : v.name}) does not exist on the engine; deploy the stack first, or leave it out with --volume`);
  }
  const usingVolumes = async (): Promise<ContainerState[]> =>
    withoutHelpers(
      await runningContainersUsing(
        runner,
        volumes.filter((v) => v.kind !== 'bind').map((v) => v.name),
        volumes.filter((v) => v.kind === 'bind').map((v) => v.hostPath ?? ''),
      ),
    );

  if (runner.dryRun) {
    planBackup(model, volumes, await usingVolumes(), options, stepsAfterTar, runner);
    return { id: '(dry run)', path: '(dry run)', artifacts: [], stopped: [], removedIncomplete: [], durationSeconds: 0, recovered: [] };
  }

  const session = await EngineSession.open(runner, model, 'backup', log);
  let setPath: string | undefined;
  try {
    const running = await usingVolumes();
    const removedIncomplete = removeIncompleteSets(options.to, model.project, undefined);
    for (const path of removedIncomplete) log(`removed incomplete backup set ${path} (no manifest: an interrupted run)`);
    const set = await createSetDir(options.to, model.project);
    setPath = set.path;
    const records = new Map<string, ArtifactRecord>();
    const stopped: string[] = [];
    const context: ArtifactContext = { model, runner, session, setPath: set.path, compression, stepsAfterTar, stepsAfterDump, paths, progress, log, running, expected: previousSizes(options.to, model.project), specials: new Map(), linkGroups: new Map(), staleCopies: new Map() };

    const tarLike = volumes.filter((v) => v.backup.method === 'tar' || v.backup.method === 'sqlite');
    await findSpecialFiles(context, tarLike);
    const dumps = volumes.filter((v) => v.backup.method === 'pg_dump' || v.backup.method === 'mongodump');

    // SQLite volumes copy online when a running container has sqlite3; otherwise they fall back to stopping writers.
    const needStop: Array<{ volume: VolumeModel; writers: string[] }> = [];
    for (const volume of tarLike) {
      const writers = volume.backup.stop ? writersOf(volume, running) : [];
      if (volume.backup.method === 'sqlite') {
        const started = performance.now();
        const online = await sqliteOnlineCopies(context, volume);
        if (online !== undefined) {
          records.set(volume.key, withDuration(await archiveVolume(context, volume, online), started));
          continue;
        }
        log(`volume ${volume.key}: no running container with sqlite3 can make an online copy; stopping its writers instead`);
      }
      needStop.push({ volume, writers });
    }
    await runLimited(downtimeGroups(needStop), 2, async (group) => {
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
          await runLimited(group.volumes, group.volumes.length, async (volume) => {
            const helper = helpers.get(volume.key);
            if (helper === undefined) throw new Error(`internal: no helper for volume ${volume.key}`);
            const started = performance.now();
            const record = withDuration(await streamVolume(context, volume, undefined, helper, onRead), started);
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
      created: set.created.toISOString(),
      id: set.path.split('/').pop() ?? '',
      tool: 'stowage',
      durationSeconds,
      artifacts,
    };
    fsyncPath(set.path);
    writeManifest(set.path, manifest);
    setPath = undefined;
    return { id: manifest.id ?? '', path: set.path, artifacts, stopped: [...new Set(stopped)].sort(), removedIncomplete, durationSeconds, recovered: session.recovered };
  } catch (err) {
    throw setPath !== undefined && isNoSpace(err) ? new Error(`${noSpaceMessage(setPath)} (${err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err)})`) : err;
  } finally {
    // A failed run leaves no half set behind (the next run would remove it anyway).
    if (setPath !== undefined) rmSync(setPath, { recursive: true, force: true });
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
  setPath: string;
  compression: Compression;
  stepsAfterTar: Command[];
  stepsAfterDump: Command[];
  paths: string[];
  progress: ProgressFactory;
  log: (line: string) => void;
  running: ContainerState[];
  expected: Map<string, number>;
  /** Sockets and device files per volume, which the archive leaves out. */
  specials: Map<string, SpecialFile[]>;
  /** `.stowage-sqlite-*` copies an interrupted backup left in a volume: never archived. */
  staleCopies: Map<string, string[]>;
  /** Hard link groups per volume, looked up when --path selects part of it. */
  linkGroups: Map<string, Map<string, string[]>>;
}

interface OnlineCopies {
  /** Container that made the copies and the copy paths inside it, per database. */
  container: string;
  copies: Array<{ database: string; copyInVolume: string }>;
}

const COPY_PREFIX = '.stowage-sqlite-';

/**
 * Online copies of the declared SQLite databases, written into the volume by a
 * running container that mounts it (it has the files open and sqlite3 in its
 * image). Undefined when no such container can do it.
 */
async function sqliteOnlineCopies(ctx: ArtifactContext, volume: VolumeModel): Promise<OnlineCopies | undefined> {
  const candidates = ctx.running.filter((c) => c.Mounts.some((m) => m.RW && (volume.kind === 'bind' ? m.Source === volume.hostPath : m.Name === volume.name)));
  for (const container of candidates) {
    const mount = container.Mounts.find((m) => (volume.kind === 'bind' ? m.Source === volume.hostPath : m.Name === volume.name));
    if (mount === undefined) continue;
    const copies: OnlineCopies['copies'] = [];
    let usable = true;
    for (const [index, database] of volume.backup.databases.entries()) {
      const copyName = `${COPY_PREFIX}${uniqueSuffix()}-${index}`;
      const live = `${mount.Destination}/${database}`;
      const copy = `${mount.Destination}/${copyName}`;
      let result = await ctx.runner.run(sqlite.onlineBackup(container.Name, live, copy), { allowFailure: true });
      if (result.code !== 0 && /syntax error|near "INTO"/.test(result.stderr)) {
        result = await ctx.runner.run(sqlite.onlineBackupLegacy(container.Name, live, copy), { allowFailure: true });
      }
      if (result.code === 126 || result.code === 127 || /executable file not found|not found/.test(result.stderr)) {
        usable = false;
        break;
      }
      if (result.code !== 0) {
        if (/unable to open database/.test(result.stderr)) {
          ctx.log(`volume ${volume.key}: ${database} does not exist yet; nothing to copy`);
          continue;
        }
        throw new Error(`online backup of ${database} in ${container.Name} failed: ${result.stderr.trim()}`);
      }
      copies.push({ database, copyInVolume: copyName });
    }
    if (usable) return { container: container.Name, copies };
  }
  return undefined;
}

/** The volume's tree through the archive endpoint of a never-started helper, compressed (and encrypted) into the set. */
async function archiveVolume(ctx: ArtifactContext, volume: VolumeModel, online: OnlineCopies | undefined): Promise<ArtifactRecord> {
  const image = await helperImage(ctx.runner, ctx.model, volume.key);
  try {
    return await ctx.session.withHelper(image, [volumeMount(volume, HELPER_MOUNT, true)], (name) => streamVolume(ctx, volume, online, { name, image }));
  } finally {
    if (online !== undefined && online.copies.length > 0) await removeCopies(ctx, volume, online, image);
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
  const encrypted = ctx.model.backups.recipients.length > 0;
  const file = artifactName(volume, ctx.compression, encrypted);
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
    ? (await Promise.all([writeArtifact(source, ctx.stepsAfterTar, join(ctx.setPath, file)), read]))[0]
    : // writeArtifactFromProcess awaits the reader itself, to name the real cause of a failure.
      (await Promise.all([writeArtifactFromProcess(reader, ctx.stepsAfterTar, join(ctx.setPath, file), (n) => bar.add(n)), read.catch(() => undefined)]))[0];
  bar.finish();
  const nothing = unmatched();
  if (nothing.length > 0) throw new Error(`volume ${volume.key}: --path ${nothing.join(', --path ')} matches nothing in the volume; nothing was backed up. Check the path with: npx zx scripts/inspect.mjs --stack ${ctx.model.app}-${ctx.model.env} ls ${volume.key}`);
  return {
    volume: volume.key,
    file,
    method: volume.backup.method,
    bytes: artifact.bytes,
    sha256: artifact.sha256,
    format: ctx.compression === 'zstd' ? 'tar+zstd' : 'tar+gzip',
    encrypted,
    ...(artifact.sourceBytes > 0 ? { sourceBytes: artifact.sourceBytes } : {}),
    ...(ctx.paths.length > 0 ? { paths: ctx.paths } : {}),
    ...(volume.backup.method === 'sqlite' ? { databases: copies.map((c) => c.database) } : {}),
    ...(specials.length > 0 ? { skipped: specials.map((f) => ({ path: displayName(f.path), kind: f.kind })) } : {}),
  };
}

/**
 * Looks for sockets and device files in each volume before anything stops,
 * and says which ones the backup will not hold: never a silent loss.
 */
async function findSpecialFiles(ctx: ArtifactContext, volumes: VolumeModel[]): Promise<void> {
  await Promise.all(
    volumes.map(async (volume) => {
      const image = await helperImage(ctx.runner, ctx.model, volume.key);
      const scan = await ctx.runner.run(specialFilesScan(image, volumeMount(volume, HELPER_MOUNT, true), ctx.session.labels(), ctx.paths.length > 0), { allowFailure: true });
      let found: SpecialFile[];
      let leftovers: string[] = [];
      try {
        if (scan.code !== 0) throw new Error(scan.stderr.trim().split('\n').pop() ?? `exit ${scan.code}`);
        found = parseSpecialFiles(scan.stdout);
        leftovers = parseOwnEntries(scan.stdout);
        if (ctx.paths.length > 0) ctx.linkGroups.set(volume.key, parseLinkGroups(scan.stdout));
      } catch (err) {
        ctx.log(`warning: volume ${volume.key}: could not look for sockets and device files (${err instanceof Error ? err.message : String(err)}); the archive endpoint leaves sockets out, and a device file would make the set unrestorable. Set helper.image to an image with find and od (busybox)`);
        return;
      }
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
 * The SQLite copy's one-file archive. It ends with docker cp's own exit: a
 * failing read is reported as docker's error, not as a truncated archive.
 */
async function* copyOf(helper: string, path: string): AsyncGenerator<unknown> {
  const one = startStreaming(docker.archiveReadPath(helper, path), { stdin: 'ignore', stdout: 'pipe' });
  if (one.child.stdout === null) throw new Error('docker cp produced no stream');
  try {
    for await (const chunk of one.child.stdout) yield chunk;
    await one.done;
  } finally {
    one.done.catch(() => undefined);
    if (one.child.exitCode === null) one.child.kill('SIGKILL');
  }
}

async function removeCopies(ctx: ArtifactContext, volume: VolumeModel, online: OnlineCopies, image: string): Promise<void> {
  const script = 'cd /data && rm -f -- "$@"';
  const result = await ctx.runner.run(
    docker.runHelperScript(image, [volumeMount(volume, '/data', false)], script, online.copies.map((c) => c.copyInVolume), ctx.session.labels()),
    { allowFailure: true },
  );
  if (result.code !== 0) {
    ctx.log(`warning: could not remove the temporary SQLite copies ${online.copies.map((c) => c.copyInVolume).join(', ')} from volume ${volume.key}: ${result.stderr.trim()}; remove them by hand`);
  }
}

/** pg_dump or mongodump inside the database container, to a file there, then out through the archive endpoint. */
async function dumpDatabase(ctx: ArtifactContext, volume: VolumeModel): Promise<ArtifactRecord> {
  const { runner, model } = ctx;
  const service = volume.backup.service;
  const container = model.containers.find((c) => c.service === service);
  if (container === undefined) throw new Error(`volume ${volume.key}: backup.service "${service ?? ''}" has no container in ${model.app}-${model.env}`);
  const [state] = await inspectContainers(runner, [container.name]);
  if (state === undefined || !state.State.Running) {
    throw new Error(`volume ${volume.key}: ${volume.backup.method} runs inside ${container.name}, which is not running; start it (docker start ${container.name}) and try again`);
  }
  const encrypted = model.backups.recipients.length > 0;
  const file = artifactName(volume, ctx.compression, encrypted);
  const inside = `/tmp/stowage-${uniqueSuffix()}.dump`;
  const dumpCommand = volume.backup.method === 'pg_dump' ? await pgDumpCommand(ctx, volume, state, inside) : mongo.dump(mongoTarget(volume, state), inside);
  await runner.run(dumpCommand);
  try {
    const reader = startStreaming(docker.archiveReadPath(state.Name, inside), { stdin: 'ignore', stdout: 'pipe' });
    if (reader.child.stdout === null) throw new Error('docker cp produced no stream');
    const content = new PassThrough();
    const extracting = singleFileContent(reader.child.stdout, content);
    const bar = ctx.progress(volume.key, undefined);
    const [artifact] = await Promise.all([writeArtifact(content, ctx.stepsAfterDump, join(ctx.setPath, file), (n) => bar.add(n)), extracting, reader.done]);
    bar.finish();
    return {
      volume: volume.key,
      file,
      method: volume.backup.method,
      bytes: artifact.bytes,
      sha256: artifact.sha256,
      format: volume.backup.method === 'pg_dump' ? 'pg_dump-custom' : 'mongodump-archive-gzip',
      encrypted,
      sourceBytes: artifact.sourceBytes,
    };
  } finally {
    await runner.run(removeFile(state.Name, inside), { allowFailure: true });
  }
}

function envOf(state: ContainerState, name: string): string | undefined {
  const entry = (state.Config.Env ?? []).find((e) => e.startsWith(`${name}=`));
  return entry === undefined ? undefined : entry.slice(name.length + 1);
}

/** User and database from the stack file, else from the container's POSTGRES_* variables, as the official image does. */
export function pgTarget(volume: VolumeModel, state: ContainerState, viaTcp: boolean): Parameters<typeof pg.dump>[0] {
  const user = volume.backup.user ?? envOf(state, 'POSTGRES_USER') ?? 'postgres';
  const database = volume.backup.database ?? envOf(state, 'POSTGRES_DB') ?? user;
  return { container: state.Name, user, database, ...(viaTcp && envOf(state, 'POSTGRES_PASSWORD') !== undefined ? { passwordEnv: 'POSTGRES_PASSWORD' } : {}) };
}

async function pgDumpCommand(ctx: ArtifactContext, volume: VolumeModel, state: ContainerState, inside: string): Promise<Command> {
  // Images put the server's socket in different places; when the default one does not answer, use TCP.
  const socket = await ctx.runner.run(pg.ready(pgTarget(volume, state, false)), { allowFailure: true });
  return pg.dump(pgTarget(volume, state, socket.code !== 0), inside);
}

export function mongoTarget(volume: VolumeModel, state: ContainerState): Parameters<typeof mongo.dump>[0] {
  return {
    container: state.Name,
    usernameEnv: volume.backup.usernameEnv ?? (envOf(state, 'MONGO_INITDB_ROOT_USERNAME') === undefined ? undefined : 'MONGO_INITDB_ROOT_USERNAME'),
    passwordEnv: volume.backup.passwordEnv ?? (envOf(state, 'MONGO_INITDB_ROOT_PASSWORD') === undefined ? undefined : 'MONGO_INITDB_ROOT_PASSWORD'),
    authenticationDatabase: volume.backup.authenticationDatabase ?? (envOf(state, 'MONGO_INITDB_ROOT_USERNAME') === undefined ? undefined : 'admin'),
  };
}

function planBackup(model: Model, volumes: VolumeModel[], running: ContainerState[], options: BackupOptions, stepsAfterTar: Command[], runner: Runner): void {
  const say = (line: string): void => runner.plan(line);
  say(`# backup of ${model.app}-${model.env} into ${join(options.to, model.project, '<UTC timestamp>')}/`);
  for (const volume of volumes) {
    const mount = volumeMount(volume, '/data', true);
    const helper = `${model.project}-stowage-helper-XXXX`;
    const file = artifactName(volume, compressionFor(model, options.compression), model.backups.recipients.length > 0);
    if (volume.backup.method === 'pg_dump' || volume.backup.method === 'mongodump') {
      const container = model.containers.find((c) => c.service === volume.backup.service)?.name ?? '?';
      const state = running.find((c) => c.Name === container);
      const inside = '/tmp/stowage-XXXX.dump';
      const cmd = volume.backup.method === 'pg_dump' && state !== undefined ? pg.dump(pgTarget(volume, state, false), inside) : state !== undefined ? mongo.dump(mongoTarget(volume, state), inside) : undefined;
      say(`# ${volume.key}: ${volume.backup.method} inside ${container}${state === undefined ? ' (not running: the backup would fail)' : ''}`);
      if (cmd !== undefined) say(renderCommand(cmd));
      say(`${renderCommand(docker.archiveReadPath(container, inside))} | tar -xO > ${file}`);
      continue;
    }
    const writers = volume.backup.stop && volume.backup.method === 'tar' ? writersOf(volume, running) : [];
    say(`# ${volume.key}: ${volume.backup.method}${volume.backup.method === 'sqlite' ? ` (online copy of ${volume.backup.databases.join(', ')})` : ''}`);
    say(renderCommand(docker.createHelper(helper, '<helper image>', [mount], { 'stowage.project': model.project })));
    if (writers.length > 0) say(renderCommand(docker.stop(writers)));
    say(`${renderCommand(docker.archiveRead(helper, '/data'))} | ${stepsAfterTar.map(renderCommand).join(' | ')} > ${file}`);
    if (writers.length > 0) say(`${renderCommand(docker.start(writers))}   # as soon as docker cp has read the whole volume`);
    say(renderCommand(docker.removeContainer(helper)));
  }
  say('# then manifest.json is written last (temp file, fsync, rename)');
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
