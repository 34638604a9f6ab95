import { command, type Command } from './command.js';

/**
 * Docker CLI argument arrays, one builder per engine operation. The CLI honours
 * DOCKER_HOST and contexts, so everything here works against a remote engine.
 */

export const HELPER_LABEL = 'stowage.helper';
/** The run (lock holder) that made a helper: recovery removes what a dead run left. */
export const RUN_LABEL = 'stowage.run';

export interface HelperMount {
  type: 'volume' | 'bind';
  source: string;
  target: string;
  readOnly: boolean;
}

function mountFlag(m: HelperMount): string {
  // --mount rather than -v: a missing bind source is an error instead of a silently created root-owned directory.
  return [`type=${m.type}`, `source=${m.source}`, `target=${m.target}`, ...(m.readOnly ? ['readonly'] : [])].join(',');
}

export const docker = {
  /** A helper that is created and never started: the archive endpoint reads and writes its mounts. */
  createHelper(name: string, image: string, mounts: HelperMount[], labels: Record<string, string>): Command {
    return command(
      'docker',
      [
        'create',
        '--name', name,
        '--label', `${HELPER_LABEL}=1`,
        ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
        '--network', 'none',
        ...mounts.flatMap((m) => ['--mount', mountFlag(m)]),
        image,
        'true',
      ],
      `create helper container ${name}`,
    );
  },

  /** The project lock: a container that is never started; its name is the lock, its labels the owner. */
  createLock(name: string, image: string, labels: Record<string, string>): Command {
    return command(
      'docker',
      // --pull never: the image is made here (docker import); a missing one must say so at once, not try a registry.
      ['create', '--pull', 'never', '--name', name, ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]), '--network', 'none', image, 'true'],
      `take the lock ${name}`,
    );
  },

  /** An image made from an archive on stdin (docker import): the lock's empty image needs no registry. */
  importImage(tag: string): Command {
    return command('docker', ['import', '--message', 'stowage lock: an empty image for a container that is never started', '-', tag], `make the image ${tag}`);
  },

  /** Containers with all of these labels, running or not. */
  listByLabels(labels: Record<string, string>): Command {
    return command('docker', ['ps', '--all', '--quiet', '--no-trunc', ...Object.entries(labels).flatMap(([k, v]) => ['--filter', `label=${k}=${v}`])], 'list containers by label', false);
  },

  /** A short-lived helper that runs a POSIX shell script (no bulk data through its streams). */
  runHelperScript(image: string, mounts: HelperMount[], script: string, args: string[], labels: Record<string, string>): Command {
    return command(
      'docker',
      [
        'run', '--rm',
        '--label', `${HELPER_LABEL}=1`,
        ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
        '--network', 'none',
        '--user', '0:0',
        '--entrypoint', 'sh',
        ...mounts.flatMap((m) => ['--mount', mountFlag(m)]),
        image,
        '-c', script,
        'stowage',
        ...args,
      ],
      'run helper script',
    );
  },

  removeContainers(names: string[]): Command {
    return command('docker', ['rm', '--force', ...names], `remove containers ${names.join(', ')}`);
  },

  removeContainer(name: string): Command {
    return command('docker', ['rm', '--force', name], `remove container ${name}`);
  },

  /** GET /containers/{id}/archive: the directory's content as a tar stream with `./` entries. */
  archiveRead(container: string, directory: string): Command {
    return command('docker', ['cp', `${container}:${directory.replace(/\/+$/, '')}/.`, '-'], `read ${directory} of ${container}`, false);
  },

  /** Reads one path (file or directory) as a tar stream whose entries are named after its basename. */
  archiveReadPath(container: string, path: string): Command {
    return command('docker', ['cp', `${container}:${path}`, '-'], `read ${path} of ${container}`, false);
  },

  /** PUT /containers/{id}/archive with copyUIDGID: extracts a tar stream from stdin, keeping owners. */
  archiveWrite(container: string, directory: string): Command {
    return command('docker', ['cp', '--archive', '-', `${container}:${directory}`], `write into ${directory} of ${container}`);
  },

  stop(names: string[], timeoutSeconds = 10): Command {
    return command('docker', ['stop', '--time', String(timeoutSeconds), ...names], `stop ${names.join(', ')}`);
  },

  start(names: string[]): Command {
    return command('docker', ['start', ...names], `start ${names.join(', ')}`);
  },

  exec(container: string, argv: string[], options: { user?: string; env?: Record<string, string> } = {}): Command {
    return command(
      'docker',
      [
        'exec',
        ...(options.user === undefined ? [] : ['--user', options.user]),
        ...Object.entries(options.env ?? {}).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
        container,
        ...argv,
      ],
      `run ${argv[0] ?? ''} in ${container}`,
    );
  },

  inspectContainers(names: string[]): Command {
    return command('docker', ['container', 'inspect', ...names], `inspect containers ${names.join(', ')}`, false);
  },

  listContainerIds(filters: string[] = [], all = false): Command {
    return command('docker', ['ps', '--quiet', '--no-trunc', ...(all ? ['--all'] : []), ...filters.flatMap((f) => ['--filter', f])], 'list containers', false);
  },

  inspectVolumes(names: string[]): Command {
    return command('docker', ['volume', 'inspect', ...names], `inspect volumes ${names.join(', ')}`, false);
  },

  listVolumes(filters: string[] = []): Command {
    return command('docker', ['volume', 'ls', '--quiet', ...filters.flatMap((f) => ['--filter', f])], 'list volumes', false);
  },

  createVolume(name: string, driver: string, driverOpts: Record<string, string>, labels: Record<string, string>): Command {
    return command(
      'docker',
      [
        'volume', 'create',
        '--driver', driver,
        ...Object.entries(driverOpts).flatMap(([k, v]) => ['--opt', `${k}=${v}`]),
        ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
        name,
      ],
      `create volume ${name}`,
    );
  },

  removeVolume(name: string): Command {
    return command('docker', ['volume', 'rm', name], `remove volume ${name}`);
  },

  imageExists(image: string): Command {
    return command('docker', ['image', 'inspect', '--format', '{{.Id}}', image], `look up image ${image}`, false);
  },

  /** The engine's version: the cheapest question that proves it answers. */
  serverVersion(): Command {
    return command('docker', ['version', '--format', '{{.Server.Version}}'], 'ask the engine for its version', false);
  },
};
