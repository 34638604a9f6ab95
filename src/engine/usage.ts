import { command, type Command } from './command.js';
import { HELPER_LABEL } from './docker.js';

/**
 * Builders for disk-usage measurement and clean-start emptying. Each runs a
 * short-lived helper (`docker run --rm`) whose stdout carries a few lines of
 * figures, never the data itself: sizes come from metadata (du, stat, find),
 * so a 100 GB volume costs a directory walk, not 100 GB through the CLI.
 */

export interface UsageMount {
  type: 'volume' | 'bind';
  source: string;
  readOnly: boolean;
}

/** Where the helper sees the volume or directory. */
export const MOUNT_POINT = '/d';

function mountFlag(m: UsageMount): string {
  return [
    `type=${m.type}`,
    `source=${m.source}`,
    `target=${MOUNT_POINT}`,
    ...(m.readOnly ? ['readonly'] : []),
    // A filesystem mounted somewhere below a bind source must stay invisible:
    // emptying the directory must never reach into it. (The flag is spelled
    // bind-recursive=disabled from API 1.44 on; this spelling works on 20.10 too.)
    ...(m.type === 'bind' && !m.readOnly ? ['bind-nonrecursive=true'] : []),
  ].join(',');
}

function helperRun(image: string, mounts: string[], script: string, args: string[], labels: Record<string, string>, purpose: string, mutates: boolean): Command {
  return command(
    'docker',
    [
      'run', '--rm',
      '--label', `${HELPER_LABEL}=1`,
      ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
      '--network', 'none',
      '--user', '0:0',
      '--entrypoint', 'sh',
      ...mounts.flatMap((m) => ['--mount', m]),
      image,
      '-c', script,
      'stowage',
      ...args,
    ],
    purpose,
    mutates,
  );
}

/**
 * Prints `dev`, `statfs` (block size, blocks, free, available), `du` (apparent
 * bytes as `du -sb` counts them: files once per inode, directories included),
 * `files` (regular files), `links` (symbolic links), `filebytes` and the $1
 * largest files as `top <bytes> ./<path>`. The top list is kept in awk, so
 * memory does not grow with the number of files. Nothing follows a link: du
 * and find walk physically (their default), stat describes the link itself,
 * so a link to / is one link of one byte. Needs sh, stat, du -b, find and
 * awk: busybox and GNU coreutils both have them.
 */
export const MEASURE_SCRIPT = [
  `cd ${MOUNT_POINT} || exit 10`,
  `printf 'dev %s\\n' "$(stat -c %d .)"`,
  `printf 'statfs %s\\n' "$(stat -f -c '%S %b %f %a' .)"`,
  `printf 'du %s\\n' "$(du -sb . | cut -f1)"`,
  // %f is the raw mode in hex: 8xxx a regular file, axxx a symbolic link.
  `find . \\( -type f -o -type l \\) -exec stat -c '%s %f %n' {} + | awk -v n="$1" '`,
  // A file name holding a newline continues on a line that does not start with "<size> <mode> ./": not a file of its own.
  `  !/^[0-9]+ [0-9a-f]+ \\.\\// { next }`,
  `  { sp = index($0, " "); size = substr($0, 1, sp - 1) + 0; rest = substr($0, sp + 1); sp = index(rest, " "); name = substr(rest, sp + 1)`,
  `    if (substr(rest, 1, 1) == "a") { links++; next }`,
  `    files++; bytes += size`,
  `    if (n > 0 && (k < n || size > s[k])) { if (k < n) k++; i = k`,
  `      while (i > 1 && s[i - 1] < size) { s[i] = s[i - 1]; p[i] = p[i - 1]; i-- }`,
  `      s[i] = size; p[i] = name } }`,
  `  END { printf "files %.0f\\n", files; printf "links %.0f\\n", links; printf "filebytes %.0f\\n", bytes; for (i = 1; i <= k; i++) printf "top %.0f %s\\n", s[i], p[i] }'`,
].join('\n');

const STATFS_SCRIPT = [`cd ${MOUNT_POINT} || exit 10`, `printf 'dev %s\\n' "$(stat -c %d .)"`, `printf 'statfs %s\\n' "$(stat -f -c '%S %b %f %a' .)"`].join('\n');

/** Removes every entry of the mounted directory, never the directory itself (its owner and mode stay). */
export const EMPTY_SCRIPT = [
  'set -e',
  `cd ${MOUNT_POINT}`,
  'n=$(find . -mindepth 1 -maxdepth 1 | wc -l)',
  'find . -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +',
  'echo "removed $n"',
].join('\n');

