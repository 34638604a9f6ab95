// Shared setup for the Pulumi tests: Pulumi's official mocks, the four stacks'
// models, and helpers that read resource outputs the way a program would.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as pulumi from '@pulumi/pulumi';
import { RegisterResourceRequest } from '@pulumi/pulumi/proto/resource_pb.js';
import { MockMonitor } from '@pulumi/pulumi/runtime/mocks.js';
import { loadStackFile } from '../../src/config/load.js';
import { resolveModel, type Model } from '../../src/config/model.js';
import type { SecretSource } from '../../src/pulumi/secrets.js';

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/\/$/, '');
export const STACKS_DIR = join(PROJECT_ROOT, 'stacks');
export const COMPOSE_DIR = join(PROJECT_ROOT, 'compose');

export interface StackId {
  app: string;
  env: string;
}

export const ALL_STACKS: readonly StackId[] = [
  { app: 'pim', env: 'dev' },
  { app: 'pim', env: 'prod' },
  { app: 'digidig', env: 'dev' },
  { app: 'digidig', env: 'prod' },
];

export function modelFor({ app, env }: StackId): Model {
  const file = join(STACKS_DIR, `${app}.yaml`);
  return resolveModel(loadStackFile(file).stack, env, { stackFile: file });
}

export const IMAGE_TYPE = 'docker:index/remoteImage:RemoteImage';
export const CONTAINER_TYPE = 'docker:index/container:Container';
export const VOLUME_TYPE = 'docker:index/volume:Volume';
export const NETWORK_TYPE = 'docker:index/network:Network';
export const PASSWORD_TYPE = 'random:index/randomPassword:RandomPassword';
export const DOCKER_PROVIDER_TYPE = 'pulumi:providers:docker';

/** What the Docker provider would report as the image ID: stable per reference, so tests can predict it. */
export function fakeImageId(reference: string): string {
  return `sha256:${createHash('sha256').update(reference).digest('hex')}`;
}

/** What RandomPassword would generate; distinctive, so a leak is easy to find in resource inputs. */
export function fakePassword(resourceName: string): string {
  return `generated-${resourceName}-Xq7Zp2`;
}

export interface RecordedResource {
  type: string;
  name: string;
  inputs: Record<string, unknown>;
}

/**
 * Resource state as the official mocks describe it (`state: inputs`), plus the
 * two outputs the program reads that are computed by providers, not set as inputs.
 */
export function mockState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  if (type === IMAGE_TYPE) return { ...inputs, imageId: fakeImageId(String(inputs['name'])) };
  if (type === PASSWORD_TYPE) return { ...inputs, result: fakePassword(name) };
  return inputs;
}

/**
 * The resource options that keep data safe, as the engine receives them in the
 * registration request. The mocks' newResource() sees type, name and inputs only,
 * so these are read from the request itself (see recordOptions).
 */
export interface RegisteredOptions {
  type: string;
  name: string;
  protect: boolean;
  retainOnDelete: boolean;
  deleteBeforeReplace: boolean;
  /** The provider reference (`<urn>::<id>`) the resource is created through; '' for the default provider. */
  provider: string;
}

export function registeredOptions(request: RegisterResourceRequest): RegisteredOptions {
  return {
    type: request.getType(),
    name: request.getName(),
    provider: request.getProvider(),
    protect: request.getProtect() === true,
    retainOnDelete: request.getRetainondelete() === true,
    deleteBeforeReplace: request.getDeletebeforereplace(),
  };
}

export class RecordingMocks implements pulumi.runtime.Mocks {
  readonly resources: RecordedResource[] = [];
  readonly registrations: RegisteredOptions[] = [];

  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    const inputs = asRecord(args.inputs);
    this.resources.push({ type: args.type, name: args.name, inputs });
    return { id: `${args.name}-id`, state: mockState(args.type, args.name, inputs) };
  }

  call(): pulumi.runtime.MockCallResult {
    return {};
  }

  ofType(type: string): RecordedResource[] {
    return this.resources.filter((r) => r.type === type);
  }

  /** The options the latest registration of this resource carried. */
  optionsOf(type: string, name: string): RegisteredOptions {
    const found = this.registrations.filter((r) => r.type === type && r.name === name).at(-1);
    if (found === undefined) throw new Error(`no registration of ${type} ${name}`);
    return found;
  }
}

/**
 * Wraps the monitor setMocks() installed so every registration request's options
 * are recorded before the mocks answer it. The SDK offers no other way to see them
 * under mocks: transformations see the options as written, not as sent.
 */
function recordOptions(mocks: RecordingMocks): void {
  const installed: unknown = pulumi.runtime.getMonitor();
  if (!(installed instanceof MockMonitor)) throw new Error('setMocks() did not install a MockMonitor: this SDK version mocks differently');
  const monitor: MockMonitor = installed;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (request: unknown, callback: (err: unknown, response: unknown) => void): Promise<void> => {
    if (!(request instanceof RegisterResourceRequest)) throw new Error('the mock monitor got a registration that is not a RegisterResourceRequest');
    mocks.registrations.push(registeredOptions(request));
    return register(request, callback);
  };
}

/** Must run before any resource is created (the program's modules only create resources inside deploy()). */
export async function installMocks(stack = 'test', mocks: RecordingMocks = new RecordingMocks()): Promise<RecordingMocks> {
  await pulumi.runtime.setMocks(mocks, 'stowage', stack, false);
  recordOptions(mocks);
  return mocks;
}

/** A stack config that sets no secrets: every declared secret is generated. */
export const NO_CONFIGURED_SECRETS: SecretSource = { getSecret: () => undefined };

export function outputOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply(resolve));
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function asRecord(value: unknown): Record<string, unknown> {
  if (!isRecord(value)) throw new Error(`mock resource inputs are not an object: ${JSON.stringify(value)}`);
  return value;
}

/** How a secret looks in serialized resource inputs: wrapped, so the engine encrypts it. */
export function isSecretEnvelope(value: unknown): boolean {
  return isRecord(value) && value[pulumi.runtime.specialSigKey] === pulumi.runtime.specialSecretSig;
}

/** Every string in a resource's inputs that is NOT inside a secret envelope, i.e. would be stored in plain text. */
export function plainStrings(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (isSecretEnvelope(value)) return [];
  if (Array.isArray(value)) return value.flatMap(plainStrings);
  if (isRecord(value)) return Object.values(value).flatMap(plainStrings);
  return [];
}

export function labelRecord(labels: ReadonlyArray<{ label: string; value: string }> | undefined): Record<string, string> {
  return Object.fromEntries((labels ?? []).map(({ label, value }) => [label, value]));
}
