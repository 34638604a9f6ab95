import { existsSync, mkdirSync, rmSync, statSync, createWriteStream, createReadStream } from 'node:fs';
import { privateScratch } from '../session/scratch.js';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CheckFailed, UsageError } from '../config/errors.js';
import { findVolume, type Model, type VolumeModel } from '../config/model.js';
import { isSafeRelativePath } from '../config/syntax.js';
import { NOTHING_HELD_BACK, heldBackArchive, heldBackWithin, singleFileArchive, transformArchive, type Chunks, type HeldBackEntries } from '../engine/archive.js';
import { entryNameOf } from '../engine/tar-format.js';
import { renderCommand, startStreaming, type Command, type Runner } from '../engine/command.js';
import { mongo, pg, removeFile } from '../engine/databases.js';
import { docker } from '../engine/docker.js';
import { inspectContainers, inspectVolumes, runningContainersUsing, withoutHelpers, type ContainerState } from '../engine/inspect.js';
import { engineIsLocal } from '../engine/endpoint.js';
import { ensureHostDirectory } from '../ops/permissions.js';
import { writeSmallFile } from '../engine/small-file.js';
import { decodeIntoProcess, fileIdentity, readArtifact } from '../engine/pipeline.js';
import { readManifest, type ArtifactRecord } from './set.js';
import { mongoTarget, pgTarget } from './backup.js';
import { EngineSession, helperImage, uniqueSuffix, volumeMount } from '../session/session.js';
import { uninterruptible } from '../session/signals.js';
import { SwapIncomplete, finishPendingRestore, lastLine } from './pending-restore.js';
import { silentProgress, type ProgressFactory } from '../cli/progress.js';
import { isSwapPath } from './swap.js';
import { normalizedPath } from './backup.js';
import { CHECK_STAGED, CLEAN_STAGING, PREPARE, ROLLED_BACK, SWAP_MARKER, markerText, swapCommand, type SwapMarker } from './swap.js';
import { decodeSteps, isEncrypted, verifySet, type VerifyResult } from './verify.js';
import { refuseOtherEnvironment } from '../session/environment-guard.js';

export interface RestoreOptions {
  runner: Runner;
  volumes: string[];
  paths: string[];
  identity: string | undefined;
  progress?: ProgressFactory;
  log?: (line: string) => void;
  /** The environment the set was made in, when it is not this one (--from-env): asked for explicitly. */
  fromEnv?: string;
  /** Called after verification with the plan; throws to abort (confirmation). */
  confirm: (plan: RestorePlan) => Promise<void>;
}

export interface RestorePlanItem {
  volume: VolumeModel;
  artifact: ArtifactRecord;
  /** Paths replaced inside the volume; empty: the whole volume. */
  paths: string[];
  stop: string[];
  /** Owner, mode and time of the archive's root entry, which the volume root takes. */
  root: { uid: number; gid: number; mode: number; mtime: string } | undefined;
  /** The artifact file's identity (fileIdentity) taken before it was verified: the restore reads the same bytes or none. */
  identity: string;
  /** Links the archive endpoint refuses to extract, created in a second pass (from verification). */
  heldBack?: HeldBackEntries;
  /** Hard link groups of the archive (from verification), for restoring some paths only. */
  linkGroups?: Map<string, string[]>;
}

export interface RestorePlan {
  set: string;
  items: RestorePlanItem[];
  verification: VerifyResult;
}

export interface RestoreResult {
  set: string;
  restored: Array<{ volume: string; file: string; paths: string[]; created: boolean }>;
  stopped: string[];
  verification: VerifyResult;
  /** What this run undid of earlier, interrupted runs. */
  recovered: string[];
}

function mountsVolume(c: ContainerState, volume: VolumeModel): boolean {
  return c.Mounts.some((m) => (volume.kind === 'bind' ? m.Type === 'bind' && m.Source === volume.hostPath : m.Name === volume.name));
}

/** Services that depend on `service`, directly or not: they hold connections a database restore must not race with. */
export function dependentsOf(model: Model, service: string): string[] {
  const found = new Set<string>();
  const visit = (name: string): void => {
    for (const c of model.containers) {
      if (c.dependsOn.includes(name) && !found.has(c.service)) {
        found.add(c.service);
        visit(c.service);
      }
    }
  };
  visit(service);
  return model.containers.filter((c) => found.has(c.service)).map((c) => c.name);
}

