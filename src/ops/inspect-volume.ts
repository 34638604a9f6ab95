import tar from 'tar-stream';
import { UsageError } from '../config/errors.js';
import { LABEL, type Model, type VolumeKind, type VolumeModel } from '../config/model.js';
import { formatMode, isSafeRelativePath } from '../config/syntax.js';
import type { ByteSink } from '../engine/archive.js';
import { CommandFailed, startStreaming, type Runner, type StreamingProcess } from '../engine/command.js';
import { docker, HELPER_LABEL } from '../engine/docker.js';
import { inspectContainers, inspectVolumes } from '../engine/inspect.js';
import { listCommand, parseListing, parseUsage, usageCommand, type ListedEntry, type Usage } from '../engine/permissions.js';
import { helperImage, withReadingHelper } from '../session/session.js';
import { explainMissingSource, helperLabels, permissionTarget, unreachableData, volumeAccess, type VolumeAccess } from './permissions.js';

/**
 * inspect: what the reference docs do with `docker run --rm -v vol:/data
 * alpine ls|cat`, read-only, for every kind of volume. Nothing here writes to
 * a volume or creates one.
 */

/** A path inside the volume as the operator typed it: relative, no `..`; the root is `.`. */
export function volumePath(path: string | undefined): string {
  if (path === undefined) return '.';
  const trimmed = path.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
  if (trimmed === '' || trimmed === '.') return '.';
  if (!isSafeRelativePath(trimmed)) {
    throw new UsageError(`path "${path}": write a path relative to the volume root, without a leading / or ".." segments (e.g. secrets.env or email/attachments)`);
  }
  return trimmed.replace(/\/{2,}/g, '/');
}

function noVolume(model: Model, volume: VolumeModel): Error {
  return new Error(
    `volume ${volume.key} of ${model.app}-${model.env}: Docker volume ${volume.name} does not exist on the engine; ` +
      'pulumi up or docker compose up creates it (docker volume ls lists what exists)',
  );
}

async function requireAccess(runner: Runner, model: Model, volume: VolumeModel): Promise<VolumeAccess> {
  const access = await volumeAccess(runner, volume);
  if (access === undefined) throw noVolume(model, volume);
  return access;
}

async function runHelper<T>(model: Model, volume: VolumeModel, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw explainMissingSource(err, model, volume);
  }
}

// ---------------------------------------------------------------- ls

export interface ListResult {
  volume: string;
  path: string;
  /** Whether PATH is a directory (its entries) or not (the entry itself). */
  directory: boolean;
  entries: ListedEntry[];
}

export async function listVolume(model: Model, volume: VolumeModel, path: string, runner: Runner): Promise<ListResult> {
  const access = await requireAccess(runner, model, volume);
  const image = await helperImage(runner, model, volume.key);
  const listing = await runHelper(model, volume, async () => parseListing((await runner.run(listCommand(image, access.mount, path, helperLabels(model)))).stdout));
  if (listing.state === 'missing') throw new Error(`volume ${volume.key} (${access.via}): no such file or directory: ${path}; list its parent with ls ${parentOf(path)}`);
  if (listing.state === 'through') throw throughLink(volume, path, listing.link, listing.target);
  const entries = [...listing.entries].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { volume: volume.key, path, directory: listing.state === 'dir', entries };
}

/**
 * inspect never follows a symbolic link, also not a directory on the way:
 * the link's target is resolved in the application's container, where an
 * absolute target means something else than in a helper (`etcdir -> /etc`
 * would show the helper image's /etc as if it were the volume's data).
 */
function throughLink(volume: VolumeModel, path: string, link: string, target: string): UsageError {
  return new UsageError(
    `volume ${volume.key}: ${path} goes through ${link}, a symbolic link to ${target}; inspect never follows links ` +
      `(a link's target is resolved in the application's container, not in the volume): see the link itself with ls ${link}`,
  );
}

/** `a`, `a/b` for `a/b/c`: the directories a path goes through. */
function directoriesOnTheWay(path: string): string[] {
  const parts = path.split('/');
  return parts.slice(0, -1).map((_, i) => parts.slice(0, i + 1).join('/'));
}

