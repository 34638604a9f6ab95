import { command, type Command } from './command.js';
import { docker } from './docker.js';

/**
 * Database-aware copies run inside the database's own container through
 * `docker exec`, writing to a file there; the file then leaves through the
 * archive endpoint, never through exec's stdout. Credentials stay in the
 * container: commands refer to its environment variables, so no secret appears
 * in an argument list, a dry-run plan or a log.
 */

export interface PgTarget {
  container: string;
  user: string;
  database: string;
  /** Connect over TCP with the password from this container variable, for images whose socket is elsewhere. */
  passwordEnv?: string;
}

function pgConnection(target: PgTarget): string[] {
  return target.passwordEnv === undefined ? ['-U', target.user] : ['-h', '127.0.0.1', '-U', target.user];
}

/** Runs argv in the container, through sh when a password must come from the container's environment. */
function execWithSecretEnv(container: string, argv: string[], secretAssignment: string | undefined): Command {
  if (secretAssignment === undefined) return docker.exec(container, argv);
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return docker.exec(container, ['sh', '-c', `${secretAssignment} exec ${quoted}`]);
}

export const pg = {
  /** Custom format: compressed, selective restore, readable by `pg_restore --list`. */
  dump(target: PgTarget, file: string): Command {
    return execWithSecretEnv(
      target.container,
      ['pg_dump', ...pgConnection(target), '--format=custom', `--file=${file}`, target.database],
      target.passwordEnv === undefined ? undefined : `PGPASSWORD="$${target.passwordEnv}"`,
    );
  },
  /**
   * Drops and recreates the database from the dump (connecting to the
   * maintenance database), so afterwards it equals the backup exactly.
   */
  restore(target: PgTarget, file: string): Command {
    return execWithSecretEnv(
      target.container,
      ['pg_restore', ...pgConnection(target), '--clean', '--if-exists', '--create', '--exit-on-error', '--dbname=postgres', file],
      target.passwordEnv === undefined ? undefined : `PGPASSWORD="$${target.passwordEnv}"`,
    );
  },
  ready(target: PgTarget): Command {
    return { ...docker.exec(target.container, ['pg_isready', ...pgConnection(target)]), mutates: false };
  },
  /** Reads the dump's table of contents on the host: proves it is a complete custom-format archive. */
  list(file: string): Command {
    return command('pg_restore', ['--list', file], `list ${file}`, false);
  },
};

export interface MongoTarget {
  container: string;
  usernameEnv: string | undefined;
  passwordEnv: string | undefined;
  authenticationDatabase: string | undefined;
}

function mongoAuth(target: MongoTarget): { flags: string[]; assignment: string | undefined } {
  if (target.usernameEnv === undefined || target.passwordEnv === undefined) return { flags: [], assignment: undefined };
  return {
    flags: ['--username', '$MONGO_USER', '--password', '$MONGO_PASS', ...(target.authenticationDatabase === undefined ? [] : ['--authenticationDatabase', target.authenticationDatabase])],
    assignment: `MONGO_USER="$${target.usernameEnv}" MONGO_PASS="$${target.passwordEnv}"`,
  };
}

function mongoCommand(target: MongoTarget, program: string, args: string[]): Command {
  const auth = mongoAuth(target);
  if (auth.assignment === undefined) return docker.exec(target.container, [program, ...args]);
  // The credentials are expanded by the container's shell from its own environment.
  const script = `${auth.assignment}; exec ${program} ${[...args, ...auth.flags].map((a) => (a.startsWith('$') ? `"${a}"` : `'${a}'`)).join(' ')}`;
  return docker.exec(target.container, ['sh', '-c', script]);
}

export const mongo = {
  dump(target: MongoTarget, file: string): Command {
    return mongoCommand(target, 'mongodump', [`--archive=${file}`, '--gzip']);
  },
  /** --drop: collections are replaced, not merged, so afterwards they equal the backup. */
  restore(target: MongoTarget, file: string): Command {
    return mongoCommand(target, 'mongorestore', [`--archive=${file}`, '--gzip', '--drop']);
  },
};

export const sqlite = {
  /**
   * SQLite's online backup API through the CLI: a consistent copy while the
   * application keeps writing. mode=rw: a missing database is an error instead
   * of a new empty file in the live volume.
   */
  onlineBackup(container: string, database: string, output: string): Command {
    // VACUUM INTO copies in one read transaction: unlike .backup it is never
    // restarted by concurrent writes. The busy timeout rides out the moment a
    // closing writer checkpoints and resets the WAL ("database is locked").
    return docker.exec(container, ['sqlite3', `file:${database}?mode=rw`, '.timeout 10000', `VACUUM INTO '${output}'`]);
  },
  /** For sqlite3 older than 3.27, which has no VACUUM INTO. */
  onlineBackupLegacy(container: string, database: string, output: string): Command {
    return docker.exec(container, ['sqlite3', `file:${database}?mode=rw`, '.timeout 10000', `.backup '${output}'`]);
  },
  integrityCheck(file: string): Command {
    return command('sqlite3', ['-readonly', file, 'PRAGMA integrity_check;'], `check SQLite database ${file}`, false);
  },
};

export const removeFile = (container: string, file: string): Command => docker.exec(container, ['rm', '-f', file]);
