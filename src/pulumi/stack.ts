import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import type { ContainerModel, Model } from '../config/model.js';
import { ServiceContainer } from './container.js';
import { ImageSet } from './images.js';
import { labelList } from './labels.js';
import { SecretSet, type SecretSource } from './secrets.js';
import { VolumeSet } from './volumes.js';

/**
 * One environment of a stack as a ComponentResource: its network, volumes,
 * secrets, images and containers, in dependency order.
 */

export interface StackDeploymentArgs {
  /** One resolved environment of one stack file (`resolveModel`). */
  model: Model;
  /** Configured secret values; declared secrets it does not set are generated. */
  secretSource: SecretSource;
}

/**
 * Everything one environment runs on a Docker engine: its network, volumes,
 * images, secrets and containers, with the same names and settings the
 * generated Compose files use.
 */
export class StackDeployment extends pulumi.ComponentResource {
  readonly network: docker.Network;
  readonly volumes: VolumeSet;
  readonly images: ImageSet;
  readonly secrets: SecretSet;
  /** By container name (`<project>-<service>`), in stack file order. */
  readonly containers: ReadonlyMap<string, ServiceContainer>;
  readonly containerNames: pulumi.Output<string[]>;

  constructor(name: string, args: StackDeploymentArgs, opts?: pulumi.ComponentResourceOptions) {
    super('stowage:index:Stack', name, {}, opts);
    const { model } = args;
    this.network = new docker.Network(
      model.network.name,
      { name: model.network.name, labels: labelList(model.network.labels) },
      // A fixed name: the default create-then-delete replacement would conflict with itself.
      { parent: this, deleteBeforeReplace: true },
    );
    this.volumes = new VolumeSet(`${name}-volumes`, { volumes: model.volumes }, { parent: this });
    this.images = new ImageSet(`${name}-images`, { images: model.containers.map((c) => c.image) }, { parent: this });
    this.secrets = new SecretSet(`${name}-secrets`, { secrets: model.secrets, source: args.secretSource }, { parent: this });

    const created = new Map<string, ServiceContainer>();
    for (const container of inDependencyOrder(model.containers)) {
      const after = model.containers
        .filter((other) => container.dependsOn.includes(other.service))
        .map((other) => created.get(other.name)?.container)
        .filter((resource): resource is docker.Container => resource !== undefined);
      created.set(
        container.name,
        new ServiceContainer(
          container.name,
          {
            container,
            image: this.images.image(container.image),
            network: this.network,
            volumes: this.volumes,
            secrets: this.secrets,
            after,
          },
          { parent: this },
        ),
      );
    }
    this.containers = new Map(model.containers.map((c): [string, ServiceContainer] => [c.name, mustGet(created, c.name)]));
    this.containerNames = pulumi.all([...this.containers.values()].map((s) => s.container.name));
    this.registerOutputs({
      network: this.network.name,
      volumes: this.volumes.names,
      containers: this.containerNames,
    });
  }
}

/**
 * Containers ordered so that every container comes after the containers of the
 * services it depends on: a container resource can only depend on resources
 * that already exist. The loader rejects cycles; meeting one here means the
 * model was built from an unchecked stack.
 */
export function inDependencyOrder(containers: ContainerModel[]): ContainerModel[] {
  const ordered: ContainerModel[] = [];
  const placed = new Set<string>();
  const visiting = new Set<string>();
  const visit = (container: ContainerModel, path: string[]): void => {
    if (placed.has(container.name)) return;
    if (visiting.has(container.name)) {
      throw new Error(`service dependency cycle: ${[...path, container.service].join(' -> ')}; load stack files with loadStackFile, which rejects cycles`);
    }
    visiting.add(container.name);
    for (const dependency of containers.filter((other) => container.dependsOn.includes(other.service))) {
      visit(dependency, [...path, container.service]);
    }
    visiting.delete(container.name);
    placed.add(container.name);
    ordered.push(container);
  };
  for (const container of containers) visit(container, []);
  return ordered;
}

function mustGet<K, V>(map: ReadonlyMap<K, V>, key: K): V {
  const value = map.get(key);
  if (value === undefined) throw new Error(`internal: ${String(key)} was not created`);
  return value;
}
