import { compileSchema } from '../config/schema.js';
import type { RepositoryDestination } from '../backup/destination.js';
import { resticEnvironment } from '../backup/destination.js';
import type { Command } from './command.js';

/**
 * restic invocations, built as data like every docker command. The repository
 * and its password travel in the process's environment (RESTIC_REPOSITORY,
 * RESTIC_PASSWORD_FILE or RESTIC_PASSWORD), never in the arguments; a printed
 * plan shows the repository (credentials masked) and the password file's path
 * at most. Written for restic 0.14 (Debian 12): no --stdin-from-command, no
 * restore --sparse, no --retry-lock, exit code 3 for "some files unreadable".
 */

/** Tags on every snapshot stowage makes: which project, environment, set and volume it belongs to. */
export const TAG = {
  stowage: 'stowage',
  project: (p: string) => `project=${p}`,
  env: (e: string) => `env=${e}`,
  set: (id: string) => `set=${id}`,
  volume: (v: string) => `volume=${v}`,
  /** The set's manifest, written last: a set without one is incomplete. */
  manifest: 'manifest',
} as const;

/** Where a set's manifest is inside its manifest snapshot. */
export const MANIFEST_FILE = 'manifest.json';

function resticCommand(repo: RepositoryDestination, args: string[], purpose: string, mutates: boolean, extra: Partial<Command> = {}): Command {
  const { env, unsetEnv, shownEnv } = resticEnvironment(repo);
  return { program: 'restic', args, purpose, mutates, env, unsetEnv, shownEnv, giveUpOn: NO_SPACE_RETRY, ...extra };
}

/** Characters restic's exclude patterns treat as wildcards (Go's filepath.Match), escaped so a name matches only itself. */
export function excludePattern(absolutePath: string): string {
  return absolutePath.replace(/[\\*?[\]]/g, (c) => `\\${c}`);
}

export interface BackupTags {
  tags: string[];
  /** restic's host field: the project, so that runs in a container (a new hostname each time) still find their parent. */
  host: string;
  /** The snapshot's time when it is not now (a copy keeps its set's time). */
  time?: Date;
}

