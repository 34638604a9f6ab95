import { statSync } from 'node:fs';
import type { VolumeModel } from '../config/model.js';
import { command, type Command } from './command.js';
import { docker, type HelperMount } from './docker.js';
import { currentEngine, describeEngine, type EngineEndpoint } from './endpoint.js';
import type { VolumeState } from './inspect.js';

/**
 * The local fast path: reading and writing a volume's directory on this
 * machine instead of through the engine's archive endpoint. It is taken only
 * where it is proven to reach the very directory the engine mounts: the
 * device and inode of the directory seen from a helper container equal those
 * of the directory this process would use. A stale directory of the same name,
 * an engine in a VM or in another mount namespace, a rootless engine: each
 * fails the proof and the archive endpoint is used.
 */

export type Via = 'auto' | 'local' | 'archive';

export interface LocalDecision {
  volume: string;
  /** The directory to read or write, when the local path was proven. */
  path: string | undefined;
  /** Why the path was or was not taken, for --dry-run, --json and messages. */
  reason: string;
}

/**
 * Why the local path is out of the question before any proof is tried: the
 * engine is not certainly on this machine (SSH, TCP, another socket, a
 * context). A directory of the same name here would be another machine's
 * namesake, however alike its device and inode numbers look.
 */
export function localPathRuledOut(engine: EngineEndpoint = currentEngine()): string | undefined {
  return engine.local ? undefined : `the engine ${describeEngine(engine)} is not on this machine`;
}

/** Where the engine keeps the volume's content, as a path of the engine's host. */
export function engineDirectory(volume: VolumeModel, state: VolumeState | undefined): string | undefined {
  if (volume.kind === 'bind') return volume.hostPath;
  // A local-driver volume bound to a host directory is mounted only while a container uses it: its device is the content.
  if (volume.driver === 'local' && state?.Options?.['o'] === 'bind' && state.Options['device'] !== undefined) return state.Options['device'];
  if (volume.kind === 'nfs' || volume.driver !== 'local') return undefined;
  return state?.Mountpoint;
}

/** `dev ino` of each mount target (`missing` when it cannot be read), one line each. */
export const IDENTITY_SCRIPT = 'for d; do stat -c "%d %i" "$d" 2>/dev/null || echo missing; done';

export function identityProbe(image: string, mounts: HelperMount[], labels: Record<string, string>): Command {
  const cmd = docker.runHelperScript(image, mounts.map((m) => ({ ...m, readOnly: true })), IDENTITY_SCRIPT, mounts.map((m) => m.target), labels);
  return { ...cmd, mutates: false, purpose: 'prove which directories the engine mounts' };
}

export function parseIdentities(stdout: string, count: number): Array<{ dev: bigint; ino: bigint } | undefined> {
  const lines = stdout.split('\n').filter((l) => l !== '');
  if (lines.length !== count) throw new Error(`unexpected output of the mount probe: ${lines.length} lines for ${count} mounts`);
  return lines.map((l) => {
    const m = /^(\d+) (\d+)$/.exec(l.trim());
    return m === null ? undefined : { dev: BigInt(m[1] ?? '0'), ino: BigInt(m[2] ?? '0') };
  });
}

/** Whether this process may read and write every file there: the local path copies as root. */
export function canActAsRoot(): boolean {
  return process.getuid?.() === 0;
}

/**
 * Compares what the helper saw with what this process sees at `path`.
 * Returns the reason the path may not be used, or undefined when it is the same directory.
 */
export function sameDirectory(path: string, seen: { dev: bigint; ino: bigint } | undefined): string | undefined {
  if (seen === undefined) return 'the helper could not read the volume root';
  let here;
  try {
    here = statSync(path, { bigint: true });
  } catch {
    return `${path} does not exist here (the engine keeps it elsewhere: a VM, another mount namespace)`;
  }
  if (!here.isDirectory()) return `${path} is not a directory here`;
  if (here.dev !== seen.dev || here.ino !== seen.ino) return `${path} here is not the directory the engine mounts (device:inode ${here.dev}:${here.ino} here, ${seen.dev}:${seen.ino} in the engine)`;
  return undefined;
}

// ---------------------------------------------------------------- host tar

/** GNU tar options that keep everything a volume holds: numeric owners, xattrs, ACLs, sparse files. */
const KEEP_ALL = ['--numeric-owner', '--xattrs', '--xattrs-include=*', '--acls', '--sparse'];

export interface CreateOptions {
  /** Paths (relative, normalized) to leave out, matched exactly (no wildcards). */
  exclude: string[];
  /** Only these paths (and below), with their ancestors' own entries; everything when empty. */
  include: string[];
  /** Entries renamed in the archive: [from, to] (SQLite copies written in place of the live database). */
  rename: Array<[string, string]>;
}

function ancestorsOf(paths: string[]): string[] {
  const found = new Set<string>();
  for (const p of paths) {
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) found.add(parts.slice(0, i).join('/'));
  }
  return [...found].filter((a) => !paths.includes(a)).sort();
}

function sedEscape(text: string): string {
  return text.replace(/[\\/.*^$[\]&,]/g, (c) => `\\${c}`);
}

/**
 * `tar --create` of a directory, entries named `./path` as the archive
 * endpoint names them, in POSIX format with every attribute, to stdout.
 */
export function hostTarCreate(directory: string, options: CreateOptions): Command {
  const selection =
    options.include.length === 0
      ? ['.']
      : ['--no-recursion', '.', ...ancestorsOf(options.include).map((a) => `./${a}`), '--recursion', ...options.include.map((p) => `./${p}`)];
  return command(
    'tar',
    [
      '--create', '--file=-', '--format=posix', ...KEEP_ALL,
      // pax atime/ctime records would make every archive differ; the endpoint writes neither.
      '--pax-option=delete=atime,delete=ctime',
      '--warning=no-file-changed',
      `--directory=${directory}`,
      '--no-wildcards', '--anchored',
      ...options.exclude.map((p) => `--exclude=./${p}`),
      ...options.rename.map(([from, to]) => `--transform=s,^\\./${sedEscape(from)}$,./${sedEscape(to)},`),
      '--',
      ...selection,
    ],
    `read ${directory}`,
    false,
  );
}

/** `tar --extract` into a staging directory, keeping owners, modes, times, xattrs, ACLs and holes. */
export function hostTarExtract(directory: string): Command {
  return command(
    'tar',
    ['--extract', '--file=-', ...KEEP_ALL.filter((o) => o !== '--sparse'), '--same-owner', '--same-permissions', '--delay-directory-restore', `--directory=${directory}`],
    `write into ${directory}`,
  );
}
