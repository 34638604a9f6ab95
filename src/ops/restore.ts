import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, createWriteStream, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { CheckFailed, UsageError } from '../config/errors.js';
import { findVolume, type Model, type VolumeModel } from '../config/model.js';
import { isSafeRelativePath } from '../config/syntax.js';
import { singleFileArchive, transformArchive, type Chunks } from '../engine/archive.js';
import { renderCommand, startStreaming, type Runner } from '../engine/command.js';
import { mongo, pg, removeFile } from '../engine/databases.js';
import { docker } from '../engine/docker.js';
import { inspectContainers, inspectVolumes, runningContainersUsing, type ContainerState } from '../engine/inspect.js';
import { decodeIntoProcess, fileIdentity, readArtifact } from '../engine/pipeline.js';
import { ProjectLock, readManifest, type ArtifactRecord } from './backup-set.js';
import { mongoTarget, pgTarget } from './backup.js';
import { helperImage, journalEngineChanges, recoverLeftovers, uninterruptible, uniqueSuffix, volumeMount, withHelper, withStopped } from './helpers.js';
import { silentProgress, type ProgressFactory } from './progress.js';
import { PREPARE, SWAP_ALL, SWAP_PATHS } from './swap-scripts.js';
import { decodeSteps, isEncrypted, verifySet, type VerifyResult } from './verify.js';
import { refuseOtherEnvironment } from './environment-guard.js';