export async function planRestore(model: Model, setDir: string, options: RestoreOptions): Promise<RestorePlan> {
  const manifest = readManifest(setDir);
  if (manifest.project !== model.project) {
    throw new UsageError(`${setDir} is a backup of project ${manifest.project}, not ${model.project}; pick the right --stack or --backup`);
  }
  if (manifest.env !== model.env && options.fromEnv !== manifest.env) {
    throw new UsageError(
      `${setDir} was made in environment ${manifest.env}, and this is ${model.app}-${model.env}; ` +
        `to restore it here anyway, add --from-env ${manifest.env}; otherwise pick a set of ${model.env} with --backup`,
    );
  }
  if (options.fromEnv !== undefined && options.fromEnv !== manifest.env) {
    throw new UsageError(`--from-env ${options.fromEnv}: ${setDir} was made in environment ${manifest.env}`);
  }
  const wanted = options.volumes.length > 0 ? [...new Set(options.volumes)] : manifest.artifacts.map((a) => a.volume);
  const requestedPaths = collapsePaths(options.paths);
  const items: RestorePlanItem[] = [];
  for (const key of wanted) {
    const volume = findVolume(model, key);
    const artifact = manifest.artifacts.find((a) => a.volume === key);
    if (artifact === undefined) throw new UsageError(`backup set ${setDir} has no artifact for volume ${key}; it holds: ${manifest.artifacts.map((a) => a.volume).join(', ')}`);
    const isDump = artifact.method === 'pg_dump' || artifact.method === 'mongodump';
    if (requestedPaths.length > 0 && (isDump || wanted.length !== 1)) {
      throw new UsageError(isDump ? `--path does not apply to ${artifact.method} artifacts` : '--path selects files inside one volume: name it with --volume');
    }
    // An artifact made with --path holds only those paths: restoring it must not wipe the rest of the volume.
    const paths = requestedPaths.length > 0 ? requestedPaths : collapsePaths(artifact.paths ?? []);
    items.push({ volume, artifact, paths, stop: [], root: undefined, identity: identityOf(join(setDir, artifact.file)) });
  }
  const stops = await containersToStop(model, items, options.runner);
  items.forEach((item, k) => (item.stop = stops[k] ?? []));
  const locked = items.filter((i) => isEncrypted(i.artifact));
  if (locked.length > 0 && options.identity === undefined) {
    throw new UsageError(`${locked.map((i) => i.artifact.file).join(', ')} ${locked.length === 1 ? 'is' : 'are'} encrypted: pass --identity <age identity file> (or set STOWAGE_AGE_IDENTITY); nothing was changed`);
  }
  const verification = await verifySet(setDir, { runner: options.runner, identity: options.identity, volumes: wanted, ...(options.progress === undefined ? {} : { progress: options.progress }) });
  for (const item of items) {
    const check = verification.artifacts.find((a) => a.volume === item.volume.key);
    item.root = check?.root;
    if (check?.heldBack !== undefined) item.heldBack = check.heldBack;
    if (check?.linkGroups !== undefined) item.linkGroups = check.linkGroups;
  }
  return { set: setDir, items, verification };
}

function identityOf(path: string): string {
  try {
    return fileIdentity(statSync(path, { bigint: true }));
  } catch {
    return 'missing'; // verification reports the missing file
  }
}

/**
 * The running containers each item must stop: those that mount a volume
 * whose tree is replaced, and for a database dump the services that depend
 * on the database (they hold connections a restore must not race with).
 */
async function containersToStop(model: Model, items: Array<Pick<RestorePlanItem, 'volume' | 'artifact'>>, runner: Runner): Promise<string[][]> {
  const targets = items.map((i) => i.volume);
  const usingVolumes = await runningContainersUsing(
    runner,
    targets.filter((v) => v.kind !== 'bind').map((v) => v.name),
    targets.filter((v) => v.kind === 'bind').map((v) => v.hostPath ?? ''),
  );
  const declared = (await inspectContainers(runner, model.containers.map((c) => c.name))).filter((c) => c.State.Running);
  const running = withoutHelpers([...new Map([...usingVolumes, ...declared].map((c) => [c.Id, c])).values()]);
  return items.map(({ volume, artifact }) =>
    artifact.method === 'pg_dump' || artifact.method === 'mongodump'
      ? running.filter((c) => dependentsOf(model, volume.backup.service ?? '').includes(c.Name)).map((c) => c.Name)
      : running.filter((c) => mountsVolume(c, volume)).map((c) => c.Name),
  );
}