function parentOf(path: string): string {
  const at = path.lastIndexOf('/');
  return at === -1 ? '.' : path.slice(0, at);
}

/** `drwxr-x---` as ls prints it, including setuid, setgid and sticky bits. */
export function modeString(entry: Pick<ListedEntry, 'type' | 'mode'>): string {
  const typeChar: Record<ListedEntry['type'], string> = {
    file: '-',
    directory: 'd',
    symlink: 'l',
    fifo: 'p',
    socket: 's',
    'char-device': 'c',
    'block-device': 'b',
    unknown: '?',
  };
  const m = entry.mode;
  const triplet = (shift: number, special: boolean, specialChar: string): string => {
    const r = m & (4 << shift) ? 'r' : '-';
    const w = m & (2 << shift) ? 'w' : '-';
    const x = (m & (1 << shift)) !== 0;
    const last = special ? (x ? specialChar : specialChar.toUpperCase()) : x ? 'x' : '-';
    return r + w + last;
  };
  return typeChar[entry.type] + triplet(6, (m & 0o4000) !== 0, 's') + triplet(3, (m & 0o2000) !== 0, 's') + triplet(0, (m & 0o1000) !== 0, 't');
}

// ---------------------------------------------------------------- cat

export interface CatResult {
  volume: string;
  path: string;
  bytes: number;
}

/**
 * Streams one file through the archive endpoint of a helper that is created
 * and never started, so the helper image needs no shell.
 */
export async function catVolumeFile(model: Model, volume: VolumeModel, path: string, runner: Runner, sink: ByteSink): Promise<CatResult> {
  if (path === '.') throw new UsageError(`cat needs a file; the volume root is a directory: use ls`);
  const access = await requireAccess(runner, model, volume);
  const image = await helperImage(runner, model, volume.key);
  const mount = { ...access.mount, target: '/v', readOnly: true };
  return runHelper(model, volume, () =>
    withReadingHelper(runner, model, image, [mount], async (helper) => {
      // docker cp follows links in the middle of a path (inside the helper's own filesystem): each directory on the way is looked at first.
      for (const directory of directoriesOnTheWay(path)) {
        const look = await copyFirstFile(startStreaming(docker.archiveReadPath(helper, `/v/${directory}`), { stdin: 'ignore', stdout: 'pipe' }), undefined);
        if (look.header === undefined && look.readerError !== undefined) throw explainCatFailure(look.readerError, model, volume, access, path);
        if (look.error !== undefined) throw look.error;
        if (look.header?.type === 'symlink') throw throughLink(volume, path, directory, look.header.linkname ?? '?');
        if (look.header?.type !== 'directory') throw new Error(`volume ${volume.key} (${access.via}): no such file: ${path}; ${directory} is not a directory (see it with ls ${directory})`);
      }
      const reader = startStreaming(docker.archiveReadPath(helper, `/v/${path}`), { stdin: 'ignore', stdout: 'pipe' });
      const copy = await copyFirstFile(reader, sink);
      // docker cp's own failure (a missing file) explains an empty archive better than the tar parser does.
      if (copy.header === undefined && copy.readerError !== undefined) throw explainCatFailure(copy.readerError, model, volume, access, path);
      if (copy.error !== undefined) throw copy.error;
      const header = copy.header;
      if (header === undefined) throw new Error(`volume ${volume.key} (${access.via}): docker cp returned no entry for ${path}`);
      if (header.type === 'directory') throw new UsageError(`volume ${volume.key}: ${path} is a directory; list it with ls ${path}`);
      if (header.type === 'symlink') {
        throw new UsageError(
          `volume ${volume.key}: ${path} is a symbolic link to ${header.linkname ?? '?'}; inspect never follows links ` +
            `(a link's target is resolved in the application's container, not in the volume): see the link itself with ls ${path}`,
        );
      }
      if (header.type !== 'file' && header.type !== 'contiguous-file') throw new UsageError(`volume ${volume.key}: ${path} is a ${header.type}, not a regular file`);
      return { volume: volume.key, path, bytes: copy.bytes };
    }),
  );
}

