import { spawnSync } from 'node:child_process';
import { lstatSync, readFileSync, statSync } from 'node:fs';
import { engineIsLocal } from './endpoint.js';
import type { VolumeModel } from '../config/model.js';
import { command, type Command } from './command.js';
import { docker, type HelperMount } from './docker.js';
import { currentEngine, describeEngine, type EngineEndpoint } from './endpoint.js';
import type { ContainerState, VolumeState } from './inspect.js';

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

/** What the engine's side of the proof saw: the volume root's device and inode, and who looked. */
export interface SeenRoot {
  dev: bigint;
  ino: bigint;
  /** `a helper container` or `container <name>`: for the reason a run prints. */
  by: string;
}

function cgroupNames(proc: string, pid: number, id: string): boolean {
  try {
    return readFileSync(`${proc}/${pid}/cgroup`, 'utf8').includes(id);
  } catch {
    return false;
  }
}

/**
 * The engine's view of a volume without starting a helper: a running
 * container that mounts it, looked at through `/proc/<pid>/root`, which is
 * that container's own mount namespace. The process must be the container's
 * (its cgroup names the container's full id, before and after the look, so a
 * pid of another pid namespace or a reused pid never counts), and no component
 * of the path may be a symlink (an absolute one would resolve on this host).
 * Undefined when no such container proves anything: the caller asks a helper.
 */
export function seenByRunningContainer(volume: Pick<VolumeModel, 'kind' | 'name' | 'hostPath'>, containers: ContainerState[], proc = '/proc'): SeenRoot | undefined {
  for (const c of containers) {
    const pid = c.State.Pid ?? 0;
    if (!c.State.Running || pid <= 0 || !/^[0-9a-f]{64}$/.test(c.Id)) continue;
    const mount = c.Mounts.find((m) => (volume.kind === 'bind' ? m.Type === 'bind' && m.Source === volume.hostPath : m.Type === 'volume' && m.Name === volume.name));
    if (mount === undefined || !cgroupNames(proc, pid, c.Id)) continue;
    let path = `${proc}/${pid}/root`;
    let linked = false;
    try {
      for (const part of mount.Destination.split('/').filter((p) => p !== '' && p !== '.')) {
        if (part === '..') throw new Error('a mount destination with ..');
        path = `${path}/${part}`;
        if (lstatSync(path).isSymbolicLink()) linked = true;
      }
      const st = statSync(path, { bigint: true });
      if (linked || !st.isDirectory() || !cgroupNames(proc, pid, c.Id)) continue;
      return { dev: st.dev, ino: st.ino, by: `container ${c.Name.replace(/^\//, '')}` };
    } catch {
      continue;
    }
  }
  return undefined;
}

let gnuTar: boolean | undefined;

/** GNU tar keeps owners, xattrs, ACLs and holes; the local path needs it (busybox tar does not). */
export function gnuTarAvailable(): boolean {
  gnuTar ??= /GNU tar/.test(spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout ?? '');
  return gnuTar;
}

/**
 * Whether the local path may be used for a volume: asked for (`auto` or
 * `local`), the engine on this machine, root here, GNU tar, and the very
 * directory the engine mounts (`seen` is what a helper saw of the volume root).
 */
export function decideLocal(via: Via, volume: VolumeModel, state: VolumeState | undefined, seen: { dev: bigint; ino: bigint; by?: string } | undefined): LocalDecision {
  const no = (reason: string): LocalDecision => ({ volume: volume.key, path: undefined, reason });
  if (via === 'archive') return no('the archive endpoint, as --via archive asks');
  if (!engineIsLocal()) return no('the archive endpoint: the engine is not on this machine');
  if (!canActAsRoot()) return no('the archive endpoint: stowage does not run as root here, so it cannot read and write every file itself');
  if (!gnuTarAvailable()) return no('the archive endpoint: GNU tar is not installed here');
  const path = engineDirectory(volume, state);
  if (path === undefined) return no(`the archive endpoint: the engine keeps volume ${volume.name} where this machine cannot see it (driver ${volume.driver}${volume.kind === 'nfs' ? ', NFS' : ''})`);
  const mismatch = sameDirectory(path, seen);
  if (mismatch !== undefined) return no(`the archive endpoint: ${mismatch}`);
  return { volume: volume.key, path, reason: `the local path: ${path} is the directory the engine mounts (same device and inode${seen?.by === undefined ? '' : ` as ${seen.by} sees it`})` };
}

/** Whether a proof is worth trying at all: the conditions of the local path that need no look at the volume. */
export function localPathConceivable(via: Via): boolean {
  return via !== 'archive' && engineIsLocal() && canActAsRoot() && gnuTarAvailable();
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
  /** A file listing paths to leave out, one per line, `./`-prefixed, matched exactly (no wildcards). */
  excludeFile: string | undefined;
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

/** A name as a literal in the pattern of a tar --transform expression. */
function sedPattern(text: string): string {
  return text.replace(/[\\/.*^$[\]&,]/g, (c) => `\\${c}`);
}

/** A name as the literal replacement of a tar --transform expression: only \\, & and the delimiter are special. */
function sedReplacement(text: string): string {
  return text.replace(/[\\&,]/g, (c) => `\\${c}`);
}

/**
 * `tar --create` of a directory, entries named `./path` as the archive
 * endpoint names them, in POSIX format with every attribute, to stdout.
 * Exit 1 (a file changed while it was read, on a volume whose writers keep
 * running) is a warning, as the endpoint would not notice it either.
 */
export function hostTarCreate(directory: string, options: CreateOptions): Command {
  const selection =
    options.include.length === 0
      ? ['.']
      : ['--no-recursion', '.', ...ancestorsOf(options.include).map((a) => `./${a}`), '--recursion', ...options.include.map((p) => `./${p}`)];
  return {
    ...command(
      'tar',
      [
        '--create', '--file=-', '--format=posix', ...KEEP_ALL,
        // pax atime/ctime records would make every archive differ; the endpoint writes neither.
        '--pax-option=delete=atime,delete=ctime',
        '--warning=no-file-changed', '--warning=no-file-ignored',
        `--directory=${directory}`,
        '--no-wildcards', '--anchored',
        ...(options.excludeFile === undefined ? [] : [`--exclude-from=${options.excludeFile}`]),
        ...options.rename.map(([from, to]) => `--transform=s,^\\./${sedPattern(from)}$,./${sedReplacement(to)},SH`),
        // Every name below starts with ./ (or is an option of the selection): none can be read as an option.
        ...selection,
      ],
      `read ${directory}`,
      false,
    ),
    okExitCodes: [1],
  };
}

/** `tar --extract` into a staging directory, keeping owners, modes, times, xattrs, ACLs and holes. */
export function hostTarExtract(directory: string): Command {
  return command(
    'tar',
    // --ignore-zeros: read the input to its end instead of exiting at the end-of-archive marker
    // while the writer still sends the padding after it (a broken pipe for a complete archive).
    ['--extract', '--file=-', ...KEEP_ALL.filter((o) => o !== '--sparse'), '--same-owner', '--same-permissions', '--delay-directory-restore', '--ignore-zeros', `--directory=${directory}`],
    `write into ${directory}`,
  );
}
