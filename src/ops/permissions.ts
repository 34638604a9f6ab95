import { dirname, posix, relative } from 'node:path';
import { findVolume, LABEL, type Model, type VolumeKind, type VolumeModel } from '../config/model.js';
import { formatMode } from '../config/syntax.js';
import { CommandFailed, type Command, type Runner } from '../engine/command.js';
import type { HelperMount } from '../engine/docker.js';
import { inspectVolumes } from '../engine/inspect.js';
import {
  MISSING_BIND_SOURCE,
  parsePermissionRecords,
  permissionsCommand,
  prepareHostPathCommand,
  probeHostPath,
  type PermissionRecord,
  type PermissionRule,
  type PermissionTarget,
} from '../engine/permissions.js';
import { EngineSession, helperImage } from '../session/session.js';

/**
 * fix-permissions: the declared owner on the whole tree, the declared mode on
 * the volume root, per-file rules (secrets never readable by group or
 * others), and missing host directories of host-backed and bind volumes. The
 * tree's modes are never changed wholesale: a blanket chmod is how secrets
 * become world-readable.
 */

export const EXAMPLES_PER_KIND = 10;

/** What the daemon says when a host-backed volume's directory is gone. */
const FAILED_VOLUME_MOUNT = 'failed to mount local volume';

export interface PermissionExample {
  path: string;
  current: string;
  wanted: string;
}

export interface VolumePermissions {
  volume: string;
  /** Docker volume name (for bind volumes: the name their backup artifacts carry). */
  name: string;
  kind: VolumeKind;
  /** What the helper mounted: `volume <name>` or `bind <host path>`; undefined when nothing could be mounted. */
  via: string | undefined;
  /** Entries whose owner or mode differed: changed, or with --check/--dry-run, to be changed. */
  changed: { owner: number; mode: number };
  /** Paths of per-file rules that do not exist (the application creates them; they are never created here). */
  missing: string[];
  skipped: Array<{ path: string; reason: string }>;
  examples: { owner: PermissionExample[]; mode: PermissionExample[]; missing: string[] };
  /** What an operator should look at by hand (a volume backed elsewhere than declared). */
  warnings: string[];
  hostPath: string | undefined;
  /** The host directory this run created, with the declared owner and mode. */
  createdHostPath: string | undefined;
  /** The host directory that is missing and would be created (--check, --dry-run). */
  missingHostPath: string | undefined;
  note: string | undefined;
}

export interface PermissionsResult {
  stack: string;
  project: string;
  /** false for --check and --dry-run: counts say what would change. */
  applied: boolean;
  /** Owner and mode differences plus host directories to create: what --check fails on. */
  differences: number;
  volumes: VolumePermissions[];
}

export interface PermissionsOptions {
  runner: Runner;
  volumes: string[];
  /** Read-only: report differences and change nothing (--check). */
  check: boolean;
  examples?: number;
  log?: (line: string) => void;
}

/** A rule path as the helper sees it: no `./`, no doubled or trailing slashes; the root is `.`. */
export function normalizeRulePath(path: string): string {
  const normalized = posix.normalize(path).replace(/\/+$/, '');
  return normalized === '' ? '.' : normalized;
}

/**
 * What the stack file asks of a volume. Secret files never end up readable by
 * group or others: a declared mode is masked, an undeclared one is 0600
 * (0700 for a directory, which must stay traversable for its owner).
 */
export function permissionTarget(volume: VolumeModel): PermissionTarget {
  const rules = volume.files.map((rule): PermissionRule => {
    const declared = rule.mode === undefined ? undefined : rule.secret ? rule.mode & ~0o077 : rule.mode;
    return {
      path: normalizeRulePath(rule.path),
      owner: rule.owner,
      fileMode: declared ?? (rule.secret ? 0o600 : undefined),
      dirMode: declared ?? (rule.secret ? 0o700 : undefined),
    };
  });
  return { owner: volume.owner, rootMode: volume.mode, rules };
}

export function declaresAnything(target: PermissionTarget): boolean {
  return target.owner !== undefined || target.rootMode !== undefined || target.rules.length > 0;
}

export interface Findings {
  changed: { owner: number; mode: number };
  missing: string[];
  skipped: Array<{ path: string; reason: string }>;
  examples: { owner: PermissionExample[]; mode: PermissionExample[] };
}

/** Sums the helper's per-batch counts and keeps the first examples of each kind. */
export function summarizeRecords(records: PermissionRecord[], limit: number): Findings {
  const findings: Findings = { changed: { owner: 0, mode: 0 }, missing: [], skipped: [], examples: { owner: [], mode: [] } };
  for (const r of records) {
    switch (r.kind) {
      case 'count':
        findings.changed[r.of] += r.n;
        break;
      case 'owner':
      case 'mode': {
        const list = findings.examples[r.kind];
        const shown = r.kind === 'mode' ? { path: r.path, current: formatMode(Number.parseInt(r.current, 8)), wanted: formatMode(Number.parseInt(r.wanted, 8)) } : { path: r.path, current: r.current, wanted: r.wanted };
        if (list.length < limit) list.push(shown);
        break;
      }
      case 'missing':
        findings.missing.push(r.path);
        break;
      case 'skip':
        findings.skipped.push({ path: r.path, reason: r.reason });
        break;
    }
  }
  return findings;
}