export const usage = {
  dockerRootDir(): Command {
    return command('docker', ['info', '--format', '{{.DockerRootDir}}'], 'ask the engine for its data root (docker info)', false);
  },

  /** Read-only walk of one volume or directory. */
  measure(image: string, mount: UsageMount, top: number, labels: Record<string, string>): Command {
    return helperRun(image, [mountFlag({ ...mount, readOnly: true })], MEASURE_SCRIPT, [String(top)], labels, `measure ${mount.source}`, false);
  },

  /**
   * Free space of the data root through an anonymous volume (it lives under the
   * data root, and --rm removes it again): for remote engines when no stack
   * volume on plain local storage is there to measure instead.
   */
  statfsDataRoot(image: string, labels: Record<string, string>): Command {
    return helperRun(image, [`type=volume,target=${MOUNT_POINT}`], STATFS_SCRIPT, [], labels, 'measure the filesystem of the Docker data root', false);
  },

  emptyDirectory(image: string, mount: UsageMount, labels: Record<string, string>): Command {
    return helperRun(image, [mountFlag({ ...mount, readOnly: false })], EMPTY_SCRIPT, [], labels, `empty ${mount.source}`, true);
  },

  /**
   * Containers, running or not, that mount a volume (by name) or a host path
   * (bind source), one `ID<TAB>name` line each. The engine answers from its
   * container list without locking each container, so one container stuck in
   * another operation does not stall the question, as `docker inspect` of
   * every container would.
   */
  containersUsing(source: string): Command {
    return command('docker', ['ps', '--all', '--no-trunc', '--filter', `volume=${source}`, '--format', '{{.ID}}\t{{.Names}}'], `list containers using ${source}`, false);
  },

  listAllVolumes(): Command {
    return command('docker', ['volume', 'ls', '--quiet'], 'list volumes', false);
  },

  listDanglingVolumes(): Command {
    return command('docker', ['volume', 'ls', '--quiet', '--filter', 'dangling=true'], 'list volumes no container uses', false);
  },
};

export interface Statfs {
  /** Device number of the filesystem (the same inside a container and on its host). */
  device: number;
  totalBytes: number;
  freeBytes: number;
  /** Free for unprivileged writers: what df shows as Available. */
  availableBytes: number;
  usedBytes: number;
}

export interface Measurement extends Statfs {
  bytes: number;
  files: number;
  /** Symbolic links, counted as links: never followed, never measured as what they point to. */
  links: number;
  fileBytes: number;
  largest: Array<{ path: string; bytes: number }>;
}

function integer(text: string | undefined, what: string, output: string): number {
  if (text === undefined || !/^\d+$/.test(text)) {
    throw new Error(`helper output has no number for ${what} (got ${JSON.stringify(text ?? null)}); the helper image needs sh, stat, du -b, find and awk (busybox has them):\n${output.slice(0, 400)}`);
  }
  return Number(text);
}

function statfsFrom(fields: Map<string, string>, output: string): Statfs {
  const device = integer(fields.get('dev'), 'dev', output);
  const [size, blocks, free, available] = (fields.get('statfs') ?? '').split(' ');
  const blockSize = integer(size, 'statfs block size', output);
  const total = integer(blocks, 'statfs blocks', output) * blockSize;
  const freeBytes = integer(free, 'statfs free blocks', output) * blockSize;
  return { device, totalBytes: total, freeBytes, availableBytes: integer(available, 'statfs available blocks', output) * blockSize, usedBytes: total - freeBytes };
}

function fieldsOf(output: string): { fields: Map<string, string>; top: Array<{ path: string; bytes: number }> } {
  const fields = new Map<string, string>();
  const top: Array<{ path: string; bytes: number }> = [];
  for (const line of output.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const key = line.slice(0, space);
    const rest = line.slice(space + 1);
    if (key === 'top') {
      const match = /^(\d+) \.\/(.*)$/.exec(rest);
      if (match !== null) top.push({ bytes: Number(match[1]), path: match[2] ?? '' });
    } else {
      fields.set(key, rest.trim());
    }
  }
  return { fields, top };
}

export function parseMeasurement(output: string): Measurement {
  const { fields, top } = fieldsOf(output);
  return {
    ...statfsFrom(fields, output),
    bytes: integer(fields.get('du'), 'du -sb', output),
    files: integer(fields.get('files'), 'files', output),
    links: integer(fields.get('links'), 'links', output),
    fileBytes: integer(fields.get('filebytes'), 'filebytes', output),
    largest: top,
  };
}

export function parseStatfs(output: string): Statfs {
  return statfsFrom(fieldsOf(output).fields, output);
}

/** Entries removed by EMPTY_SCRIPT; undefined when it printed nothing (a dry run). */
export function parseEmptied(output: string): number | undefined {
  const match = /^removed (\d+)$/m.exec(output);
  return match === null ? undefined : Number(match[1]);
}
