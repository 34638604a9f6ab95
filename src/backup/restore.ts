import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { gate, UnsafeArchive } from './stage.js';
import { privateScratch } from '../session/scratch.js';
import { decideLocal, hostTarExtract, identityProbe, parseIdentities, type LocalDecision, type Via } from '../engine/local-path.js';
import { parseRootIdentity } from '../engine/special-files.js';
import { writeFileAtomic } from '../util/durable-file.js';
import { findVolume, isDumpMethod, type Model, type VolumeModel } from '../config/model.js';
import { CheckFailed, UsageError } from '../config/errors.js';
import { isSafeRelativePath } from '../config/syntax.js';
import { type FileConsumer, NOTHING_HELD_BACK, heldBackArchive, heldBackWithin, transformArchive, type Chunks, type HeldBackEntries } from '../engine/archive.js';
import { displayName, entryNameOf } from '../engine/tar-format.js';
import { renderCommand, startStreaming, type Command, type Runner } from '../engine/command.js';
import { docker } from '../engine/docker.js';
import { inspectContainers, inspectVolumes, runningContainersUsing, withoutHelpers, type ContainerState } from '../engine/inspect.js';
import { engineIsLocal } from '../engine/endpoint.js';
import { ensureHostDirectory } from '../ops/permissions.js';
import { writeSmallFile } from '../engine/small-file.js';
import type { ArtifactRecord } from './set.js';
import { DirectorySetReader, type SetReader } from './set-reader.js';
import { restoreDump } from './dumps.js';
import { normalizedPath } from './backup.js';
import { EngineSession, helperImage, uniqueSuffix, volumeMount } from '../session/session.js';
import { uninterruptible } from '../session/signals.js';
import { SwapIncomplete, finishPendingRestore, lastLine } from './pending-restore.js';
import { silentProgress, type ProgressFactory } from '../cli/progress.js';
import { CHECK_STAGED, CLEAN_STAGING, isSwapPath, markerText, PREPARE, ROLLED_BACK, SWAP_MARKER, swapCommand, type SwapMarker } from './swap.js';
import { checkDatabases, fileWriter, isEncrypted, type VerifyResult } from './verify.js';
import { refuseOtherEnvironment } from '../session/environment-guard.js';

/**
 * A restore: plan (manifest, artifacts, who to stop), confirm, take the lock,
 * then per volume stage the artifact (verified while it streams, stage.ts),
 * write the swap marker and swap it in (swap.ts), and start what was stopped.
 * Nothing is swapped in before the whole artifact verified; a swap that is cut
 * off is finished from its marker by this run or the next (pending-restore.ts).
 */

export interface RestoreOptions {
  runner: Runner;
  volumes: string[];
  paths: string[];
  identity: string | undefined;
  progress?: ProgressFactory;
  log?: (line: string) => void;
  /** How volume content is written: `auto` takes the local path where it is proven safe (default). */
  via?: Via;
  /** Told how each volume is written, and why. */
  onVia?: (decision: LocalDecision) => void;
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
  /** The artifact file's fingerprint (fileFingerprint) taken before it was verified: the restore reads the same bytes or none. */
  fingerprint: string;
  /** Links the archive endpoint refuses to extract, created in a second pass (from verification). */
  heldBack?: HeldBackEntries;
  /** Hard link groups of the archive (from verification), for restoring some paths only. */
  linkGroups?: Map<string, string[]>;
  /** Files a restore linked from the live volume because they had not changed. */
  reused?: number;
}

export interface RestorePlan {
  set: string;
  items: RestorePlanItem[];
  verification: VerifyResult;
}

export interface RestoreResult {
  set: string;
  restored: Array<{ volume: string; file: string; paths: string[]; created: boolean; unchangedFilesKept?: number }>;
  stopped: string[];
  verification: VerifyResult;
  /** What this run undid of earlier, interrupted runs. */
  recovered: string[];
}