/** Paths with control characters (a newline, an escape) are shown quoted so they cannot forge output lines. */
export function displayPath(path: string): string {
  return /[\u0000-\u001f\u007f]/.test(path) ? JSON.stringify(path) : path;
}

export function helperLabels(model: Model): Record<string, string> {
  return { [LABEL.project]: model.project, [LABEL.env]: model.env };
}

/** What a helper mounts to reach a volume's content without creating anything. */
export interface VolumeAccess {
  mount: HelperMount;
  via: string;
}

/**
 * A named volume is mounted only when it exists: `--mount type=volume` would
 * otherwise create a plain unlabeled volume without the stack's driver options.
 * A host-backed volume not created yet is reached through its host directory.
 */
export async function volumeAccess(runner: Runner, volume: VolumeModel): Promise<VolumeAccess | undefined> {
  const hostBind = (path: string): VolumeAccess => ({ mount: { type: 'bind', source: path, target: '/v', readOnly: false }, via: `bind ${path}` });
  if (volume.kind === 'bind') return volume.hostPath === undefined ? undefined : hostBind(volume.hostPath);
  const [existing] = await inspectVolumes(runner, [volume.name]);
  if (existing !== undefined) return { mount: { type: 'volume', source: volume.name, target: '/v', readOnly: false }, via: `volume ${volume.name}` };
  if (volume.kind === 'host' && volume.hostPath !== undefined) return hostBind(volume.hostPath);
  return undefined;
}

/** A missing bind source reads as what it is, with what to do, instead of a daemon error. */
export function explainMissingSource(err: unknown, model: Model, volume: VolumeModel): unknown {
  const problem = err instanceof CommandFailed ? unreachableData(err.result.stderr, model, volume) : undefined;
  return problem === undefined ? err : new Error(problem);
}

/** The daemon's words for "the directory behind this volume is missing", turned into what happened and what to do. */
export function unreachableData(stderr: string, model: Model, volume: VolumeModel): string | undefined {
  const fix = `create it with npx zx scripts/fix-permissions.mjs --stack ${model.app}-${model.env} --volume ${volume.key}`;
  if (stderr.includes(MISSING_BIND_SOURCE)) return `volume ${volume.key}: host directory ${volume.hostPath ?? '(none)'} does not exist on the engine's host; ${fix}`;
  if (stderr.includes(FAILED_VOLUME_MOUNT)) {
    const detail = stderr.slice(stderr.indexOf(FAILED_VOLUME_MOUNT)).split('\n')[0] ?? '';
    return `volume ${volume.key}: Docker volume ${volume.name} cannot be mounted (${detail.trim()}); if its host directory is missing, ${fix}`;
  }
  return undefined;
}

/** A host-backed volume created by hand or by an older stack file may point at another directory than the one declared. */
export async function backingDrift(runner: Runner, volume: VolumeModel): Promise<string | undefined> {
  if (volume.kind !== 'host' && volume.kind !== 'nfs') return undefined;
  const [existing] = await inspectVolumes(runner, [volume.name]);
  if (existing === undefined) return undefined;
  const device = existing.Options?.['device'];
  const declared = volume.driverOpts['device'];
  if (device === declared) return undefined;
  return `Docker volume ${volume.name} is backed by ${device === undefined ? 'Docker-managed storage' : device}, not by ${declared ?? '(undeclared)'} as the stack file says`;
}

export interface HostPathState {
  /** Deepest existing ancestor of the path (the path itself when it exists). */
  existing: string;
  /** What is missing below `existing`; '' when the path exists. */
  missing: string;
}

/**
 * Asks the engine, not the local filesystem, whether a host path exists: with
 * DOCKER_HOST pointing elsewhere the answer must come from that host. Each
 * probe bind-mounts one candidate; the daemon refuses a missing source.
 */
export async function hostPathState(runner: Runner, image: string, path: string, labels: Record<string, string>): Promise<HostPathState> {
  let candidate = path;
  for (;;) {
    const probe = probeHostPath(image, candidate, labels);
    const result = await runner.run(probe, { allowFailure: true });
    if (result.code === 0) return { existing: candidate, missing: relative(candidate, path) };
    if (!result.stderr.includes(MISSING_BIND_SOURCE)) throw new CommandFailed(probe, result);
    const parent = dirname(candidate);
    if (parent === candidate) throw new Error(`no ancestor of ${path} exists on the engine's host, not even /; is the engine reachable?`);
    candidate = parent;
  }
}

/**
 * Creates a host directory on the engine's host when it is missing, through a
 * helper (with the volume's owner and mode), so a restore onto a fresh server
 * has somewhere to go. Returns whether it created it.
 */