/** Arguments of SWAP_ALL for the root: an archive without a root entry leaves root:root 0755 as docker would. */
export function rootArguments(root: RestorePlanItem['root']): string[] {
  const r = root ?? { uid: 0, gid: 0, mode: 0o755, mtime: new Date().toISOString() };
  return [`${r.uid}:${r.gid}`, (r.mode & 0o7777).toString(8), `@${Math.floor(Date.parse(r.mtime) / 1000)}`];
}

/** SWAP_PATHS arguments: the count of paths only moved aside, those paths, then the paths replaced. */
export function pathSwapArguments(item: Pick<RestorePlanItem, 'paths' | 'volume'>): string[] {
  const databases = item.volume.backup.method === 'sqlite' ? item.volume.backup.databases : [];
  const companions = item.paths
    .filter((p) => databases.includes(p))
    .flatMap((db) => [`${db}-wal`, `${db}-shm`, `${db}-journal`])
    .filter((c) => !item.paths.includes(c));
  return [String(companions.length), ...companions, ...item.paths];
}

/**
 * Normalized, distinct paths, a path inside another one left out (restoring
 * `a` restores `a/b`). `.` or an unsafe path is a usage error: a swap of
 * "the whole volume" by path would move the volume's own root.
 */
export function collapsePaths(paths: string[]): string[] {
  const normalized = paths.map((p) => {
    const n = normalizedPath(p);
    if (n === '') throw new UsageError(`--path ${p} is the whole volume: leave --path out to restore all of it`);
    if (!isSafeRelativePath(n) || !isSwapPath(n)) throw new UsageError(`--path ${p}: write a path relative to the volume root, without a leading /, "." or ".." segments`);
    return n;
  });
  const distinct = [...new Set(normalized)].sort();
  return distinct.filter((p) => !distinct.some((q) => q !== p && p.startsWith(`${q}/`)));
}

export function describePlan(plan: RestorePlan): string {
  const made = plan.verification.manifest;
  return [
    `restore from ${plan.set} (made in ${made.app ?? made.project}-${made.env} at ${made.created}):`,
    ...plan.items.map(
      (i) =>
        `  ${i.volume.key} <- ${i.artifact.file} (${i.artifact.method})${i.paths.length > 0 ? ` paths: ${i.paths.join(', ')}` : ' whole volume, replacing its content'}` +
        (i.stop.length > 0 ? `; stops ${i.stop.join(', ')} meanwhile` : ''),
    ),
  ].join('\n');
}

export async function restore(model: Model, setDir: string, options: RestoreOptions): Promise<RestoreResult> {
  // Before anything else: these volumes must not be another environment's (dev and prod on one engine).
  await refuseOtherEnvironment(model, options.runner);
  let plan = verified(await planRestore(model, setDir, options), setDir);
  if (options.runner.dryRun) {
    printPlan(model, plan, options.runner);
    return { set: setDir, restored: [], stopped: [], verification: plan.verification, recovered: [] };
  }
  await options.confirm(plan);
  const log = options.log ?? (() => undefined);
  // The project's one lock: a concurrent backup, prune or restore waits, whatever its backup root.
  return EngineSession.with(options.runner, model, 'restore', log, async (session) => {
    // Who runs may have changed since the plan was confirmed (a recovery, a backup that held the
    // lock and started its writers, an operator): stop what runs now, and ask again if that differs.
    const now = await containersToStop(model, plan.items, options.runner);
    if (plan.items.some((item, k) => [...item.stop].sort().join(' ') !== [...(now[k] ?? [])].sort().join(' '))) {
      plan = { ...plan, items: plan.items.map((item, k) => ({ ...item, stop: now[k] ?? [] })) };
      log('the containers using the volumes changed since the plan was shown; here is the plan again');
      await options.confirm(plan);
    }
    return { ...(await applyPlan(session, setDir, plan, options)), recovered: session.recovered };
  });
}

