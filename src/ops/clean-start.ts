import { existsSync, readdirSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve, sep } from 'node:path';
import { engineIsLocal } from '../engine/endpoint.js';
import { UsageError } from '../config/errors.js';
import { LABEL, type Model, type VolumeModel } from '../config/model.js';
import { CommandFailed, type Runner } from '../engine/command.js';
import { docker } from '../engine/docker.js';
import { inspectContainers, inspectVolumes, type ContainerState } from '../engine/inspect.js';
import { parseEmptied, usage, type UsageMount } from '../engine/usage.js';
import { backup } from '../backup/backup.js';
import { EngineSession, helperImage } from '../session/session.js';
import { silentProgress, type ProgressFactory } from '../cli/progress.js';
import { verifySet } from '../backup/verify.js';

/**
 * Clean start: back up and verify, then remove the stack's containers and
 * volumes and empty its directories, so the next deploy starts from nothing.
 * Everything removed is proven to be the stack's: containers by name and
 * labels, volumes by declared name (and labels when they have them),
 * directories by being declared in the stack file.
 */

export interface CleanStartOptions {
  runner: Runner;
  /** Backup root; undefined for --no-backup. */
  backupTo: string | undefined;
  identity?: string | undefined;
  /** Asked after planning and before the backup; throws to refuse. Not called for dry runs or when there is nothing to remove. */
  confirm: (plan: CleanStartPlan) => Promise<void>;
  progress?: ProgressFactory;
  log?: (line: string) => void;
}

export interface PlannedContainer {
  name: string;
  id: string;
  running: boolean;
}

export interface PlannedVolume {
  key: string;
  name: string;
  /** labels: carries this stack's labels; declared: no stowage labels (older tooling), removed because the stack declares its name. */
  matchedBy: 'labels' | 'declared';
  /** NFS: the data lives on the server; it is emptied through the volume before the volume goes. */
  emptyFirst: boolean;
}

export interface PlannedDirectory {
  key: string;
  path: string;
  kind: 'bind' | 'host';
  /** Entries in it now, when this host can see it (a local engine); null when only the engine can tell. */
  entries: number | null;
}

export interface Skipped {
  kind: 'container' | 'volume' | 'directory';
  name: string;
  reason: string;
}

export interface CleanStartPlan {
  model: Model;
  containers: PlannedContainer[];
  volumes: PlannedVolume[];
  directories: PlannedDirectory[];
  skipped: Skipped[];
  /** Volumes that exist and have a backup method; what the backup covers. */
  backupVolumes: string[];
  notBackedUp: Array<{ volume: string; reason: string }>;
  /** Host-backed directories holding data whose Docker volume is gone: backup() reads through the volume, so it cannot cover them. */
  unreachable: Array<{ volume: string; path: string }>;
  backupTo: string | undefined;
}

export interface CleanStartResult {
  project: string;
  env: string;
  dryRun: boolean;
  backup: { path: string; id: string; artifacts: number; verified: boolean } | null;
  backupSkipped: string | null;
  removed: {
    containers: string[];
    volumes: string[];
    directories: Array<{ volume: string; path: string; entries: number | null }>;
  };
  skipped: Skipped[];
}