export async function ensureHostDirectory(runner: Runner, model: Model, volume: VolumeModel): Promise<boolean> {
  if (volume.hostPath === undefined) return false;
  const image = await helperImage(runner, model, volume.key);
  const labels = helperLabels(model);
  const state = await hostPathState(runner, image, volume.hostPath, labels);
  if (state.missing === '') return false;
  await runner.run(prepareHostPathCommand(image, state.existing, state.missing, volume.owner, volume.mode, labels));
  return true;
}

export async function fixPermissions(model: Model, options: PermissionsOptions): Promise<PermissionsResult> {
  if (options.check || options.runner.dryRun) return fixAll(model, options);
  // Changing owners and modes is a change to the project's volumes: under its lock.
  return EngineSession.with(options.runner, model, 'fix-permissions', (line) => process.stderr.write(`${line}\n`), () => fixAll(model, options));
}

async function fixAll(model: Model, options: PermissionsOptions): Promise<PermissionsResult> {
  const volumes = options.volumes.length > 0 ? [...new Set(options.volumes)].map((key) => findVolume(model, key)) : model.volumes;
  const results: VolumePermissions[] = [];
  for (const volume of volumes) results.push(await fixVolume(model, volume, options));
  const differences = results.reduce((sum, v) => sum + v.changed.owner + v.changed.mode + (v.missingHostPath === undefined ? 0 : 1), 0);
  return { stack: `${model.app}-${model.env}`, project: model.project, applied: !options.check && !options.runner.dryRun, differences, volumes: results };
}

async function fixVolume(model: Model, volume: VolumeModel, options: PermissionsOptions): Promise<VolumePermissions> {
  const { runner } = options;
  const log = options.log ?? (() => undefined);
  const limit = options.examples ?? EXAMPLES_PER_KIND;
  const labels = helperLabels(model);
  const target = permissionTarget(volume);
  const result: VolumePermissions = {
    volume: volume.key,
    name: volume.name,
    kind: volume.kind,
    via: undefined,
    changed: { owner: 0, mode: 0 },
    missing: [],
    skipped: [],
    examples: { owner: [], mode: [], missing: [] },
    warnings: [],
    hostPath: volume.hostPath,
    createdHostPath: undefined,
    missingHostPath: undefined,
    note: undefined,
  };
  const image = await helperImage(runner, model, volume.key);

  if ((volume.kind === 'host' || volume.kind === 'bind') && volume.hostPath !== undefined) {
    const state = await hostPathState(runner, image, volume.hostPath, labels);
    if (state.missing !== '') {
      if (options.check || runner.dryRun) {
        result.missingHostPath = volume.hostPath;
        // Printed as the command to paste; the tree is empty until it exists, so there is nothing else to compare.
        if (!options.check) await runner.run(prepareHostPathCommand(image, state.existing, state.missing, volume.owner, volume.mode, labels));
        result.note = `host directory ${volume.hostPath} does not exist${options.check ? '' : '; it would be created'}`;
        return result;
      }
      await runner.run(prepareHostPathCommand(image, state.existing, state.missing, volume.owner, volume.mode, labels));
      result.createdHostPath = volume.hostPath;
      log(`created ${volume.hostPath}${volume.owner === undefined ? '' : ` owned by ${volume.owner.uid}:${volume.owner.gid}`}${volume.mode === undefined ? '' : ` mode ${formatMode(volume.mode)}`}`);
    }
  }

  if (!declaresAnything(target)) {
    result.note = 'declares no owner, mode or files: nothing to enforce';
    return result;
  }
  const access = await volumeAccess(runner, volume);
  if (access === undefined) {
    result.note = `volume ${volume.name} does not exist yet: nothing to fix (pulumi up or docker compose up creates it; run this again afterwards)`;
    return result;
  }
  result.via = access.via;
  const drift = await backingDrift(runner, volume);
  if (drift !== undefined) {
    result.warnings.push(`${drift}; the volume was handled as it exists`);
    log(`volume ${volume.key}: ${drift}; handling the volume as it exists`);
  }

  const check = permissionsCommand('check', image, access.mount, target, labels, limit);
  const fix = permissionsCommand('fix', image, access.mount, target, labels, limit);
  let findings: Findings;
  if (options.check || runner.dryRun) {
    findings = summarizeRecords(parsePermissionRecords((await runChecked(runner, check, model, volume)).stdout), limit);
    if (!options.check && findings.changed.owner + findings.changed.mode > 0) await runner.run(fix);
  } else {
    findings = summarizeRecords(parsePermissionRecords((await runChecked(runner, fix, model, volume)).stdout), limit);
  }
  result.changed = findings.changed;
  result.missing = findings.missing;
  result.skipped = findings.skipped;
  result.examples = { ...findings.examples, missing: findings.missing.slice(0, limit) };
  for (const s of findings.skipped) log(`volume ${volume.key}: ${s.path} ${s.reason}; check it by hand`);
  return result;
}

async function runChecked(runner: Runner, cmd: Command, model: Model, volume: VolumeModel): Promise<{ stdout: string }> {
  try {
    return await runner.run(cmd);
  } catch (err) {
    throw explainMissingSource(err, model, volume);
  }
}
