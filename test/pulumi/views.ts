// Plain-data views of what a deployment declares, read through resource outputs
// (with mocks, a resource's outputs are its inputs), so tests compare values.
import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import type { Model } from '../../src/config/model.js';
import type { ServiceContainer } from '../../src/pulumi/container.js';
import type { Deployment } from '../../src/pulumi/deploy.js';
import { labelRecord, outputOf } from './harness.js';

export interface MountView {
  type: string;
  source: string;
  target: string;
  readOnly: boolean;
}

export interface PortView {
  ip: string | undefined;
  external: number | undefined;
  internal: number;
  protocol: string;
}

export interface HealthcheckView {
  tests: string[];
  interval: string | undefined;
  timeout: string | undefined;
  retries: number | undefined;
  startPeriod: string | undefined;
}

export interface ContainerView {
  name: string;
  /** Reference of the image resource the container is bound to (its `image` input is that resource's ID). */
  imageReference: string;
  imageId: string;
  imageIdOfResource: string;
  command: string[] | undefined;
  user: string | undefined;
  restart: string | undefined;
  envs: string[];
  envsAreSecret: boolean;
  mounts: MountView[];
  labels: Record<string, string>;
  ports: PortView[];
  healthcheck: HealthcheckView | undefined;
  networks: Array<{ name: string; aliases: string[] }>;
  networkMode: string | undefined;
  privileged: boolean | undefined;
  /** Seconds the provider waits for a stop before it removes the container (undefined: it kills it). */
  destroyGraceSeconds: number | undefined;
  stopTimeout: number | undefined;
  /** Whether removing the container also removes its anonymous volumes (the provider's default: true). */
  removeVolumes: boolean | undefined;
  /** `<kind>:<name>` of every resource created before the container. */
  waitsFor: string[];
}

export interface VolumeView {
  name: string;
  driver: string;
  driverOpts: Record<string, string>;
  labels: Record<string, string>;
}

export interface DeploymentView {
  network: { name: string; labels: Record<string, string> };
  volumes: VolumeView[];
  images: Array<{ reference: string; keepLocally: boolean | undefined }>;
  containers: ContainerView[];
  outputs: {
    project: string;
    network: string;
    volumes: string[];
    containers: string[];
    bindMounts: Record<string, string>;
    secrets: Record<string, string>;
  };
}

export async function containerView(service: ServiceContainer): Promise<ContainerView> {
  const c = service.container;
  const healthcheck = await outputOf(c.healthcheck);
  return {
    name: await outputOf(c.name),
    imageReference: await outputOf(service.image.name),
    imageId: await outputOf(c.image),
    imageIdOfResource: await outputOf(service.image.imageId),
    command: await outputOf(c.command),
    user: await outputOf(c.user),
    restart: await outputOf(c.restart),
    envs: (await outputOf(c.envs)) ?? [],
    envsAreSecret: await pulumi.isSecret(c.envs),
    mounts: ((await outputOf(c.mounts)) ?? []).map((m) => ({ type: m.type, source: m.source ?? '', target: m.target, readOnly: m.readOnly ?? false })),
    labels: labelRecord(await outputOf(c.labels)),
    ports: ((await outputOf(c.ports)) ?? []).map((p) => ({ ip: p.ip, external: p.external, internal: p.internal, protocol: p.protocol ?? 'tcp' })),
    healthcheck:
      healthcheck === undefined
        ? undefined
        : {
            tests: healthcheck.tests ?? [],
            interval: healthcheck.interval,
            timeout: healthcheck.timeout,
            retries: healthcheck.retries,
            startPeriod: healthcheck.startPeriod,
          },
    networks: ((await outputOf(c.networksAdvanced)) ?? []).map((n) => ({ name: n.name, aliases: n.aliases ?? [] })),
    networkMode: await outputOf(c.networkMode),
    privileged: await outputOf(c.privileged),
    destroyGraceSeconds: await outputOf(c.destroyGraceSeconds),
    stopTimeout: await outputOf(c.stopTimeout),
    removeVolumes: await outputOf(c.removeVolumes),
    waitsFor: await Promise.all(service.waitsFor.map(describeResource)),
  };
}

async function describeResource(resource: pulumi.Resource): Promise<string> {
  if (resource instanceof docker.Container) return `container:${await outputOf(resource.name)}`;
  if (resource instanceof docker.Volume) return `volume:${await outputOf(resource.name)}`;
  if (resource instanceof docker.Network) return `network:${await outputOf(resource.name)}`;
  if (resource instanceof docker.RemoteImage) return `image:${await outputOf(resource.name)}`;
  return `other:${await outputOf(resource.urn)}`;
}

export async function volumeView(volume: docker.Volume): Promise<VolumeView> {
  return {
    name: await outputOf(volume.name),
    driver: await outputOf(volume.driver),
    driverOpts: (await outputOf(volume.driverOpts)) ?? {},
    labels: labelRecord(await outputOf(volume.labels)),
  };
}

export async function deploymentView(model: Model, deployment: Deployment): Promise<DeploymentView> {
  const { stack, outputs } = deployment;
  const dockerVolumes = model.volumes.filter((v) => v.kind !== 'bind').map((v) => stack.volumes.volume(v.key));
  const references = [...new Set(model.containers.map((c) => c.image))];
  return {
    network: { name: await outputOf(stack.network.name), labels: labelRecord(await outputOf(stack.network.labels)) },
    volumes: await Promise.all(dockerVolumes.map(volumeView)),
    images: await Promise.all(
      references.map(async (reference) => ({ reference, keepLocally: await outputOf(stack.images.image(reference).keepLocally) })),
    ),
    containers: await Promise.all([...stack.containers.values()].map(containerView)),
    outputs: {
      project: outputs.project,
      network: await outputOf(outputs.network),
      volumes: await outputOf(outputs.volumes),
      containers: await outputOf(outputs.containers),
      bindMounts: outputs.bindMounts,
      secrets: await outputOf(outputs.secrets),
    },
  };
}

export function containerNamed(view: DeploymentView, name: string): ContainerView {
  const found = view.containers.find((c) => c.name === name);
  if (found === undefined) throw new Error(`no container ${name}; declared: ${view.containers.map((c) => c.name).join(', ')}`);
  return found;
}

export function volumeNamed(view: DeploymentView, name: string): VolumeView {
  const found = view.volumes.find((v) => v.name === name);
  if (found === undefined) throw new Error(`no volume ${name}; declared: ${view.volumes.map((v) => v.name).join(', ')}`);
  return found;
}

/** `NAME=value` entries as a record (values may contain `=`). */
export function environmentRecord(envs: string[]): Record<string, string> {
  return Object.fromEntries(
    envs.map((entry) => {
      const at = entry.indexOf('=');
      return [entry.slice(0, at), entry.slice(at + 1)];
    }),
  );
}