/** `--time` takes local time: the command runs with TZ=UTC and gets UTC. */
function timeArgs(options: BackupTags): { args: string[]; env: Record<string, string> } {
  if (options.time === undefined) return { args: [], env: {} };
  return { args: ['--time', options.time.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')], env: { TZ: 'UTC' } };
}

export const restic = {
  /** Lists stowage's snapshots of a project; also proves the repository exists and the password opens it. */
  snapshots(repo: RepositoryDestination, tags: string[]): Command {
    return resticCommand(repo, ['snapshots', '--json', '--no-lock', '--tag', tags.join(',')], `list the snapshots in ${repo.display}`, false);
  },

  init(repo: RepositoryDestination, copyChunkerParamsFrom?: RepositoryDestination): Command {
    const from = copyChunkerParamsFrom === undefined ? undefined : resticEnvironment(copyChunkerParamsFrom, 'source');
    const cmd = resticCommand(repo, ['init', ...(from === undefined ? [] : ['--copy-chunker-params'])], `create the repository ${repo.display}`, true);
    return from === undefined ? cmd : { ...cmd, env: { ...cmd.env, ...from.env }, unsetEnv: [...(cmd.unsetEnv ?? []), ...from.unsetEnv], shownEnv: { ...cmd.shownEnv, ...from.shownEnv } };
  },

  /**
   * `restic backup .` in `directory`: restic's own change detection (size,
   * times, inode against the parent snapshot of the same host and path) reads
   * only what changed. `excludes` are absolute paths, matched exactly.
   */
  backupDirectory(repo: RepositoryDestination, directory: string, options: BackupTags & { excludes: string[] }): Command {
    return resticCommand(
      repo,
      ['backup', '--json', '--host', options.host, '--tag', options.tags.join(','), ...options.excludes.flatMap((p) => ['--exclude', excludePattern(p)]), '.'],
      `back up ${directory} into ${repo.display}`,
      true,
      { cwd: directory },
    );
  },

  /** `restic backup --stdin`: the stream (a tar, a dump) is stored as one file, chunked and deduplicated. */
  backupStdin(repo: RepositoryDestination, filename: string, options: BackupTags): Command {
    const time = timeArgs(options);
    const cmd = resticCommand(repo, ['backup', '--json', '--host', options.host, '--tag', options.tags.join(','), ...time.args, '--stdin', '--stdin-filename', filename], `store ${filename} in ${repo.display}`, true);
    return { ...cmd, env: { ...cmd.env, ...time.env } };
  },

  /** A file of a snapshot (its content), or a directory as a tar stream, on stdout. */
  dump(repo: RepositoryDestination, snapshot: string, path: string): Command {
    return resticCommand(repo, ['dump', snapshot, path], `read ${path} of snapshot ${snapshot.slice(0, 8)} from ${repo.display}`, false);
  },

  /** Every node of a snapshot with its exact times (restic dump rounds them to the second). */
  ls(repo: RepositoryDestination, snapshot: string): Command {
    return resticCommand(repo, ['ls', '--json', snapshot], `list snapshot ${snapshot.slice(0, 8)} in ${repo.display}`, false);
  },

  /** `restic check`, reading back `subset` of the data: all, none, n/t, x% or a size. */
  check(repo: RepositoryDestination, subset: string): Command {
    const read = subset === 'all' ? ['--read-data'] : subset === 'none' ? [] : [`--read-data-subset=${subset}`];
    return resticCommand(repo, ['check', ...read], `check ${repo.display}`, false);
  },

  forget(repo: RepositoryDestination, snapshots: string[], prune: boolean): Command {
    return resticCommand(repo, ['forget', ...(prune ? ['--prune'] : []), ...snapshots], `${prune ? 'forget and prune' : 'forget'} snapshots in ${repo.display}`, true);
  },

  listLocks(repo: RepositoryDestination): Command {
    return resticCommand(repo, ['list', 'locks', '--no-lock'], `list the locks of ${repo.display}`, false);
  },

  catLock(repo: RepositoryDestination, id: string): Command {
    return resticCommand(repo, ['cat', 'lock', id, '--no-lock'], `read lock ${id.slice(0, 8)} of ${repo.display}`, false);
  },

  /** Removes the locks restic itself calls stale: of dead processes on this host, or not refreshed for 30 minutes (a live restic refreshes every 5). */
  unlock(repo: RepositoryDestination): Command {
    return resticCommand(repo, ['unlock'], `remove stale locks from ${repo.display}`, true);
  },

  /** `restic copy` of snapshots from `source` into `repo`: only the blobs `repo` lacks travel. */
  copy(repo: RepositoryDestination, source: RepositoryDestination, snapshots: string[]): Command {
    const cmd = resticCommand(repo, ['copy', '--json', ...snapshots], `copy snapshots from ${source.display} into ${repo.display}`, true);
    const from = resticEnvironment(source, 'source');
    return { ...cmd, env: { ...cmd.env, ...from.env }, unsetEnv: [...(cmd.unsetEnv ?? []), ...from.unsetEnv], shownEnv: { ...cmd.shownEnv, ...from.shownEnv } };
  },
};

// ---------------------------------------------------------------- output

export interface ResticSnapshot {
  id: string;
  short_id: string;
  time: string;
  tree: string;
  parent?: string;
  original?: string;
  paths: string[];
  hostname: string;
  tags?: string[];
}

export interface ResticLock {
  time: string;
  exclusive: boolean;
  hostname: string;
  username?: string;
  pid: number;
}

export interface BackupSummary {
  message_type: 'summary';
  snapshot_id: string;
  data_added: number;
  total_bytes_processed: number;
  files_new: number;
  files_changed: number;
  files_unmodified: number;
}

export interface BackupError {
  message_type: 'error';
  error?: Record<string, unknown>;
  during?: string;
  item: string;
}

export interface SnapshotLine {
  struct_type: 'snapshot';
  id: string;
}

export interface NodeLine {
  struct_type: 'node';
  name: string;
  type: string;
  path: string;
  mtime: string;
}

export type ResticMessage = BackupSummary | BackupError | SnapshotLine | NodeLine;

let snapshotsValidator: ReturnType<typeof compileSchema<ResticSnapshot[]>> | undefined;
let lockValidator: ReturnType<typeof compileSchema<ResticLock>> | undefined;
let messageValidator: ReturnType<typeof compileSchema<ResticMessage>> | undefined;

function problems(errors: Array<{ instancePath: string; message?: string }> | null | undefined): string {
  return (errors ?? []).slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
}

export function parseSnapshots(stdout: string): ResticSnapshot[] {
  snapshotsValidator ??= compileSchema<ResticSnapshot[]>('restic-snapshots.schema.json');
  let data: unknown;
  try {
    data = JSON.parse(stdout.trim() === '' ? '[]' : stdout);
  } catch (err) {
    throw new Error(`restic snapshots printed no JSON list (${err instanceof Error ? err.message : String(err)}); is restic 0.14 or later installed?`);
  }
  // restic prints `null` for an empty list.
  if (data === null) return [];
  if (!snapshotsValidator(data)) throw new Error(`restic snapshots printed an unexpected list (${problems(snapshotsValidator.errors)}); is restic 0.14 or later installed?`);
  return data;
}

export function parseLock(stdout: string): ResticLock | undefined {
  lockValidator ??= compileSchema<ResticLock>('restic-lock.schema.json');
  try {
    const data: unknown = JSON.parse(stdout);
    return lockValidator(data) ? data : undefined;
  } catch {
    return undefined;
  }
}

/** One line of restic's JSON output, when it is one stowage reads (status lines and anything else: undefined). */
export function parseMessage(line: string): ResticMessage | undefined {
  if (!line.startsWith('{')) return undefined;
  messageValidator ??= compileSchema<ResticMessage>('restic-messages.schema.json');
  try {
    const data: unknown = JSON.parse(line);
    return messageValidator(data) ? data : undefined;
  } catch {
    return undefined;
  }
}

/** The summary of a `restic backup --json` run (its last line that is one). */
export function backupSummary(stdout: string): BackupSummary | undefined {
  let found: BackupSummary | undefined;
  for (const line of stdout.split('\n')) {
    const m = parseMessage(line);
    if (m !== undefined && 'message_type' in m && m.message_type === 'summary') found = m;
  }
  return found;
}

/** The files a backup could not read (restic 0.14 exits 3 then), with the errno when restic gave one. */
export function backupErrors(stderr: string): Array<{ item: string; errno: number | undefined }> {
  const found: Array<{ item: string; errno: number | undefined }> = [];
  for (const line of stderr.split('\n')) {
    const m = parseMessage(line);
    if (m === undefined || !('message_type' in m) || m.message_type !== 'error') continue;
    const errno = m.error?.['Err'];
    found.push({ item: m.item, errno: typeof errno === 'number' ? errno : undefined });
  }
  return found;
}

/** restic retries a write that found the repository's disk full for minutes; no retry can succeed. */
const NO_SPACE_RETRY = /returned error, retrying after[^\n]*(no space left on device|insufficient storage|HTTP response \(507\))/i;

/** What a failed restic run says, classified: the cases stowage answers differently. */
export type ResticFailure = 'wrong-password' | 'no-repository' | 'locked' | 'unreachable' | 'no-space' | 'other';

export function classifyFailure(stderr: string): ResticFailure {
  if (/wrong password|no key found/i.test(stderr)) return 'wrong-password';
  if (/repository is already locked|unable to create lock/i.test(stderr)) return 'locked';
  // A REST server's 507 only as a status: ids, sizes and ports in the same output hold those digits too.
  if (/no space left on device|ENOSPC|quota exceeded|insufficient storage|HTTP response \(507\)|status(?: code)?:? 507\b/i.test(stderr)) return 'no-space';
  // A bare EOF is also what a damaged pack reads as: only the transport's own EOF means the connection went.
  if (/connection refused|connection reset|no route to host|network is unreachable|i\/o timeout|ssh command exited|sftp[^\n]*\bEOF\b|broken pipe|dial tcp|unable to start the sftp session|connection lost|TLS handshake|Temporary failure in name resolution|no such host/i.test(stderr)) return 'unreachable';
  if (/Is there a repository at the following location\?|config file does not exist|unable to open config file.*(no such file|not exist|404)/is.test(stderr)) return 'no-repository';
  return 'other';
}
