import { Ajv, type SchemaObject, type ValidateFunction } from 'ajv';
import { CommandFailed, engineUnreachable, type Runner } from './command.js';
import { HELPER_LABEL, docker } from './docker.js';

/** The parts of `docker container inspect` that stowage reads, validated before use. */
export interface ContainerState {
  Id: string;
  Name: string;
  /** FinishedAt: RFC 3339; the zero time (year 1) when it never stopped. */
  /** Health: present only when the container has a healthcheck. */
  /** Pid: the container's first process as the engine's host sees it (0 when it does not run). */
  State: { Running: boolean; Status: string; Pid?: number; FinishedAt?: string; StartedAt?: string; Health?: { Status: string } | null };
  Config: { Image: string; Labels: Record<string, string> | null; User: string; Env: string[] | null };
  Mounts: Array<{ Type: string; Name?: string; Source: string; Destination: string; RW: boolean }>;
}

const containerSchema: SchemaObject = {
  type: 'array',
  items: {
    type: 'object',
    required: ['Id', 'Name', 'State', 'Config', 'Mounts'],
    properties: {
      Id: { type: 'string' },
      Name: { type: 'string' },
      State: {
        type: 'object',
        required: ['Running', 'Status'],
        properties: {
          Running: { type: 'boolean' },
          Pid: { type: 'integer' },
          Status: { type: 'string' },
          FinishedAt: { type: 'string' },
          StartedAt: { type: 'string' },
          Health: { type: ['object', 'null'], required: ['Status'], properties: { Status: { type: 'string' } } },
        },
      },
      Config: {
        type: 'object',
        required: ['Image', 'Labels', 'User', 'Env'],
        properties: {
          Image: { type: 'string' },
          Labels: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
          User: { type: 'string' },
          Env: { type: ['array', 'null'], items: { type: 'string' } },
        },
      },
      Mounts: {
        type: 'array',
        items: {
          type: 'object',
          required: ['Type', 'Source', 'Destination', 'RW'],
          properties: {
            Type: { type: 'string' },
            Name: { type: 'string' },
            Source: { type: 'string' },
            Destination: { type: 'string' },
            RW: { type: 'boolean' },
          },
        },
      },
    },
  },
};

export interface VolumeState {
  Name: string;
  Driver: string;
  Mountpoint: string;
  Labels: Record<string, string> | null;
  Options: Record<string, string> | null;
}

const volumeSchema: SchemaObject = {
  type: 'array',
  items: {
    type: 'object',
    required: ['Name', 'Driver', 'Mountpoint', 'Labels', 'Options'],
    properties: {
      Name: { type: 'string' },
      Driver: { type: 'string' },
      Mountpoint: { type: 'string' },
      Labels: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
      Options: { type: ['object', 'null'], additionalProperties: { type: 'string' } },
    },
  },
};

interface Validators {
  ajv: Ajv;
  containers: ValidateFunction<ContainerState[]>;
  volumes: ValidateFunction<VolumeState[]>;
}

let compiled: Validators | undefined;

/** Compiled on first use, not on import: every script imports this module, and --help never inspects anything. */
function validators(): Validators {
  if (compiled === undefined) {
    // Not strict: docker's output has many more fields than these, which is fine.
    const ajv = new Ajv({ allErrors: false, strict: false, allowUnionTypes: true });
    compiled = { ajv, containers: ajv.compile<ContainerState[]>(containerSchema), volumes: ajv.compile<VolumeState[]>(volumeSchema) };
  }
  return compiled;
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text === '' ? '[]' : text);
  } catch {
    throw new Error(`docker returned unreadable JSON for ${what}; is the docker CLI working (docker info)?`);
  }
}

/** Inspects the named containers that exist; names that do not exist are left out. */
export async function inspectContainers(runner: Runner, names: string[]): Promise<ContainerState[]> {
  if (names.length === 0) return [];
  const cmd = docker.inspectContainers(names);
  const result = await runner.run(cmd, { allowFailure: true });
  // Names that do not exist are a normal answer; no answer at all is not.
  if (engineUnreachable(result)) throw new CommandFailed(cmd, result);
  const data = parseJson(result.stdout.trim(), 'containers');
  const { ajv, containers } = validators();
  if (!containers(data)) {
    throw new Error(`unexpected docker container inspect output: ${ajv.errorsText(containers.errors)}`);
  }
  return data.map((c) => ({ ...c, Name: c.Name.replace(/^\//, '') }));
}

export async function inspectVolumes(runner: Runner, names: string[]): Promise<VolumeState[]> {
  if (names.length === 0) return [];
  const cmd = docker.inspectVolumes(names);
  const result = await runner.run(cmd, { allowFailure: true });
  if (engineUnreachable(result)) throw new CommandFailed(cmd, result);
  const data = parseJson(result.stdout.trim(), 'volumes');
  const { ajv, volumes } = validators();
  if (!volumes(data)) throw new Error(`unexpected docker volume inspect output: ${ajv.errorsText(volumes.errors)}`);
  return data;
}

/** Every running container (from the engine, not the model: a foreign writer counts too). */
export async function runningContainers(runner: Runner): Promise<ContainerState[]> {
  const ids = (await runner.output(docker.listContainerIds())).split('\n').filter((id) => id !== '');
  return inspectContainers(runner, ids);
}

/**
 * Running containers that use any of these Docker volumes or host paths.
 * Listing by volume comes from the engine's index and takes no container lock,
 * so only the containers that matter are inspected: another project's stuck
 * container cannot stall us. Bind sources are not indexed; with any bind
 * source every running container is inspected.
 */
export async function runningContainersUsing(runner: Runner, volumeNames: string[], hostPaths: string[]): Promise<ContainerState[]> {
  if (hostPaths.length > 0) return runningContainers(runner);
  const ids = new Set<string>();
  for (const name of volumeNames) {
    for (const id of (await runner.output(docker.listContainerIds([`volume=${name}`]))).split('\n')) if (id !== '') ids.add(id);
  }
  return inspectContainers(runner, [...ids]);
}

export async function imageExists(runner: Runner, image: string): Promise<boolean> {
  const cmd = docker.imageExists(image);
  const result = await runner.run(cmd, { allowFailure: true });
  if (engineUnreachable(result)) throw new CommandFailed(cmd, result);
  return result.code === 0;
}

/** stowage's own helpers (a concurrent run's, or a dead one's) are never a volume's writers. */
export function withoutHelpers(containers: ContainerState[]): ContainerState[] {
  return containers.filter((c) => c.Config.Labels?.[HELPER_LABEL] === undefined);
}
