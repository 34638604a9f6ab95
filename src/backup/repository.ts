import { hostname } from 'node:os';
import { readdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { CheckFailed, UsageError } from '../config/errors.js';
import { CommandFailed, startStreaming, type Command, type CommandResult, type Runner, type StreamingProcess } from '../engine/command.js';
import { classifyFailure, MANIFEST_FILE, parseLock, parseSnapshots, restic, TAG, type ResticLock, type ResticSnapshot } from '../engine/restic.js';
import { processAlive } from '../session/process-owner.js';
import { UTC_STAMP } from '../util/timestamps.js';
import type { RepositoryDestination } from './destination.js';
import { ManifestInvalid, parseManifest, type Manifest } from './set.js';

/**
 * A restic repository as a destination of backup sets. One backup run is one
 * set: a snapshot per volume, tagged `stowage`, `project=`, `env=`, `set=<UTC
 * timestamp>` and `volume=`, then a manifest snapshot (`manifest.json`,
 * tagged `manifest`) written last. A set without its manifest is incomplete
 * and never used, as a set directory without manifest.json.
 */

export interface RepositorySet {
  /** The set's UTC timestamp, YYYYMMDDTHHMMSSZ. */
  id: string;
  env: string | undefined;
  /** The manifest snapshot; undefined: incomplete (an interrupted run). */
  manifest: ResticSnapshot | undefined;
  /** The volume snapshots by volume key. */
  volumes: Map<string, ResticSnapshot>;
  /** Every snapshot of the set (volumes and manifest). */
  snapshots: ResticSnapshot[];
}

export function tagValue(snapshot: ResticSnapshot, key: string): string | undefined {
  const prefix = `${key}=`;
  return snapshot.tags?.find((t) => t.startsWith(prefix))?.slice(prefix.length);
}

/** Groups a project's snapshots into sets, oldest first. */
export function groupSets(snapshots: ResticSnapshot[]): RepositorySet[] {
  const sets = new Map<string, RepositorySet>();
  for (const snapshot of snapshots) {
    const id = tagValue(snapshot, 'set');
    if (id === undefined || !UTC_STAMP.test(id)) continue;
    const set: RepositorySet = sets.get(id) ?? { id, env: tagValue(snapshot, 'env'), manifest: undefined, volumes: new Map(), snapshots: [] };
    set.snapshots.push(snapshot);
    if (snapshot.tags?.includes(TAG.manifest) === true) set.manifest = snapshot;
    else {
      const volume = tagValue(snapshot, 'volume');
      if (volume !== undefined) set.volumes.set(volume, snapshot);
    }
    sets.set(id, set);
  }
  return [...sets.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

export interface OpenOptions {
  /** Create the repository when there is none (--init). */
  init?: boolean;
  /** Look for stale locks of our own dead runs and remove them (runs that write or check). */
  clearStaleLocks?: boolean;
}

export class Repository {
  constructor(
    readonly runner: Runner,
    readonly destination: RepositoryDestination,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  get display(): string {
    return this.destination.display;
  }

  /**
   * Opens the repository before anything else happens: proves that it exists
   * and that the password opens it (a wrong password or a missing repository
   * is bad usage, exit 2, and nothing has stopped yet), creates it with
   * `init`, and removes stale locks of this host's dead restic runs.
   * Returns the project's sets.
   */
  async open(project: string, options: OpenOptions = {}): Promise<RepositorySet[]> {
    const listing = this.runner.run(restic.snapshots(this.destination, [TAG.stowage, TAG.project(project)]), { allowFailure: true });
    // Each restic run derives the key first (half a second by design): a local repository without locks needs none.
    const locks = options.clearStaleLocks === true && !lockFreeOnDisk(this.destination.repository) ? this.runner.run(restic.listLocks(this.destination), { allowFailure: true }) : undefined;
    let first = await listing;
    await locks?.catch(() => undefined);
    if (first.code !== 0 && classifyFailure(first.stderr) === 'no-repository' && options.init === true) {
      if (this.runner.dryRun) {
        this.runner.plan(`# ${this.display} does not exist yet: --init creates it`);
        await this.runner.run(restic.init(this.destination));
        return [];
      }
      this.log(`creating the restic repository ${this.display} (--init)`);
      await this.runChecked(restic.init(this.destination));
      first = await this.runner.run(restic.snapshots(this.destination, [TAG.stowage, TAG.project(project)]), { allowFailure: true });
    }
    if (first.code !== 0) throw this.failure(restic.snapshots(this.destination, []), first);
    const lockList = locks === undefined ? undefined : await locks;
    if (lockList !== undefined && lockList.code === 0 && lockList.stdout.trim() !== '') await this.clearStaleLocks(lockList.stdout);
    return groupSets(parseSnapshots(first.stdout));
  }

  /** The project's snapshots as they are now (no preflight), with more tags to match when given. */
  async snapshots(project: string, extraTags: string[] = []): Promise<ResticSnapshot[]> {
    const result = await this.runChecked(restic.snapshots(this.destination, [TAG.stowage, TAG.project(project), ...extraTags]));
    return parseSnapshots(result.stdout);
  }

  /** The project's sets as they are now (no preflight). */
  async sets(project: string): Promise<RepositorySet[]> {
    return groupSets(await this.snapshots(project));
  }

  /** A restic command's failure as an error a person can act on; other errors as they are. */
  explain(err: unknown): unknown {
    if (err instanceof CommandFailed && err.cmd.program === 'restic') return this.failure(err.cmd, err.result);
    if (err instanceof CommandFailed && err.cmd.program === 'unshare' && err.cmd.args.includes('restic')) return this.failure(err.cmd, err.result);
    return err;
  }

  /** The manifest of a complete set, validated and checked against the snapshots it names. */
  async manifest(set: RepositorySet): Promise<Manifest> {
    if (set.manifest === undefined) throw new UsageError(`set ${set.id} in ${this.display} has no manifest: it is incomplete (an interrupted backup) and is never used`);
    const where = `${this.display} set ${set.id} (snapshot ${set.manifest.short_id})`;
    const dumped = await this.runChecked(restic.dump(this.destination, set.manifest.id, `/${MANIFEST_FILE}`));
    const manifest = parseManifest(dumped.stdout, where);
    if (manifest.id !== undefined && manifest.id !== set.id) throw new ManifestInvalid(`${where}: the manifest is of set ${manifest.id}; the repository's tags and manifests disagree`);
    for (const artifact of manifest.artifacts) {
      const snapshot = set.volumes.get(artifact.volume);
      if (artifact.snapshot === undefined) throw new ManifestInvalid(`${where}: artifact ${artifact.file} names no snapshot`);
      if (snapshot === undefined || snapshot.id !== artifact.snapshot) {
        throw new ManifestInvalid(`${where}: volume ${artifact.volume}'s snapshot ${artifact.snapshot.slice(0, 8)} is not in the repository (forgotten or pruned): the set is incomplete`);
      }
      if (artifact.format === 'tree' && artifact.sha256 !== snapshot.tree) {
        throw new ManifestInvalid(`${where}: volume ${artifact.volume}'s snapshot holds tree ${snapshot.tree.slice(0, 12)}, the manifest says ${artifact.sha256.slice(0, 12)}`);
      }
    }
    return manifest;
  }

  /** Runs a restic command; a failure says what failed and what to do (exit 2 for a password or a repository that is not there). */
  async runChecked(cmd: Command): Promise<CommandResult> {
    let result = await this.runner.run(cmd, { allowFailure: true });
    if (result.code !== 0 && classifyFailure(result.stderr) === 'locked' && !this.runner.dryRun) {
      // Our own dead runs' locks go, and the command gets a second chance; a live lock stays.
      const listed = await this.runner.run(restic.listLocks(this.destination), { allowFailure: true });
      if (listed.code === 0 && (await this.clearStaleLocks(listed.stdout)) > 0) result = await this.runner.run(cmd, { allowFailure: true });
    }
    if (result.code !== 0) throw this.failure(cmd, result);
    return result;
  }

  /** Starts a streaming restic command (backup --stdin, dump). */
  stream(cmd: Command, stdin: Parameters<typeof startStreaming>[1]['stdin']): StreamingProcess {
    return startStreaming(cmd, { stdin, stdout: 'pipe' });
  }

  /**
   * Removes locks of restic processes of this host that are gone (killed with
   * a stowage run, or cut off from the repository before they could remove
   * their lock), with `restic unlock`, which removes only what restic itself
   * calls stale. Returns how many of ours were stale.
   */
  private async clearStaleLocks(listing: string): Promise<number> {
    const ids = listing.split('\n').map((l) => l.trim()).filter((l) => /^[0-9a-f]{64}$/.test(l));
    const locks = await Promise.all(ids.map(async (id) => ({ id, lock: parseLock((await this.runner.run(restic.catLock(this.destination, id), { allowFailure: true })).stdout) })));
    const here = hostname();
    const stale = locks.filter((l): l is { id: string; lock: ResticLock } => l.lock !== undefined && l.lock.hostname === here && !resticAlive(l.lock.pid));
    if (stale.length === 0) return 0;
    this.log(`removing ${stale.length} stale restic lock${stale.length === 1 ? '' : 's'} of dead runs on this host from ${this.display} (${stale.map((l) => `pid ${l.lock.pid} since ${l.lock.time}`).join(', ')})`);
    await this.runner.run(restic.unlock(this.destination));
    return stale.length;
  }

  /** A restic failure as the error a person can act on. */
  private failure(cmd: Command, result: CommandResult): Error {
    const detail = lastLines(result.stderr);
    switch (classifyFailure(result.stderr)) {
      case 'wrong-password':
        return new UsageError(`${this.display}: the password does not open this repository (${this.passwordSource()}); nothing was changed. Check the password, or the repository`);
      case 'no-repository':
        return new UsageError(`${this.display} is not a restic repository (${detail}); create it with --init on the first backup, or check the address`);
      case 'locked':
        return new Error(`${this.display} is locked by another restic run that is still alive (${detail}); stowage removes only stale locks of dead runs on this host. Wait for it to finish and run again`);
      case 'unreachable':
        return new Error(`cannot reach ${this.display} while trying to ${cmd.purpose.replace(/ (in|from|into|of) restic:.*$/, '')} (${detail}); check the connection and that the server runs, then run again`);
      case 'no-space':
        return new Error(`${this.display} is full (${detail}): nothing is lost, the repository keeps what it had; free space there (or prune: backup.mjs --prune) and run again`);
      default:
        return new CommandFailed(cmd, result);
    }
  }

  private passwordSource(): string {
    const p = this.destination.password;
    return p.from === 'RESTIC_PASSWORD' ? 'from RESTIC_PASSWORD' : `from ${p.from} ${p.file}`;
  }
}

/**
 * Whether `repository` is a local repository whose locks directory is
 * readable here and empty: then there is no stale lock to look for. Anything
 * else (another backend, an unreadable directory) is looked at through restic.
 */
export function lockFreeOnDisk(repository: string): boolean {
  const path = repository.startsWith('local:') ? repository.slice('local:'.length) : repository;
  if (!isAbsolute(path)) return false;
  try {
    return readdirSync(join(path, 'locks')).length === 0;
  } catch {
    return false;
  }
}

/** Whether a pid of this host is a live restic process (a reused pid of another program is not). */
function resticAlive(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'restic';
  } catch {
    return true;
  }
}

function lastLines(stderr: string): string {
  return stderr.trim().split('\n').filter((l) => l.trim() !== '' && !l.startsWith('{')).slice(-2).join('; ');
}

/** A check that failed because of the repository, not of one artifact. */
export class RepositoryCheckFailed extends CheckFailed {}