interface FirstFileCopy {
  /** The archive's first entry, which decides what PATH was. */
  header: tar.Header | undefined;
  bytes: number;
  /** docker cp's failure, when it was not stopped on purpose. */
  readerError: unknown;
  /** Anything else that went wrong (the sink, a corrupt archive). */
  error: unknown;
}

/**
 * Copies the first entry of docker cp's tar stream to `sink` when it is a
 * file. Anything else stops docker cp at once, so a mistaken `cat DIR` does
 * not transfer a whole tree. Without a sink, only the first header is read.
 */
async function copyFirstFile(reader: StreamingProcess, sink: ByteSink | undefined): Promise<FirstFileCopy> {
  const stdout = reader.child.stdout;
  if (stdout === null) throw new Error('docker cp has no stdout');
  const result: FirstFileCopy = { header: undefined, bytes: 0, readerError: undefined, error: undefined };
  let halted = false;
  const extract = tar.extract();
  const halt = (err?: unknown): void => {
    halted = true;
    reader.child.kill('SIGTERM');
    if (err !== undefined) extract.destroy(err instanceof Error ? err : new Error(String(err)));
  };
  const waitForRoom = (): Promise<void> =>
    new Promise<void>((resume) => {
      const go = (): void => {
        extract.off('drain', go);
        extract.off('close', go);
        resume();
      };
      extract.on('drain', go);
      extract.on('close', go);
    });
  const pump = async (): Promise<void> => {
    try {
      for await (const chunk of stdout) {
        if (halted || extract.destroyed) return;
        if (!(chunk instanceof Uint8Array)) throw new Error('docker cp yielded a non-byte chunk');
        if (!extract.write(chunk) && !extract.destroyed) await waitForRoom();
      }
      if (!halted && !extract.destroyed) extract.end(undefined);
    } catch (err) {
      halt(err);
      throw err;
    }
  };
  const consume = async (): Promise<void> => {
    try {
      for await (const entry of extract) {
        if (result.header !== undefined) {
          for await (const chunk of entry) void chunk;
          continue;
        }
        result.header = entry.header;
        if (sink === undefined || (entry.header.type !== 'file' && entry.header.type !== 'contiguous-file')) return halt();
        for await (const chunk of entry) {
          if (!(chunk instanceof Uint8Array)) throw new Error('archive entry yielded a non-byte chunk');
          result.bytes += chunk.length;
          if (!sink.write(chunk)) await new Promise<void>((resume) => sink.once('drain', resume));
        }
      }
    } catch (err) {
      halt();
      throw err;
    }
  };
  const [consumed, pumped, copied] = await Promise.allSettled([consume(), pump(), reader.done]);
  if (copied.status === 'rejected' && !halted) result.readerError = copied.reason;
  if (consumed.status === 'rejected') result.error = consumed.reason;
  else if (pumped.status === 'rejected') result.error = pumped.reason;
  else if (result.readerError !== undefined && result.header !== undefined) result.error = result.readerError;
  return result;
}

function explainCatFailure(err: unknown, model: Model, volume: VolumeModel, access: VolumeAccess, path: string): unknown {
  const unreachable = err instanceof CommandFailed ? unreachableData(err.result.stderr, model, volume) : undefined;
  if (unreachable !== undefined) return new Error(unreachable);
  if (err instanceof CommandFailed && /Could not find the file|No such container:path/i.test(err.result.stderr)) {
    return new Error(`volume ${volume.key} (${access.via}): no such file: ${path}; see what is there with ls ${parentOf(path)}`);
  }
  return err;
}

// ---------------------------------------------------------------- info

export interface VolumeUser {
  name: string;
  image: string;
  running: boolean;
  status: string;
  readOnly: boolean;
  destination: string;
  /** The stack's service, when the container carries stowage labels of this project. */
  service: string | undefined;
  /** A stowage helper container (normally short-lived). */
  helper: boolean;
}