function mountsVolume(c: ContainerState, volume: VolumeModel): boolean {
  return c.Mounts.some((m) => (volume.kind === 'bind' ? m.Type === 'bind' && m.Source === volume.hostPath : m.Name === volume.name));
}

/** Services that depend on `service`, directly or not: they hold connections a database restore must not race with. */
function dependentsOf(model: Model, service: string): string[] {
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

export async function planRestore(model: Model, set: SetReader, options: RestoreOptions): Promise<RestorePlan> {
  const setDir = set.location;
  const manifest = set.manifest;
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
    const isDump = isDumpMethod(artifact.method);
    if (requestedPaths.length > 0 && (isDump || wanted.length !== 1)) {
      throw new UsageError(isDump ? `--path does not apply to ${artifact.method} artifacts` : '--path selects files inside one volume: name it with --volume');
    }
    // An artifact made with --path holds only those paths: restoring it must not wipe the rest of the volume.
    const paths = requestedPaths.length > 0 ? requestedPaths : collapsePaths(artifact.paths ?? []);
    items.push({ volume, artifact, paths, stop: [], root: undefined, fingerprint: set.fingerprint(artifact) });
  }
  const stops = await containersToStop(model, items, options.runner);
  items.forEach((item, k) => (item.stop = stops[k] ?? []));
  const locked = items.filter((i) => isEncrypted(i.artifact));
  if (locked.length > 0 && options.identity === undefined) {
    throw new UsageError(`${locked.map((i) => i.artifact.file).join(', ')} ${locked.length === 1 ? 'is' : 'are'} encrypted: pass --identity <age identity file> (or set STOWAGE_AGE_IDENTITY); nothing was changed`);
  }
  // Whole trees are verified while they are staged (one read, not two); what needs a scan first
  // (paths picked out of a whole archive) and dumps are verified now, and so is everything in a dry run.
  // A repository's restic check belongs to verify.mjs: a restore reads back (and restic authenticates) what it restores.
  const staged = new Set(options.runner.dryRun ? [] : items.filter((i) => !isDumpMethod(i.artifact.method) && !(i.paths.length > 0 && (i.artifact.paths ?? []).length === 0)).map((i) => i.volume.key));
  const verification = await set.verify({ runner: options.runner, identity: options.identity, volumes: wanted, readDataSubset: 'skip', staged: (record) => staged.has(record.volume), ...(options.progress === undefined ? {} : { progress: options.progress }) });
  for (const item of items) {
    const check = verification.artifacts.find((a) => a.volume === item.volume.key);
    item.root = check?.root;
    if (check?.heldBack !== undefined) item.heldBack = check.heldBack;
    if (check?.linkGroups !== undefined) item.linkGroups = check.linkGroups;
  }
  return { set: setDir, items, verification };
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
    isDumpMethod(artifact.method)
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

export async function restore(model: Model, from: string | SetReader, options: RestoreOptions): Promise<RestoreResult> {
  // Before anything else: these volumes must not be another environment's (dev and prod on one engine).
  await refuseOtherEnvironment(model, options.runner);
  const set = typeof from === 'string' ? new DirectorySetReader(from) : from;
  const setDir = set.location;
  let plan = verified(await planRestore(model, set, options), setDir);
  if (options.runner.dryRun) {
    await printPlan(model, set, plan, options);
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
    return { ...(await applyPlan(session, set, plan, options)), recovered: session.recovered };
  });
}

function verified(plan: RestorePlan, setDir: string): RestorePlan {
  if (!plan.verification.ok) {
    const bad = plan.verification.artifacts.filter((a) => !a.ok);
    throw new CheckFailed(`verification of ${setDir} failed; nothing was changed:\n${bad.flatMap((a) => a.problems.map((p) => `  ${a.file}: ${p}`)).join('\n')}`);
  }
  return plan;
}