function verified(plan: RestorePlan, setDir: string): RestorePlan {
  if (!plan.verification.ok) {
    const bad = plan.verification.artifacts.filter((a) => !a.ok);
    throw new CheckFailed(`verification of ${setDir} failed; nothing was changed:\n${bad.flatMap((a) => a.problems.map((p) => `  ${a.file}: ${p}`)).join('\n')}`);
  }
  return plan;
}

async function applyPlan(session: EngineSession, setDir: string, plan: RestorePlan, options: RestoreOptions): Promise<Omit<RestoreResult, 'recovered'>> {
  const log = options.log ?? (() => undefined);
  const restored: RestoreResult['restored'] = [];
  const stopped = new Set<string>();
  // Verification may lie minutes back (a confirmation prompt): check before anything is stopped or staged.
  const changed = plan.items.filter((i) => identityOf(join(setDir, i.artifact.file)) !== i.identity);
  if (changed.length > 0) {
    throw new CheckFailed(`${changed.map((i) => i.artifact.file).join(', ')} changed since ${changed.length === 1 ? 'it was' : 'they were'} verified; nothing was changed. Verify the set again (verify.mjs) and restore again`);
  }
  for (const item of plan.items) {
    for (const name of item.stop) stopped.add(name);
    if (item.artifact.method === 'pg_dump' || item.artifact.method === 'mongodump') {
      await session.withStopped(item.stop, () => restoreDump(session, setDir, item, options));
      restored.push({ volume: item.volume.key, file: item.artifact.file, paths: [], created: false });
    } else {
      const created = await ensureVolume(session.runner, session.model, item.volume);
      if (created) log(`created ${item.volume.kind === 'bind' ? 'directory' : 'volume'} ${item.volume.kind === 'bind' ? item.volume.hostPath ?? '' : item.volume.name}`);
      await session.withStopped(item.stop, () => restoreTree(session, setDir, item, options));
      restored.push({ volume: item.volume.key, file: item.artifact.file, paths: item.paths, created });
    }
  }
  return { set: setDir, restored, stopped: [...stopped].sort(), verification: plan.verification };
}

/**
 * A restore into a volume that does not exist yet creates it as the stack
 * declares it; a missing host directory is made on the engine's host (here
 * only when the engine is on this machine, else through a helper).
 */
async function ensureVolume(runner: Runner, model: Model, volume: VolumeModel): Promise<boolean> {
  if (volume.kind === 'bind') {
    const path = volume.hostPath ?? '';
    if (!engineIsLocal()) return ensureHostDirectory(runner, model, volume);
    if (existsSync(path)) return false;
    mkdirSync(path, { recursive: true, mode: 0o750 });
    return true;
  }
  const [existing] = await inspectVolumes(runner, [volume.name]);
  if (existing !== undefined) return false;
  if (volume.kind === 'host' && volume.hostPath !== undefined) {
    if (!engineIsLocal()) await ensureHostDirectory(runner, model, volume);
    else if (!existsSync(volume.hostPath)) mkdirSync(volume.hostPath, { recursive: true, mode: 0o750 });
  }
  await runner.run(docker.createVolume(volume.name, volume.driver, volume.driverOpts, volume.labels));
  return true;
}

/** The swap a restore item makes, as the marker records it. */
export function swapMarkerOf(item: Pick<RestorePlanItem, 'paths' | 'volume' | 'root'>, staging: string, old: string): SwapMarker {
  return item.paths.length > 0
    ? { format: 1, mode: 'paths', staging, old, args: pathSwapArguments(item) }
    : { format: 1, mode: 'all', staging, old, args: rootArguments(item.root) };
}

/**
 * Stages the artifact's tree in the volume, writes the swap marker, then swaps
 * it in. Until the marker is written the live content is untouched and a
 * failure removes the staged copy; from then on the swap is finished (here,
 * or by the next run that takes the lock), and while it cannot be, the
 * containers that mount the volume stay stopped.
 */