export interface RestoreOptions {
  runner: Runner;
  volumes: string[];
  paths: string[];
  identity: string | undefined;
  progress?: ProgressFactory;
  log?: (line: string) => void;
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
  const wanted = options.volumes.length > 0 ? options.volumes : manifest.artifacts.map((a) => a.volume);
  const items: RestorePlanItem[] = [];
  for (const key of wanted) {
    const volume = findVolume(model, key);
    const artifact = manifest.artifacts.find((a) => a.volume === key);
    if (artifact === undefined) throw new UsageError(`backup set ${setDir} has no artifact for volume ${key}; it holds: ${manifest.artifacts.map((a) => a.volume).join(', ')}`);
    const isDump = artifact.method === 'pg_dump' || artifact.method === 'mongodump';
    if (options.paths.length > 0 && (isDump || wanted.length !== 1)) {
      throw new UsageError(isDump ? `--path does not apply to ${artifact.method} artifacts` : '--path selects files inside one volume: name it with --volume');
    }
    for (const p of options.paths) {
      if (!isSafeRelativePath(p.replace(/^\.\//, ''))) throw new UsageError(`--path ${p}: write a path relative to the volume root, without a leading / or ".."`);
    }
    // An artifact made with --path holds only those paths: restoring it must not wipe the rest of the volume.
    const paths = options.paths.length > 0 ? options.paths.map(normalizePath) : (artifact.paths ?? []).map(normalizePath);
    items.push({ volume, artifact, paths, stop: [], root: undefined, identity: identityOf(join(setDir, artifact.file)) });
  }
  const stops = await containersToStop(model, items, options.runner);
  items.forEach((item, k) => (item.stop = stops[k] ?? []));
  const locked = items.filter((i) => isEncrypted(i.artifact));
  if (locked.length > 0 && options.identity === undefined) {
    throw new UsageError(`${locked.map((i) => i.artifact.file).join(', ')} ${locked.length === 1 ? 'is' : 'are'} encrypted: pass --identity <age identity file> (or set STOWAGE_AGE_IDENTITY); nothing was changed`);
  }
  const verification = await verifySet(setDir, { runner: options.runner, identity: options.identity, volumes: wanted, ...(options.progress === undefined ? {} : { progress: options.progress }) });
  for (const item of items) item.root = verification.artifacts.find((a) => a.volume === item.volume.key)?.root;
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
  const running = [...new Map([...usingVolumes, ...declared].map((c) => [c.Id, c])).values()];
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

function normalizePath(p: string): string {
  return p.replace(/^\.\//, '').replace(/\/+$/, '');
}

export function describePlan(plan: RestorePlan): string {
  return [
    `restore from ${plan.set}:`,
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
    return { set: setDir, restored: [], stopped: [], verification: plan.verification };
  }
  await options.confirm(plan);
  // The same lock as backups: a concurrent backup --prune must not remove the set being restored.
  const lock = ProjectLock.acquire(dirname(dirname(setDir)), model.project);
  const untrack = journalEngineChanges((change, names) => lock.note(change, names));
  try {
    if (lock.inherited !== undefined) for (const line of await recoverLeftovers(options.runner, lock.inherited)) (options.log ?? (() => undefined))(line);
    // Who runs may have changed since the plan was confirmed (a recovery above, a backup that held the
    // lock and started its writers, an operator): stop what runs now, and ask again if that differs.
    const now = await containersToStop(model, plan.items, options.runner);
    if (plan.items.some((item, k) => [...item.stop].sort().join(' ') !== [...(now[k] ?? [])].sort().join(' '))) {
      plan = { ...plan, items: plan.items.map((item, k) => ({ ...item, stop: now[k] ?? [] })) };
      (options.log ?? (() => undefined))('the containers using the volumes changed since the plan was shown; here is the plan again');
      await options.confirm(plan);
    }
    return await applyPlan(model, setDir, plan, options);
  } finally {
    untrack();
    lock.release();
  }
}

function verified(plan: RestorePlan, setDir: string): RestorePlan {
  if (!plan.verification.ok) {
    const bad = plan.verification.artifacts.filter((a) => !a.ok);
    throw new CheckFailed(`verification of ${setDir} failed; nothing was changed:\n${bad.flatMap((a) => a.problems.map((p) => `  ${a.file}: ${p}`)).join('\n')}`);
  }
  return plan;
}

async function applyPlan(model: Model, setDir: string, plan: RestorePlan, options: RestoreOptions): Promise<RestoreResult> {
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
      await withStopped(options.runner, item.stop, () => restoreDump(model, setDir, item, options));
      restored.push({ volume: item.volume.key, file: item.artifact.file, paths: [], created: false });
    } else {
      const created = await ensureVolume(options.runner, item.volume);
      if (created) log(`created ${item.volume.kind === 'bind' ? 'directory' : 'volume'} ${item.volume.kind === 'bind' ? item.volume.hostPath ?? '' : item.volume.name}`);
      await withStopped(options.runner, item.stop, () => restoreTree(model, setDir, item, options));
      restored.push({ volume: item.volume.key, file: item.artifact.file, paths: item.paths, created });
    }
  }
  return { set: setDir, restored, stopped: [...stopped].sort(), verification: plan.verification };
}

/** A restore into a volume that does not exist yet creates it as the stack declares it. */
async function ensureVolume(runner: Runner, volume: VolumeModel): Promise<boolean> {
  if (volume.kind === 'bind') {
    const path = volume.hostPath ?? '';
    if (process.env['DOCKER_HOST'] !== undefined || existsSync(path)) return false;
    mkdirSync(path, { recursive: true, mode: 0o750 });
    return true;
  }
  const [existing] = await inspectVolumes(runner, [volume.name]);
  if (existing !== undefined) return false;
  if (volume.kind === 'host' && volume.hostPath !== undefined && process.env['DOCKER_HOST'] === undefined && !existsSync(volume.hostPath)) {
    mkdirSync(volume.hostPath, { recursive: true, mode: 0o750 });
  }
  await runner.run(docker.createVolume(volume.name, volume.driver, volume.driverOpts, volume.labels));
  return true;
}

async function restoreTree(model: Model, setDir: string, item: RestorePlanItem, options: RestoreOptions): Promise<void> {
  const { runner } = options;
  const image = await helperImage(runner, model, item.volume.key);
  const id = uniqueSuffix();
  const staging = `.stowage-restore-${id}`;
  const old = `.stowage-old-${id}`;
  const mount = volumeMount(item.volume, '/v', false);
  const labels = { 'stowage.project': model.project, 'stowage.env': model.env };
  // The staging directory and the helper that fills it are prepared side by side.
  const preparing = runner.run(docker.runHelperScript(image, [mount], PREPARE, [staging], labels));
  preparing.catch(() => undefined); // awaited below; a failure ends the restore there
  try {
    await withHelper(runner, model, image, [mount], async (helper) => {
      await preparing;
      const path = join(setDir, item.artifact.file);
      const bar = (options.progress ?? silentProgress)(`restore ${item.volume.key}`, statSync(path).size);
      const steps = decodeSteps(item.artifact, options.identity);
      const target = docker.archiveWrite(helper, `/v/${staging}`);
      if (item.paths.length > 0 && (item.artifact.paths ?? []).length === 0) {
        // Selecting paths rewrites the archive, which happens here.
        const reader = readArtifact(path, steps, (n) => bar.add(n));
        const content: Chunks = transformArchive(reader.content, { include: item.paths, exclude: [], splice: [], dropWith: () => false });
        const writer = startStreaming(target, { stdin: 'pipe', stdout: 'ignore' });
        const stdin = writer.child.stdin;
        if (stdin === null) throw new Error('docker cp has no stdin');
        stdin.on('error', () => undefined);
        const [hashed] = await Promise.all([reader.done, pipeline(content, stdin), writer.done]);
        // The artifact was verified a moment ago; a different hash now means it changed under us.
        if (hashed.sha256 !== item.artifact.sha256) throw new Error(`${item.artifact.file} changed since it was verified; nothing was swapped in`);
      } else {
        // Whole archive: file -> zstd -> docker cp, process to process.
        await decodeIntoProcess(path, steps, target, { identity: item.identity, onStoredBytes: (n) => bar.add(n) });
      }
      bar.finish();
    });
    const swap = item.paths.length > 0
      ? docker.runHelperScript(image, [mount], SWAP_PATHS, [staging, old, ...pathSwapArguments(item)], labels)
      : docker.runHelperScript(image, [mount], SWAP_ALL, [staging, old, ...rootArguments(item.root)], labels);
    await uninterruptible(() => runner.run(swap));
  } catch (err) {
    // The live content was not touched yet (or the swap rolled back): remove the staging copy,
    // once the preparation that may still be creating it is over.
    await preparing.catch(() => undefined);
    await runner.run(docker.runHelperScript(image, [mount], 'rm -rf -- "/v/$1"', [staging], labels), { allowFailure: true });
    throw err;
  }
}

async function restoreDump(model: Model, setDir: string, item: RestorePlanItem, options: RestoreOptions): Promise<void> {
  const { runner } = options;
  const container = model.containers.find((c) => c.service === item.volume.backup.service);
  const [state] = container === undefined ? [] : await inspectContainers(runner, [container.name]);
  if (container === undefined || state === undefined || !state.State.Running) {
    throw new Error(`${item.artifact.method} restore runs inside ${container?.name ?? `service ${item.volume.backup.service ?? '?'}`}, which is not running; start it first`);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'stowage-restore-'));
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
