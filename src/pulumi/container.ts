import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import type { ContainerModel, EnvVarModel, MountModel } from '../config/model.js';
import { labelList } from './labels.js';
import { parsePortBinding } from './ports.js';
import type { SecretSet } from './secrets.js';
import type { VolumeSet } from './volumes.js';

/**
 * A service's container as a ComponentResource: image, command, user, mounts,
 * environment and secrets, labels, grace period; replaced without ever
 * removing a volume.
 */

export interface ServiceContainerArgs {
  container: ContainerModel;
  image: docker.RemoteImage;
  network: docker.Network;
  volumes: VolumeSet;
  secrets: SecretSet;
  /** Containers of the services this one depends on: they are created first. */
  after: docker.Container[];
}

/** One container of a service, configured exactly as the Compose file configures it. */
export class ServiceContainer extends pulumi.ComponentResource {
  readonly container: docker.Container;
  /** The image resource the container runs; `container.image` holds its ID. */
  readonly image: docker.RemoteImage;
  /** Resources created before the container: its dependencies' containers, its volumes, the network, the image. */
  readonly waitsFor: readonly pulumi.Resource[];

  constructor(name: string, args: ServiceContainerArgs, opts?: pulumi.ComponentResourceOptions) {
    super('stowage:index:ServiceContainer', name, {}, opts);
    const { container: model, volumes, network } = args;
    const mountedVolumes = model.mounts.filter((m) => m.type === 'volume').map((m) => volumes.volume(m.volume));
    this.image = args.image;
    this.waitsFor = [...args.after, ...mountedVolumes, network, args.image];
    this.container = new docker.Container(
      model.name,
      {
        name: model.name,
        // The image ID, not its name: the provider reads the container's image back as
        // an ID, so a name would show as a change (and a replacement) on every run.
        image: args.image.imageId,
        command: model.command,
        user: model.user,
        restart: model.restart,
        envs: environmentList(model.environment, args.secrets),
        mounts: model.mounts.map((mount) => mountInput(mount, volumes)),
        labels: labelList(model.labels),
        ports: model.ports.map(parsePortBinding).map(({ internal, external, ip, protocol }) => ({ internal, external, ip, protocol })),
        healthcheck: healthcheckInput(model),
        privileged: model.privileged,
        ...networkInput(model, network),
        // Without destroyGraceSeconds the provider removes a container with force, i.e.
        // SIGKILL: a replacement or destroy would kill a database mid-write. With it, it
        // stops the container first (SIGTERM, then this long). stopTimeout gives every
        // other stop (docker stop, the engine shutting down) the same grace period.
        destroyGraceSeconds: model.stopGraceSeconds,
        stopTimeout: model.stopGraceSeconds,
        // The provider's default removes anonymous volumes with the container. An image
        // that declares VOLUME keeps data there when nothing is mounted over it; a
        // replacement must never delete it.
        removeVolumes: false,
      },
      {
        parent: this,
        dependsOn: [...this.waitsFor],
        // Container names are fixed (`<project>-<service>`), so the default
        // create-then-delete replacement would fail on the name conflict.
        deleteBeforeReplace: true,
      },
    );
    this.registerOutputs({ name: this.container.name });
  }
}

/**
 * `NAME=value` entries. A secret value joins the list as a secret output, which
 * makes the whole list secret: it is encrypted in the state and masked in previews.
 */
function environmentList(environment: EnvVarModel[], secrets: SecretSet): pulumi.Output<string[]> | undefined {
  if (environment.length === 0) return undefined;
  return pulumi.all(
    environment.map((variable): pulumi.Input<string> =>
      variable.secret !== undefined ? secrets.value(variable.secret).apply((value) => `${variable.name}=${value}`) : `${variable.name}=${variable.value}`,
    ),
  );
}

function mountInput(mount: MountModel, volumes: VolumeSet): docker.types.input.ContainerMount {
  // Named volumes are referenced through the resource so the container waits for it;
  // bind mounts use the absolute host path the model resolved.
  const source = mount.type === 'volume' ? volumes.volume(mount.volume).name : mount.source;
  return { type: mount.type, source, target: mount.target, readOnly: mount.readOnly };
}

function healthcheckInput(model: ContainerModel): docker.types.input.ContainerHealthcheck | undefined {
  if (model.healthcheck === undefined) return undefined;
  const { test, interval, timeout, retries, startPeriod } = model.healthcheck;
  return { tests: test, interval, timeout, retries, startPeriod };
}

type NetworkInput = Pick<docker.ContainerArgs, 'networkMode' | 'networksAdvanced'>;

function networkInput(model: ContainerModel, network: docker.Network): NetworkInput {
  // Host networking replaces the container's network stack; it cannot also join the project network.
  if (model.hostNetwork) return { networkMode: 'host' };
  // Compose makes every service reachable under its service name on the project
  // network (e.g. DB_HOST=postgres); the alias gives Pulumi-made containers the same name.
  return { networksAdvanced: [{ name: network.name, aliases: [model.service] }] };
}