async function restoreTree(session: EngineSession, setDir: string, item: RestorePlanItem, options: RestoreOptions): Promise<void> {
  const { runner, model } = session;
  const image = await helperImage(runner, model, item.volume.key);
  const id = uniqueSuffix();
  const staging = `.stowage-restore-${id}`;
  const old = `.stowage-old-${id}`;
  const mount = volumeMount(item.volume, '/v', false);
  const labels = session.labels();
  const marker = swapMarkerOf(item, staging, old);
  let markerWritten = false;
  await session.restoring(item.volume);
  // The staging directory and the helper that fills it are prepared side by side.
  const preparing = runner.run(docker.runHelperScript(image, [mount], PREPARE, [staging], labels));
  preparing.catch(() => undefined); // awaited below; a failure ends the restore there
  try {
    await session.withHelper(image, [mount], async (helper) => {
      await preparing;
      const path = join(setDir, item.artifact.file);
      const bar = (options.progress ?? silentProgress)(`restore ${item.volume.key}`, statSync(path).size);
      const steps = decodeSteps(item.artifact, options.identity);
      const target = docker.archiveWrite(helper, `/v/${staging}`);
      const select = item.paths.length > 0 && (item.artifact.paths ?? []).length === 0;
      const held = heldBackWithin(item.heldBack ?? NOTHING_HELD_BACK, item.paths.map(entryNameOf));
      if (select || held.names.size > 0) {
        // Selecting paths or holding links back rewrites the archive, which happens here.
        const reader = readArtifact(path, steps, (n) => bar.add(n));
        const content: Chunks = transformArchive(reader.content, { include: select ? item.paths.map(entryNameOf) : [], exclude: [], splice: [], dropWith: (name) => held.names.has(name), ...(item.linkGroups === undefined ? {} : { linkGroups: item.linkGroups }) });
        const [hashed] = await Promise.all([reader.done, writeThroughEndpoint(target, content)]);
        // The artifact was verified a moment ago; a different hash now means it changed under us.
        if (hashed.sha256 !== item.artifact.sha256) throw new Error(`${item.artifact.file} changed since it was verified; nothing was swapped in`);
        // The links the endpoint refuses inside staging go in through the helper's root, named below the mount.
        if (held.names.size > 0) await writeThroughEndpoint(docker.archiveWrite(helper, '/'), heldBackArchive(`v/${staging}`, held));
      } else {
        // Whole archive: file -> zstd -> docker cp, process to process.
        await decodeIntoProcess(path, steps, target, { identity: item.identity, onStoredBytes: (n) => bar.add(n) });
      }
      bar.finish();
      if (marker.mode === 'paths') {
        const check = await runner.run(docker.runHelperScript(image, [mount], CHECK_STAGED, [staging, ...marker.args], labels), { allowFailure: true });
        if (check.code !== 0) throw new CheckFailed(`${lastLine(check.stderr).replace(/^stowage: /, '')} ${item.artifact.file}; nothing was changed`);
      }
      await writeSmallFile(runner, helper, '/v', SWAP_MARKER, Buffer.from(markerText(marker)), 0o600, { uid: 0, gid: 0 });
      markerWritten = true;
    });
    await uninterruptible(async () => {
      const swap = await runner.run(swapCommand(image, mount, marker, labels), { allowFailure: true });
      if (swap.code === 0) return;
      if (swap.code === ROLLED_BACK) throw new Error(`volume ${item.volume.key}: ${lastLine(swap.stderr).replace(/^stowage: /, '')}; the previous content is in place`);
      // The swap helper died (killed, out of memory, the engine went away): finish it from the marker.
      const outcome = await finishPendingRestore(runner, image, mount, labels);
      if (outcome === 'rolled back') throw new Error(`volume ${item.volume.key}: the swap failed and the previous content was put back (${lastLine(swap.stderr)})`);
    });
    await session.restored(item.volume);
  } catch (err) {
    await preparing.catch(() => undefined);
    if (markerWritten && err instanceof SwapIncomplete) {
      session.hold(item.stop);
      throw new SwapIncomplete(
        `volume ${item.volume.key}: the restored content is not fully in place (${err.message}). Nothing is lost: the staged content and the previous content ` +
          `are kept in the volume with a swap marker${item.stop.length > 0 ? `, and ${item.stop.join(', ')} stay${item.stop.length === 1 ? 's' : ''} stopped so nothing runs on half a volume` : ''}. ` +
          `Once the engine answers again, run this restore again (or any backup of this stack): it finishes the swap first.`,
        err.volume,
      );
    }
    // The swap never began, or put the previous content back: the live content is whole; drop the staged copy.
    const cleaned = await runner.run(docker.runHelperScript(image, [mount], CLEAN_STAGING, [], labels), { allowFailure: true });
    if (cleaned.code === 0) await session.restored(item.volume);
    throw err;
  }
}