async function applyPlan(session: EngineSession, set: SetReader, plan: RestorePlan, options: RestoreOptions): Promise<Omit<RestoreResult, 'recovered'>> {
  const setDir = set.location;
  const log = options.log ?? (() => undefined);
  const restored: RestoreResult['restored'] = [];
  const stopped = new Set<string>();
  // Verification may lie minutes back (a confirmation prompt): check before anything is stopped or staged.
  const changed = plan.items.filter((i) => set.fingerprint(i.artifact) !== i.fingerprint);
  if (changed.length > 0) {
    throw new CheckFailed(`${changed.map((i) => i.artifact.file).join(', ')} changed since ${changed.length === 1 ? 'it was' : 'they were'} verified; nothing was changed. Verify the set again (verify.mjs) and restore again`);
  }
  for (const item of plan.items) {
    for (const name of item.stop) stopped.add(name);
    if (isDumpMethod(item.artifact.method)) {
      await session.withStopped(item.stop, () => restoreDump(session.runner, session.model, () => set.read(item.artifact, 'stored', options.identity), item.artifact, item.volume));
      restored.push({ volume: item.volume.key, file: item.artifact.file, paths: [], created: false });
    } else {
      const created = await ensureVolume(session.runner, session.model, item.volume);
      if (created) log(`created ${item.volume.kind === 'bind' ? 'directory' : 'volume'} ${item.volume.kind === 'bind' ? item.volume.hostPath ?? '' : item.volume.name}`);
      await session.withStopped(item.stop, () => restoreTree(session, set, item, options));
      restored.push({ volume: item.volume.key, file: item.artifact.file, paths: item.paths, created, ...(item.reused === undefined ? {} : { unchangedFilesKept: item.reused }) });
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
async function restoreTree(session: EngineSession, set: SetReader, item: RestorePlanItem, options: RestoreOptions): Promise<void> {
  const { runner, model } = session;
  const image = await helperImage(runner, model, item.volume.key);
  const id = uniqueSuffix();
  const staging = `.stowage-restore-${id}`;
  const old = `.stowage-old-${id}`;
  const mount = volumeMount(item.volume, '/v', false);
  const labels = session.labels();
  // The root's owner, mode and time come from the archive, known once it was read: the marker is final only then.
  let marker = swapMarkerOf(item, staging, old);
  let markerWritten = false;
  await session.restoring(item.volume);
  const preparing = runner.run(docker.runHelperScript(image, [mount], PREPARE, [staging], labels));
  preparing.catch(() => undefined); // awaited below; a failure ends the restore there
  try {
    const [state] = item.volume.kind === 'bind' ? [] : await inspectVolumes(runner, [item.volume.name]);
    const decision = decideLocal(options.via ?? 'auto', item.volume, state, parseRootIdentity((await preparing).stdout));
    if (options.via === 'local' && decision.path === undefined) throw new Error(`--via local: volume ${item.volume.key} cannot take the local path: ${decision.reason.replace(/^the archive endpoint: /, '')}; leave out --via local to restore through the engine`);
    options.onVia?.(decision);
    const bar = (options.progress ?? silentProgress)(`restore ${item.volume.key}`, set.size(item.artifact));
    const writeMarker = async (helper: string | undefined): Promise<void> => {
      marker = swapMarkerOf(item, staging, old);
      if (marker.mode === 'paths') {
        const check = await runner.run(docker.runHelperScript(image, [mount], CHECK_STAGED, [staging, ...marker.args], labels), { allowFailure: true });
        if (check.code !== 0) throw new CheckFailed(`${lastLine(check.stderr).replace(/^stowage: /, '')} ${item.artifact.file}; nothing was changed`);
      }
      if (helper === undefined && decision.path !== undefined) writeFileAtomic(join(decision.path, SWAP_MARKER), markerText(marker), 0o600);
      else if (helper !== undefined) await writeSmallFile(runner, helper, '/v', SWAP_MARKER, Buffer.from(markerText(marker)), 0o600, { uid: 0, gid: 0 });
      markerWritten = true;
    };
    const wholeArtifact = !(item.paths.length > 0 && (item.artifact.paths ?? []).length === 0);
    if (decision.path !== undefined) {
      if (wholeArtifact) await stageVerified(runner, set, item, options.identity, hostTarExtract(join(decision.path, staging)), { reuseFrom: decision.path, stagingDir: join(decision.path, staging) }, (n) => bar.add(n), undefined);
      else await fillLocally(set, item, options.identity, join(decision.path, staging), (n) => bar.add(n));
      bar.finish();
      await writeMarker(undefined);
    } else {
      await session.withHelper(image, [mount], async (helper) => {
        if (wholeArtifact) await stageVerified(runner, set, item, options.identity, docker.archiveWrite(helper, `/v/${staging}`), undefined, (n) => bar.add(n), { helper, staging });
        else await fillThroughEndpoint(set, item, options.identity, helper, staging, (n) => bar.add(n));
        bar.finish();
        await writeMarker(helper);
      });
    }
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
    // PREPARE refused (content moved aside that no marker explains): nothing of this run is in the volume.
    const prepared = await preparing.then(() => true, () => false);
    if (!prepared) {
      await session.restored(item.volume);
      throw err;
    }
    // The swap never began, or put the previous content back: the live content is whole; drop the staged copy.
    const cleaned = await runner.run(docker.runHelperScript(image, [mount], CLEAN_STAGING, [], labels), { allowFailure: true });
    if (cleaned.code === 0) await session.restored(item.volume);
    throw err;
  }
}

/**
 * Stages a whole artifact and verifies it in the same read: the stored bytes
 * are hashed, every entry is checked before it reaches the extraction, SQLite
 * copies are checked once they are out. Anything wrong throws CheckFailed
 * (exit 3) and the caller removes staging; the live content was never touched.
 * On the local path unchanged files are linked from the live volume instead of
 * written; through the endpoint, the links it refuses go in a second pass.
 */
async function stageVerified(
  runner: Runner,
  set: SetReader,
  item: RestorePlanItem,
  identity: string | undefined,
  consumer: Command,
  local: { reuseFrom: string; stagingDir: string } | undefined,
  onBytes: (n: number) => void,
  endpoint: { helper: string; staging: string } | undefined,
): Promise<void> {
  const scratch = privateScratch('restore-check');
  try {
    const databases = new Map<string, FileConsumer>();
    const copies: Array<{ name: string; file: string }> = [];
    for (const [index, name] of (item.artifact.databases ?? []).entries()) {
      const file = join(scratch, `db-${index}`);
      copies.push({ name, file });
      databases.set(entryNameOf(normalizedPath(name)), fileWriter(file));
    }
    const reader = set.read(item.artifact, 'content', identity, onBytes);
    const expected = [...(item.artifact.paths ?? []), ...(item.artifact.databases ?? [])].map((p) => entryNameOf(normalizedPath(p)));
    const gated = gate(reader.content, { holdBack: local === undefined, reuseFrom: local?.reuseFrom, stagingDir: local?.stagingDir, databases, expected });
    // Which of the gate and the extraction failed first says which caused the other: a gate that
    // stops on a bad archive breaks the extraction's input; an extraction that dies (tar or the
    // engine refused something, the engine went away) stops the reader and so the gate.
    const failedFirst: Array<'scan' | 'write'> = [];
    const scanning = gated.result.catch((err: unknown) => {
      failedFirst.push('scan');
      throw err;
    });
    // A consumer that dies must stop the decoder too, or it would wait on a full pipe for ever.
    const writing = writeStoppingReader(consumer, gated.output, reader.content).catch((err: unknown) => {
      failedFirst.push('write');
      throw err;
    });
    const [read, scanned, written] = await Promise.allSettled([reader.done, scanning, writing]);
    const problems: string[] = [];
    // The reader read everything, and its bytes are not the manifest's.
    const mismatch = read.status === 'rejected' && read.reason instanceof CheckFailed;
    if (written.status === 'rejected' && failedFirst[0] === 'write' && !mismatch) throw written.reason;
    if (mismatch) problems.push(errorText(read.reason));
    if (scanned.status === 'rejected') problems.push(scanned.reason instanceof UnsafeArchive ? scanned.reason.message : `cannot be read to its end: ${errorText(scanned.reason)}`);
    if (read.status === 'rejected' && !mismatch) problems.push(`cannot be decoded to its end: ${errorText(read.reason)}`);
    if (problems.length === 0 && written.status === 'rejected') throw written.reason;
    if (problems.length === 0 && scanned.status === 'fulfilled') {
      const check = { problems: [] as string[], checked: [] as string[], warnings: [] as string[] };
      await checkDatabases(runner, item.artifact.file, copies, check);
      problems.push(...check.problems);
      for (const m of scanned.value.summary.missing) problems.push(`${item.artifact.file}: the manifest lists ${displayName(m)}, which the archive does not hold`);
    }
    if (problems.length > 0) throw new CheckFailed(`verification of ${item.artifact.file} failed while it was restored; nothing was swapped in and the volume is as it was:\n  ${problems.join('\n  ')}`);
    if (scanned.status === 'fulfilled') {
      const { summary, reused } = scanned.value;
      if (summary.root !== undefined) item.root = { uid: summary.root.uid, gid: summary.root.gid, mode: summary.root.mode, mtime: new Date(summary.root.mtime * 1000).toISOString() };
      item.reused = reused;
      // The links the endpoint refuses inside staging go in through the helper's root, named below the mount.
      if (endpoint !== undefined && summary.heldBack.names.size > 0) await writeThroughEndpoint(docker.archiveWrite(endpoint.helper, '/'), heldBackArchive(`v/${endpoint.staging}`, summary.heldBack));
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err);
}

/** Fills staging through the engine's archive endpoint, holding back the links it refuses for a second pass. */
async function fillThroughEndpoint(set: SetReader, item: RestorePlanItem, identity: string | undefined, helper: string, staging: string, onBytes: (n: number) => void): Promise<void> {
  const target = docker.archiveWrite(helper, `/v/${staging}`);
  const select = item.paths.length > 0 && (item.artifact.paths ?? []).length === 0;
  const held = heldBackWithin(item.heldBack ?? NOTHING_HELD_BACK, item.paths.map(entryNameOf));
  if (select || held.names.size > 0) {
    // Selecting paths or holding links back rewrites the archive, which happens here.
    const reader = set.read(item.artifact, 'content', identity, onBytes);
    const content: Chunks = transformArchive(reader.content, { include: select ? item.paths.map(entryNameOf) : [], exclude: [], splice: [], dropWith: (name) => held.names.has(name), ...(item.linkGroups === undefined ? {} : { linkGroups: item.linkGroups }) });
    // The artifact was verified a moment ago; the reader fails if its bytes are not the verified ones.
    await Promise.all([reader.done, writeStoppingReader(target, content, reader.content)]);
    // The links the endpoint refuses inside staging go in through the helper's root, named below the mount.
    if (held.names.size > 0) await writeThroughEndpoint(docker.archiveWrite(helper, '/'), heldBackArchive(`v/${staging}`, held));
  } else {
    // Whole archive: file -> zstd -> docker cp, process to process.
    await set.into(item.artifact, identity, target, { fingerprint: item.fingerprint, onStoredBytes: onBytes });
  }
}

/**
 * Fills staging on the local path: GNU tar extracts into the volume's own
 * directory on this machine (proven to be the one the engine mounts), with
 * owners, xattrs, ACLs and holes; any symlink is created as it is.
 */
async function fillLocally(set: SetReader, item: RestorePlanItem, identity: string | undefined, stagingDir: string, onBytes: (n: number) => void): Promise<void> {
  const target = hostTarExtract(stagingDir);
  if (item.paths.length > 0 && (item.artifact.paths ?? []).length === 0) {
    const reader = set.read(item.artifact, 'content', identity, onBytes);
    const content: Chunks = transformArchive(reader.content, { include: item.paths.map(entryNameOf), exclude: [], splice: [], dropWith: () => false, ...(item.linkGroups === undefined ? {} : { linkGroups: item.linkGroups }) });
    await Promise.all([reader.done, writeStoppingReader(target, content, reader.content)]);
  } else {
    await set.into(item.artifact, identity, target, { fingerprint: item.fingerprint, onStoredBytes: onBytes });
  }
}

/** As writeThroughEndpoint; a consumer that dies (the engine went away) stops the reader too, or its decoder would wait on a full pipe for ever. */
function writeStoppingReader(target: Command, content: Chunks, reader: Readable): Promise<void> {
  return writeThroughEndpoint(target, content).catch((err: unknown) => {
    reader.destroy(err instanceof Error ? err : new Error(String(err)));
    throw err;
  });
}

/** Streams a tar archive into a consumer's stdin (docker cp - CONTAINER:DIR, or tar -x). */
async function writeThroughEndpoint(target: Command, content: Chunks): Promise<void> {
  const writer = startStreaming(target, { stdin: 'pipe', stdout: 'ignore' });
  const stdin = writer.child.stdin;
  if (stdin === null) throw new Error('docker cp has no stdin');
  stdin.on('error', () => undefined);
  await Promise.all([pipeline(content, stdin), writer.done]);
}

async function printPlan(model: Model, set: SetReader, plan: RestorePlan, options: RestoreOptions): Promise<void> {
  const { runner, identity } = options;
  const say = (line: string): void => runner.plan(line);
  say(`# ${describePlan(plan).split('\n').join('\n# ')}`);
  say(`# verified: ${plan.verification.artifacts.map((a) => `${a.file} (${a.checked.join(', ')})`).join('; ')}`);
  for (const item of plan.items) {
    if (item.stop.length > 0) say(renderCommand(docker.stop(item.stop)));
    if (isDumpMethod(item.artifact.method)) {
      const container = model.containers.find((c) => c.service === item.volume.backup.service)?.name ?? '?';
      say(`docker cp <decoded ${item.artifact.file}> ${container}:/tmp/stowage-XXXX.dump`);
      say(`# then ${item.artifact.method === 'pg_dump' ? 'pg_restore --clean --if-exists --create' : 'mongorestore --drop'} inside ${container}`);
    } else {
      const mount = volumeMount(item.volume, '/v', false);
      const decision = await plannedVia(runner, model, item.volume, options.via ?? 'auto');
      options.onVia?.(decision);
      say(`# ${item.volume.key}: written through ${decision.reason}`);
      say(`${renderCommand(docker.runHelperScript('<helper image>', [mount], '<prepare staging>', ['.stowage-restore-XXXX'], {}))}`);
      if (decision.path !== undefined) {
        say(set.render(item.artifact, identity, hostTarExtract(join(decision.path, '.stowage-restore-XXXX'))));
      } else {
        say(set.render(item.artifact, identity, docker.archiveWrite('<helper>', '/v/.stowage-restore-XXXX')));
      }
      say(`# then write .stowage-swap.json and swap ${item.paths.length > 0 ? item.paths.join(', ') : 'the whole content'} into place in one helper run (finished from the marker if it is cut off)`);
    }
    if (item.stop.length > 0) say(renderCommand(docker.start(item.stop)));
  }
}

/** For --dry-run: how a volume would be written, from a read-only look at its root. */
async function plannedVia(runner: Runner, model: Model, volume: VolumeModel, via: Via): Promise<LocalDecision> {
  if (via === 'archive') return decideLocal(via, volume, undefined, undefined);
  const [state] = volume.kind === 'bind' ? [] : await inspectVolumes(runner, [volume.name]);
  if (volume.kind !== 'bind' && state === undefined) return { volume: volume.key, path: undefined, reason: 'the archive endpoint: the volume does not exist yet' };
  const probe = await runner.run(identityProbe(await helperImage(runner, model, volume.key), [volumeMount(volume, '/v', true)], {}), { allowFailure: true });
  const [seen] = probe.code === 0 ? parseIdentities(probe.stdout, 1) : [undefined];
  return decideLocal(via, volume, state, seen);
}