function isInside(path: string, dir: string): boolean {
  const rel = relative(dir, path);
  return rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

function labelsOf(state: ContainerState): Record<string, string> {
  return state.Config.Labels ?? {};
}

function localEntries(path: string): number | null | 'missing' {
  // A directory of another machine cannot be looked at from here: the plan says its entries are unknown.
  if (!engineIsLocal()) return null;
  if (!existsSync(path)) return 'missing';
  try {
    return readdirSync(path).length;
  } catch {
    return null;
  }
}

/** Read-only: what a clean start would remove, what it leaves alone and why. */
export async function planCleanStart(model: Model, runner: Runner, backupTo: string | undefined): Promise<CleanStartPlan> {
  const { project, env } = model;
  const skipped: Skipped[] = [];

  const byName = await inspectContainers(runner, model.containers.map((c) => c.name));
  const labelledIds = (await runner.output(docker.listContainerIds([`label=${LABEL.project}=${project}`, `label=${LABEL.env}=${env}`], true))).split('\n').filter((id) => id !== '');
  const byLabel = await inspectContainers(runner, labelledIds);
  const containers = new Map<string, PlannedContainer>();
  for (const state of byName) {
    if (labelsOf(state)[LABEL.project] === project) containers.set(state.Id, { name: state.Name, id: state.Id, running: state.State.Running });
    else {
      const found = labelsOf(state)[LABEL.project];
      skipped.push({
        kind: 'container',
        name: state.Name,
        reason: `has the stack's name but ${found === undefined ? `no ${LABEL.project} label` : `${LABEL.project}=${found}`}; remove it yourself if it belongs to ${project}`,
      });
    }
  }
  // The engine's filter already matched; checking again costs nothing and guards against a filter typo.
  for (const state of byLabel) {
    if (labelsOf(state)[LABEL.project] === project && labelsOf(state)[LABEL.env] === env) containers.set(state.Id, { name: state.Name, id: state.Id, running: state.State.Running });
  }

  const dockerVolumes = model.volumes.filter((v) => v.kind !== 'bind');
  const states = new Map((await inspectVolumes(runner, dockerVolumes.map((v) => v.name))).map((s) => [s.Name, s]));
  const volumes: PlannedVolume[] = [];
  const foreignVolumeKeys = new Set<string>();
  for (const volume of dockerVolumes) {
    const state = states.get(volume.name);
    if (state === undefined) continue;
    const labels = state.Labels ?? {};
    const owner = labels[LABEL.project];
    if (owner === undefined) {
      volumes.push({ key: volume.key, name: volume.name, matchedBy: 'declared', emptyFirst: volume.kind === 'nfs' });
      continue;
    }
    const mismatch =
      owner !== project
        ? `${LABEL.project}=${owner}`
        : labels[LABEL.env] !== undefined && labels[LABEL.env] !== env
          ? `${LABEL.env}=${labels[LABEL.env] ?? ''}`
          : labels[LABEL.volume] !== undefined && labels[LABEL.volume] !== volume.key
            ? `${LABEL.volume}=${labels[LABEL.volume] ?? ''}`
            : undefined;
    if (mismatch === undefined) volumes.push({ key: volume.key, name: volume.name, matchedBy: 'labels', emptyFirst: volume.kind === 'nfs' });
    else {
      foreignVolumeKeys.add(volume.key);
      skipped.push({ kind: 'volume', name: volume.name, reason: `carries ${mismatch}, not this stack's labels; left alone` });
    }
  }

  const directories: PlannedDirectory[] = [];
  const seen = new Set<string>();
  for (const volume of model.volumes) {
    if ((volume.kind !== 'bind' && volume.kind !== 'host') || volume.hostPath === undefined) continue;
    if (foreignVolumeKeys.has(volume.key)) {
      skipped.push({ kind: 'directory', name: volume.hostPath, reason: `its volume ${volume.name} belongs to another stack; left alone` });
      continue;
    }
    if (seen.has(volume.hostPath)) continue;
    seen.add(volume.hostPath);
    const entries = localEntries(volume.hostPath);
    if (entries === 'missing' || entries === 0) continue;
    directories.push({ key: volume.key, path: volume.hostPath, kind: volume.kind, entries });
  }

  const backupVolumes: string[] = [];
  const notBackedUp: CleanStartPlan['notBackedUp'] = [];
  const unreachable: CleanStartPlan['unreachable'] = [];
  for (const volume of model.volumes) {
    const hasDirectory = directories.some((d) => d.key === volume.key);
    const exists = volume.kind === 'bind' ? hasDirectory : volumes.some((v) => v.key === volume.key);
    if (!exists) {
      if (hasDirectory && volume.backup.method !== 'none') unreachable.push({ volume: volume.key, path: volume.hostPath ?? '' });
      continue;
    }
    if (volume.backup.method === 'none') notBackedUp.push({ volume: volume.key, reason: `backup method none${volume.backup.reason === undefined ? '' : `: ${volume.backup.reason}`}` });
    else backupVolumes.push(volume.key);
  }
  return { model, containers: [...containers.values()], volumes, directories, skipped, backupVolumes, notBackedUp, unreachable, backupTo };
}

/** Guards that refuse before anything happens: directories that hold the checkout or the backup, foreign users of the stack's data. */
export async function checkPlan(plan: CleanStartPlan, runner: Runner): Promise<void> {
  const { model } = plan;
  for (const dir of plan.directories) {
    const path = resolve(dir.path);
    const holds = (what: string, inner: string): void => {
      if (isInside(resolve(inner), path)) {
        throw new UsageError(`refusing to empty ${path} (volume ${dir.key}): it holds ${what} ${inner}; fix the volume's path in ${model.stackFile}`);
      }
    };
    if (path === '/' || path === dirname(path)) throw new UsageError(`refusing to empty ${path} (volume ${dir.key}): it is a filesystem root; fix the volume's path in ${model.stackFile}`);
    holds('the stack file', model.stackFile);
    holds('the project root', model.projectRoot);
    if (plan.backupTo !== undefined) holds('the backup directory', plan.backupTo);
  }

  if (plan.backupTo !== undefined && plan.unreachable.length > 0) {
    throw new Error(
      `clean start of ${model.app}-${model.env} refused, nothing was changed: ` +
        plan.unreachable.map((u) => `${u.path} (volume ${u.volume}) holds data but its Docker volume ${model.project}_${u.volume} is missing, so it cannot be backed up`).join('; ') +
        '; recreate the volume (deploy the stack) and run again, or pass --no-backup if that data is not needed',
    );
  }

  const ours = new Set(plan.containers.map((c) => c.id));
  const problems: string[] = [];
  const sources = [
    ...plan.volumes.map((v) => ({ source: v.name, what: `volume ${v.name} is used by` })),
    ...plan.directories.map((d) => ({ source: d.path, what: `directory ${d.path} is mounted by` })),
  ];
  for (const { source, what } of sources) {
    for (const line of (await runner.output(usage.containersUsing(source))).split('\n')) {
      const [id, name] = line.split('\t');
      if (id === undefined || id === '' || ours.has(id)) continue;
      problems.push(`${what} container ${name ?? id}`);
    }
  }
  if (problems.length > 0) {
    throw new Error(
      `clean start of ${model.app}-${model.env} refused, nothing was changed:\n  ${problems.join('\n  ')}\n` +
        `those containers are not part of the stack (no ${LABEL.project}=${model.project} label with its name or environment); ` +
        'stop and remove them first if they belong to it, or fix the stack file if the data is shared',
    );
  }
}

export function nothingToRemove(plan: CleanStartPlan): boolean {
  return plan.containers.length === 0 && plan.volumes.length === 0 && plan.directories.length === 0;
}

export function describeCleanStart(plan: CleanStartPlan): string {
  const { model } = plan;
  const list = (items: string[]): string => (items.length === 0 ? '(none)' : items.join(', '));
  return [
    `clean start of ${model.app}-${model.env} (project ${model.project}) removes ALL of its data:`,
    `  containers: ${list(plan.containers.map((c) => c.name))}`,
    `  volumes:    ${list(plan.volumes.map((v) => v.name))}`,
    `  emptied:    ${list(plan.directories.map((d) => `${d.path}${d.entries === null ? '' : ` (${d.entries} ${d.entries === 1 ? 'entry' : 'entries'})`}`))}`,
    plan.backupTo === undefined
      ? '  NO BACKUP is made first (--no-backup)'
      : plan.backupVolumes.length === 0
        ? '  nothing to back up first'
        : `  first backed up and verified into ${plan.backupTo}/${model.project}/: ${plan.backupVolumes.join(', ')}`,
    ...plan.notBackedUp.map((n) => `  not backed up: ${n.volume} (${n.reason})`),
    ...plan.skipped.map((s) => `  left alone: ${s.kind} ${s.name}: ${s.reason}`),
  ].join('\n');
}

function mountOf(volume: VolumeModel | undefined, dir: PlannedDirectory | undefined): UsageMount {
  if (dir !== undefined) return { type: 'bind', source: dir.path, readOnly: false };
  return { type: 'volume', source: volume?.name ?? '', readOnly: false };
}

async function emptyingImage(model: Model, runner: Runner, key: string, log: (line: string) => void): Promise<string> {
  try {
    return await helperImage(runner, model, key);
  } catch (err) {
    if (!runner.dryRun) throw err;
    // The plan is still worth showing; the real run stops here with the same message.
    log(`warning: ${err instanceof Error ? err.message : String(err)}`);
    return '<helper image>';
  }
}

async function empty(model: Model, runner: Runner, mount: UsageMount, key: string, log: (line: string) => void): Promise<number | null> {
  const image = await emptyingImage(model, runner, key, log);
  try {
    const result = await runner.run(usage.emptyDirectory(image, mount, { [LABEL.project]: model.project, [LABEL.env]: model.env }));
    return parseEmptied(result.stdout) ?? null;
  } catch (err) {
    // Gone since planning (or never there, on a remote engine): nothing to empty.
    if (mount.type === 'bind' && err instanceof CommandFailed && /bind source path does not exist/i.test(err.result.stderr)) return 0;
    throw err;
  }
}

export async function cleanStart(model: Model, options: CleanStartOptions): Promise<CleanStartResult> {
  const { runner } = options;
  const log = options.log ?? (() => undefined);
  const plan = await planCleanStart(model, runner, options.backupTo);
  await checkPlan(plan, runner);
  const result: CleanStartResult = {
    project: model.project,
    env: model.env,
    dryRun: runner.dryRun,
    backup: null,
    backupSkipped: null,
    removed: { containers: [], volumes: [], directories: [] },
    skipped: plan.skipped,
  };
  for (const s of plan.skipped) log(`left alone: ${s.kind} ${s.name}: ${s.reason}`);

  if (nothingToRemove(plan)) {
    result.backupSkipped = 'nothing to remove';
    if (runner.dryRun) runner.plan(`# clean start of ${model.app}-${model.env}: nothing to remove`);
    return result;
  }
  if (runner.dryRun) runner.plan(`# clean start of ${model.app}-${model.env} (project ${model.project}); a dry run changes nothing`);
  else await options.confirm(plan);
  // Under the project lock from here: no backup or restore of this project runs while its volumes go.
  return EngineSession.with(runner, model, 'clean-start', log, () => removeAfterBackup(model, plan, result, options));
}

async function removeAfterBackup(model: Model, plan: CleanStartPlan, result: CleanStartResult, options: CleanStartOptions): Promise<CleanStartResult> {
  const { runner } = options;
  const log = options.log ?? (() => undefined);

  if (options.backupTo === undefined) result.backupSkipped = '--no-backup';
  else if (plan.backupVolumes.length === 0) result.backupSkipped = 'nothing to back up';
  else {
    let set: { path: string; id: string; artifacts: number };
    try {
      const made = await backup(model, { to: options.backupTo, volumes: plan.backupVolumes, paths: [], runner, progress: options.progress ?? silentProgress, log });
      set = { path: made.path, id: made.id, artifacts: made.artifacts.length };
    } catch (err) {
      throw new Error(
        `clean start of ${model.app}-${model.env} aborted, nothing was removed: the backup failed: ${err instanceof Error ? err.message : String(err)}\n` +
          'fix the cause and run again, or pass --no-backup if the data is not needed',
      );
    }
    if (runner.dryRun) runner.plan(`# then verify the new set: npx zx scripts/verify.mjs --stack ${model.app}-${model.env} --backup latest --to ${options.backupTo}`);
    else {
      const verified = await verifySet(set.path, { runner, identity: options.identity, progress: options.progress ?? silentProgress });
      if (!verified.ok) {
        const problems = verified.artifacts.flatMap((a) => a.problems.map((p) => `  ${a.file}: ${p}`));
        throw new Error(`clean start of ${model.app}-${model.env} aborted, nothing was removed: backup set ${set.path} failed verification:\n${problems.join('\n')}`);
      }
      log(`backup set ${set.path} verified (${set.artifacts} artifacts)`);
      result.backup = { ...set, verified: true };
    }
  }

  const running = plan.containers.filter((c) => c.running).map((c) => c.name);
  // Stopped with time to shut down cleanly (databases flush), then removed.
  if (running.length > 0) await runner.run(docker.stop(running, 30));
  for (const c of plan.containers) {
    await runner.run(docker.removeContainer(c.name));
    result.removed.containers.push(c.name);
  }
  for (const v of plan.volumes) {
    const volume = model.volumes.find((m) => m.key === v.key);
    if (v.emptyFirst) result.removed.directories.push({ volume: v.key, path: v.name, entries: await empty(model, runner, mountOf(volume, undefined), v.key, log) });
    await runner.run(docker.removeVolume(v.name));
    result.removed.volumes.push(v.name);
  }
  // Host-backed volumes keep their data in the host directory after `docker volume rm`; a redeploy would find it again.
  for (const d of plan.directories) {
    const entries = await empty(model, runner, mountOf(undefined, d), d.key, log);
    result.removed.directories.push({ volume: d.key, path: d.path, entries: runner.dryRun ? d.entries : entries });
  }
  return result;
}