/** Streams a tar archive into the archive endpoint (docker cp - CONTAINER:DIR). */
async function writeThroughEndpoint(target: Command, content: Chunks): Promise<void> {
  const writer = startStreaming(target, { stdin: 'pipe', stdout: 'ignore' });
  const stdin = writer.child.stdin;
  if (stdin === null) throw new Error('docker cp has no stdin');
  stdin.on('error', () => undefined);
  await Promise.all([pipeline(content, stdin), writer.done]);
}

async function restoreDump(session: EngineSession, setDir: string, item: RestorePlanItem, options: RestoreOptions): Promise<void> {
  const { runner, model } = session;
  const container = model.containers.find((c) => c.service === item.volume.backup.service);
  const [state] = container === undefined ? [] : await inspectContainers(runner, [container.name]);
  if (container === undefined || state === undefined || !state.State.Running) {
    throw new Error(`${item.artifact.method} restore runs inside ${container?.name ?? `service ${item.volume.backup.service ?? '?'}`}, which is not running; start it first`);
  }
  const scratch = privateScratch('restore');
  const inside = `/tmp/stowage-${uniqueSuffix()}.dump`;
  try {
    // The dump goes in through the archive endpoint, which needs its size up front: decode to a private temp file first.
    const plain = join(scratch, 'dump');
    const reader = readArtifact(join(setDir, item.artifact.file), decodeSteps(item.artifact, options.identity).filter((s) => s.program === 'age'));
    const [, hashed] = await Promise.all([pipeline(reader.content, createWriteStream(plain, { mode: 0o600 })), reader.done]);
    if (hashed.sha256 !== item.artifact.sha256) throw new CheckFailed(`${item.artifact.file} changed since it was verified; nothing was restored`);
    const size = statSync(plain).size;
    const writer = startStreaming(docker.archiveWrite(state.Name, '/tmp'), { stdin: 'pipe', stdout: 'ignore' });
    const stdin = writer.child.stdin;
    if (stdin === null) throw new Error('docker cp has no stdin');
    const name = inside.slice('/tmp/'.length);
    await Promise.all([pipeline(singleFileArchive(name, size, 0o644, createReadStream(plain)), stdin), writer.done]);
    try {
      if (item.artifact.method === 'pg_dump') {
        const socket = await runner.run(pg.ready(pgTarget(item.volume, state, false)), { allowFailure: true });
        await runner.run(pg.restore(pgTarget(item.volume, state, socket.code !== 0), inside));
      } else {
        await runner.run(mongo.restore(mongoTarget(item.volume, state), inside));
      }
    } finally {
      await runner.run(removeFile(state.Name, inside), { allowFailure: true });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function printPlan(model: Model, plan: RestorePlan, runner: Runner): void {
  const say = (line: string): void => runner.plan(line);
  say(`# ${describePlan(plan).split('\n').join('\n# ')}`);
  say(`# verified: ${plan.verification.artifacts.map((a) => `${a.file} (${a.checked.join(', ')})`).join('; ')}`);
  for (const item of plan.items) {
    if (item.stop.length > 0) say(renderCommand(docker.stop(item.stop)));
    if (item.artifact.method === 'pg_dump' || item.artifact.method === 'mongodump') {
      const container = model.containers.find((c) => c.service === item.volume.backup.service)?.name ?? '?';
      say(`docker cp <decoded ${item.artifact.file}> ${container}:/tmp/stowage-XXXX.dump`);
      say(`# then ${item.artifact.method === 'pg_dump' ? 'pg_restore --clean --if-exists --create' : 'mongorestore --drop'} inside ${container}`);
    } else {
      const mount = volumeMount(item.volume, '/v', false);
      say(`${renderCommand(docker.runHelperScript('<helper image>', [mount], '<prepare staging>', ['.stowage-restore-XXXX'], {}))}`);
      say(`zstd -dc ${join(plan.set, item.artifact.file)} | ${renderCommand(docker.archiveWrite('<helper>', '/v/.stowage-restore-XXXX'))}`);
      say(`# then swap ${item.paths.length > 0 ? item.paths.join(', ') : 'the whole content'} into place in one helper run (rolled back on failure)`);
    }
    if (item.stop.length > 0) say(renderCommand(docker.start(item.stop)));
  }
}
