import { Ajv, type JSONSchemaType, type ValidateFunction } from 'ajv';
import { command, type Command, type Runner } from './command.js';
import { docker } from './docker.js';

/**
 * What an image contributes to its containers (environment, user, anonymous
 * volumes), and which image a container runs by ID: a container's settings are
 * the image's defaults merged with its own, so comparing them with a stack file
 * needs both.
 */
export interface ImageConfig {
  Id: string;
  RepoTags?: string[] | null;
  RepoDigests?: string[] | null;
  Config: { Env?: string[] | null; User: string; Volumes?: Record<string, unknown> | null };
}

export interface ContainerImage {
  /** Without the leading slash. */
  Name: string;
  /** The image ID the container was created from. */
  Image: string;
}

export const imageCommands = {
  inspectImages(references: string[]): Command {
    return command('docker', ['image', 'inspect', ...references], `inspect images ${references.join(', ')}`, false);
  },
};

const imageSchema: JSONSchemaType<ImageConfig[]> = {
  type: 'array',
  items: {
    type: 'object',
    required: ['Id', 'Config'],
    properties: {
      Id: { type: 'string' },
      RepoTags: { type: 'array', items: { type: 'string' }, nullable: true },
      RepoDigests: { type: 'array', items: { type: 'string' }, nullable: true },
      Config: {
        type: 'object',
        required: ['User'],
        properties: {
          Env: { type: 'array', items: { type: 'string' }, nullable: true },
          User: { type: 'string' },
          Volumes: { type: 'object', nullable: true, required: [] },
        },
      },
    },
  },
};

const containerImageSchema: JSONSchemaType<ContainerImage[]> = {
  type: 'array',
  items: {
    type: 'object',
    required: ['Name', 'Image'],
    properties: { Name: { type: 'string' }, Image: { type: 'string' } },
  },
};

interface Validators {
  ajv: Ajv;
  images: ValidateFunction<ImageConfig[]>;
  containerImages: ValidateFunction<ContainerImage[]>;
}

let compiled: Validators | undefined;

/** Compiled on first use, not on import: most runs of the scripts that import this never inspect an image. */
function validators(): Validators {
  if (compiled === undefined) {
    // Not strict: docker's output has many more fields than these.
    const ajv = new Ajv({ strict: false, allowUnionTypes: true });
    compiled = { ajv, images: ajv.compile(imageSchema), containerImages: ajv.compile(containerImageSchema) };
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

/** Images that exist on the engine, by reference or ID; missing ones are left out. */
export async function inspectImages(runner: Runner, references: string[]): Promise<ImageConfig[]> {
  if (references.length === 0) return [];
  const result = await runner.run(imageCommands.inspectImages(references), { allowFailure: true });
  const data = parseJson(result.stdout.trim(), 'images');
  const { ajv, images } = validators();
  if (!images(data)) throw new Error(`unexpected docker image inspect output: ${ajv.errorsText(images.errors)}`);
  return data;
}

/** Image ID by container name, for the containers that exist. */
export async function containerImageIds(runner: Runner, names: string[]): Promise<Map<string, string>> {
  if (names.length === 0) return new Map();
  // The same `docker container inspect` as inspect.ts, read for the top-level `Image` field (the image ID).
  const result = await runner.run(docker.inspectContainers(names), { allowFailure: true });
  const data = parseJson(result.stdout.trim(), 'containers');
  const { ajv, containerImages } = validators();
  if (!containerImages(data)) {
    throw new Error(`unexpected docker container inspect output: ${ajv.errorsText(containerImages.errors)}`);
  }
  return new Map(data.map((c) => [c.Name.replace(/^\//, ''), c.Image]));
}