export interface VolumeInfo {
  volume: string;
  stack: string;
  name: string;
  kind: VolumeKind;
  /** Whether the data exists: the Docker volume, or for bind volumes the host directory. */
  exists: boolean;
  dockerVolume: boolean;
  via: string | undefined;
  mountpoint: string | undefined;
  hostPath: string | undefined;
  driver: string | undefined;
  options: Record<string, string>;
  labels: Record<string, string>;
  declared: { owner: string | undefined; mode: string | undefined; files: Array<{ path: string; mode: string | undefined; owner: string | undefined; secret: boolean }>; backup: string };
  size: Usage | undefined;
  /** Why the content could not be reached (a missing host directory). */
  problem: string | undefined;
  containers: VolumeUser[];
}

export async function volumeInfo(model: Model, volume: VolumeModel, runner: Runner): Promise<VolumeInfo> {
  const [existing] = volume.kind === 'bind' ? [] : await inspectVolumes(runner, [volume.name]);
  const access = await volumeAccess(runner, volume);
  let size: Usage | undefined;
  let exists = existing !== undefined;
  let problem: string | undefined;
  if (access !== undefined) {
    const image = await helperImage(runner, model, volume.key);
    const measured = await runner.run(usageCommand(image, access.mount, helperLabels(model)), { allowFailure: true });
    if (measured.code === 0) {
      size = parseUsage(measured.stdout);
      exists = true;
    } else {
      problem = unreachableData(measured.stderr, model, volume);
      if (problem === undefined) throw new Error(`volume ${volume.key}: measuring ${access.via} failed: ${measured.stderr.trim().split('\n').slice(-3).join('; ')}`);
    }
  }
  const target = permissionTarget(volume);
  return {
    volume: volume.key,
    stack: `${model.app}-${model.env}`,
    name: volume.name,
    kind: volume.kind,
    exists,
    dockerVolume: existing !== undefined,
    via: exists ? access?.via : undefined,
    mountpoint: existing?.Mountpoint ?? (volume.kind === 'bind' ? volume.hostPath : undefined),
    hostPath: volume.hostPath,
    driver: existing?.Driver,
    options: existing?.Options ?? {},
    labels: existing?.Labels ?? {},
    declared: {
      owner: target.owner === undefined ? undefined : `${target.owner.uid}:${target.owner.gid}`,
      mode: target.rootMode === undefined ? undefined : formatMode(target.rootMode),
      files: volume.files.map((f) => ({
        path: f.path,
        mode: f.mode === undefined ? undefined : formatMode(f.mode),
        owner: f.owner === undefined ? undefined : `${f.owner.uid}:${f.owner.gid}`,
        secret: f.secret,
      })),
      backup: volume.backup.method,
    },
    size,
    problem,
    containers: await volumeUsers(runner, model, volume),
  };
}

/**
 * `docker ps -a --filter volume=X` also matches containers whose mount
 * *destination* is X, so every hit is confirmed against its mounts.
 */
async function volumeUsers(runner: Runner, model: Model, volume: VolumeModel): Promise<VolumeUser[]> {
  const source = volume.kind === 'bind' ? volume.hostPath : volume.name;
  if (source === undefined) return [];
  const ids = (await runner.output(docker.listContainerIds([`volume=${source}`], true))).split('\n').filter((id) => id !== '');
  const users: VolumeUser[] = [];
  for (const c of await inspectContainers(runner, ids)) {
    const labels = c.Config.Labels ?? {};
    for (const m of c.Mounts) {
      const matches = volume.kind === 'bind' ? m.Type === 'bind' && m.Source === source : m.Type === 'volume' && m.Name === source;
      if (!matches) continue;
      users.push({
        name: c.Name,
        image: c.Config.Image,
        running: c.State.Running,
        status: c.State.Status,
        readOnly: !m.RW,
        destination: m.Destination,
        service: labels[LABEL.project] === model.project ? labels[LABEL.service] : undefined,
        helper: labels[HELPER_LABEL] === '1',
      });
    }
  }
  return users.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}
