import { accessSync, constants, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { UsageError } from '../config/errors.js';
import type { Model } from '../config/model.js';

/**
 * Where backup sets go and come from (`--to`, else `backups.to`, else
 * ./backups): a directory of local sets, or `restic:<repository>`, any
 * repository restic reaches (a path, `sftp:`, `rest:`, `s3:`, `rclone:`).
 *
 * The repository's password comes from `backups.resticPasswordFile`, else
 * RESTIC_PASSWORD_FILE or RESTIC_PASSWORD in the environment. It is handed to
 * restic through the environment of its process only: never an argument, never
 * printed, never in --json or metrics.
 */

export interface DirectoryDestination {
  kind: 'directory';
  /** Absolute path of the backup root (`<root>/<project>/<set id>/`). */
  path: string;
  display: string;
}

export type PasswordSource =
  | { from: 'backups.resticPasswordFile' | 'RESTIC_PASSWORD_FILE'; file: string }
  | { from: 'RESTIC_PASSWORD'; value: string };

export interface RepositoryDestination {
  kind: 'repository';
  /** What follows `restic:`: the repository as restic takes it (`-r`). */
  repository: string;
  /** `restic:<repository>` with any password in a URL masked, for messages, --json and plans. */
  display: string;
  password: PasswordSource;
}

export type Destination = DirectoryDestination | RepositoryDestination;

export const RESTIC_PREFIX = 'restic:';

export function isRepositoryDestination(value: string): boolean {
  return value.startsWith(RESTIC_PREFIX);
}

/** `rest:https://user:secret@host/x` -> `rest:https://user:***@host/x`: a REST server's password can be part of the URL. */
export function maskRepository(repository: string): string {
  return repository.replace(/(\w+:\/\/[^/:@\s]*):[^@/\s]*@/, '$1:***@');
}

/** The destination a command uses: `--to`, else the stack's (environment's) backups.to, else ./backups. */
export function destinationOf(flag: string | undefined, model: Pick<Model, 'backups'>, env: NodeJS.ProcessEnv = process.env): Destination {
  return parseDestination(flag ?? model.backups.to ?? 'backups', model.backups.resticPasswordFile, env);
}

export function parseDestination(value: string, passwordFile: string | undefined, env: NodeJS.ProcessEnv = process.env): Destination {
  if (!isRepositoryDestination(value)) {
    const path = resolve(value);
    return { kind: 'directory', path, display: path };
  }
  const repository = value.slice(RESTIC_PREFIX.length).trim();
  if (repository === '') throw new UsageError(`${value}: name the repository after restic:, e.g. restic:/srv/restic/pim or restic:sftp:backup@host:/srv/restic`);
  const display = `${RESTIC_PREFIX}${maskRepository(repository)}`;
  return { kind: 'repository', repository, display, password: passwordOf(display, passwordFile, env) };
}

function passwordOf(display: string, stackFile: string | undefined, env: NodeJS.ProcessEnv): PasswordSource {
  if (stackFile !== undefined) return { from: 'backups.resticPasswordFile', file: readableFile(stackFile, 'backups.resticPasswordFile', display) };
  const fromEnv = env['RESTIC_PASSWORD_FILE'];
  if (fromEnv !== undefined && fromEnv !== '') return { from: 'RESTIC_PASSWORD_FILE', file: readableFile(fromEnv, 'RESTIC_PASSWORD_FILE', display) };
  const value = env['RESTIC_PASSWORD'];
  if (value !== undefined && value !== '') return { from: 'RESTIC_PASSWORD', value };
  throw new UsageError(
    `${display} needs the repository's password: set backups.resticPasswordFile in the stack file (a file holding it, mode 0600), ` +
      'or RESTIC_PASSWORD_FILE (or RESTIC_PASSWORD) in the environment. stowage never takes it as an argument',
  );
}

function readableFile(path: string, where: string, display: string): string {
  const absolute = resolve(path);
  try {
    if (!statSync(absolute).isFile()) throw new Error('not a regular file');
    accessSync(absolute, constants.R_OK);
  } catch (err) {
    const why = err instanceof Error && 'code' in err && err.code === 'ENOENT' ? 'does not exist' : err instanceof Error ? err.message : String(err);
    throw new UsageError(`${where} ${absolute} (the password of ${display}) ${why}; create it (one line, mode 0600) or point ${where} at the right file`);
  }
  return absolute;
}

/**
 * The environment of a restic process for this repository: the repository and
 * its password, and nothing inherited that could override them. `shown` is
 * what a printed plan may say: never the password, nor a password in a URL.
 */
export function resticEnvironment(repo: RepositoryDestination, role: 'target' | 'source' = 'target'): { env: Record<string, string>; unsetEnv: string[]; shownEnv: Record<string, string> } {
  const prefix = role === 'source' ? 'RESTIC_FROM_' : 'RESTIC_';
  const env: Record<string, string> = { [`${prefix}REPOSITORY`]: repo.repository };
  const shownEnv: Record<string, string> = { [`${prefix}REPOSITORY`]: maskRepository(repo.repository) };
  if (repo.password.from === 'RESTIC_PASSWORD') env[`${prefix}PASSWORD`] = repo.password.value;
  else {
    env[`${prefix}PASSWORD_FILE`] = repo.password.file;
    shownEnv[`${prefix}PASSWORD_FILE`] = repo.password.file;
  }
  const unsetEnv = ['REPOSITORY', 'REPOSITORY_FILE', 'PASSWORD', 'PASSWORD_FILE', 'PASSWORD_COMMAND'].map((n) => `${prefix}${n}`).filter((n) => !(n in env));
  return { env, unsetEnv, shownEnv };
}
