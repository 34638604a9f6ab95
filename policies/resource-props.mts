// The @pulumi/docker resource arguments the pack reads, validated before use.
//
// The policy SDK hands props through a proxy that throws when a value is not
// known yet (an output of a resource that `pulumi preview` has not created).
// `knownSnapshot` copies what is known into plain data, leaving unknown values
// out, so that one value computed later does not stop every rule from running.

import { Ajv, type JSONSchemaType, type ValidateFunction } from 'ajv';

export const RESOURCE_TYPES = {
  container: 'docker:index/container:Container',
  volume: 'docker:index/volume:Volume',
  remoteImage: 'docker:index/remoteImage:RemoteImage',
} as const;

export interface LabelEntry {
  label: string;
  value: string;
}

export interface ContainerMountProps {
  target: string;
  type: string;
  source?: string;
  readOnly?: boolean;
}

/** The older `volumes` argument: a volume by name, or a host path. */
export interface ContainerVolumeProps {
  containerPath?: string;
  hostPath?: string;
  volumeName?: string;
  readOnly?: boolean;
}

export interface ContainerProps {
  name?: string;
  image?: string;
  restart?: string;
  privileged?: boolean;
  networkMode?: string;
  labels?: LabelEntry[];
  mounts?: ContainerMountProps[];
  volumes?: ContainerVolumeProps[];
}

export interface VolumeProps {
  name?: string;
  driver?: string;
  driverOpts?: Record<string, string>;
  labels?: LabelEntry[];
}

export interface RemoteImageProps {
  name?: string;
}

const labelsSchema: JSONSchemaType<LabelEntry[]> = {
  type: 'array',
  items: {
    type: 'object',
    required: ['label', 'value'],
    properties: { label: { type: 'string' }, value: { type: 'string' } },
  },
};

const containerSchema: JSONSchemaType<ContainerProps> = {
  type: 'object',
  properties: {
    name: { type: 'string', nullable: true },
    image: { type: 'string', nullable: true },
    restart: { type: 'string', nullable: true },
    privileged: { type: 'boolean', nullable: true },
    networkMode: { type: 'string', nullable: true },
    labels: { ...labelsSchema, nullable: true },
    mounts: {
      type: 'array',
      nullable: true,
      items: {
        type: 'object',
        required: ['target', 'type'],
        properties: {
          target: { type: 'string' },
          type: { type: 'string' },
          source: { type: 'string', nullable: true },
          readOnly: { type: 'boolean', nullable: true },
        },
      },
    },
    volumes: {
      type: 'array',
      nullable: true,
      items: {
        type: 'object',
        properties: {
          containerPath: { type: 'string', nullable: true },
          hostPath: { type: 'string', nullable: true },
          volumeName: { type: 'string', nullable: true },
          readOnly: { type: 'boolean', nullable: true },
        },
      },
    },
  },
};

const volumeSchema: JSONSchemaType<VolumeProps> = {
  type: 'object',
  properties: {
    name: { type: 'string', nullable: true },
    driver: { type: 'string', nullable: true },
    driverOpts: { type: 'object', nullable: true, required: [], additionalProperties: { type: 'string' } },
    labels: { ...labelsSchema, nullable: true },
  },
};

const remoteImageSchema: JSONSchemaType<RemoteImageProps> = {
  type: 'object',
  properties: { name: { type: 'string', nullable: true } },
};

// Not strict: the provider passes many more arguments than the pack reads.
const ajv = new Ajv({ strict: false, allErrors: true });
const validators = {
  container: ajv.compile(containerSchema),
  volume: ajv.compile(volumeSchema),
  remoteImage: ajv.compile(remoteImageSchema),
};

function isUnknownValueError(err: unknown): boolean {
  // @pulumi/policy's UnknownValueError is internal; it carries the sentinel it met.
  return err instanceof Error && 'unknownTypeSentinel' in err;
}

/** Plain data with the values `pulumi preview` cannot know yet left out (array holes are dropped). */
export function knownSnapshot(value: unknown): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    const items: unknown[] = [];
    for (let i = 0; i < value.length; i++) {
      const item = readKnown(() => value[i]);
      if (item.known) items.push(knownSnapshot(item.value));
    }
    return items;
  }
  const copy: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const field = readKnown(() => Reflect.get(value, key));
    // Null means "not set" for the provider, as does a missing key.
    if (field.known && field.value !== null && field.value !== undefined) copy[key] = knownSnapshot(field.value);
  }
  return copy;
}

function readKnown(read: () => unknown): { known: true; value: unknown } | { known: false } {
  try {
    return { known: true, value: read() };
  } catch (err) {
    if (isUnknownValueError(err)) return { known: false };
    throw err;
  }
}

function parse<T>(validate: ValidateFunction<T>, type: string, props: unknown, name: string): T {
  const data = knownSnapshot(props);
  if (validate(data)) return data;
  throw new Error(
    `${type} ${name}: the stowage policy pack cannot read its arguments (${ajv.errorsText(validate.errors)}); ` +
      'it understands @pulumi/docker 5.x: update policies/resource-props.mts if the provider changed',
  );
}

export function containerProps(props: unknown, name: string): ContainerProps {
  return parse(validators.container, RESOURCE_TYPES.container, props, name);
}

export function volumeProps(props: unknown, name: string): VolumeProps {
  return parse(validators.volume, RESOURCE_TYPES.volume, props, name);
}

export function remoteImageProps(props: unknown, name: string): RemoteImageProps {
  return parse(validators.remoteImage, RESOURCE_TYPES.remoteImage, props, name);
}

export function labelsOf(labels: LabelEntry[] | undefined): Record<string, string> {
  return Object.fromEntries((labels ?? []).map((entry) => [entry.label, entry.value]));
}
