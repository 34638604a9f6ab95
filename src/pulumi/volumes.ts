import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import type { VolumeModel } from '../config/model.js';
import { labelList } from './labels.js';

/**
 * A stack's volumes as a ComponentResource: named, host-backed (local driver
 * bound to a host directory) or NFS, labelled, and retained on delete.
 */

export interface VolumeSetArgs {
  volumes: VolumeModel[];
}

/**
 * The Docker volumes of one environment: named, host-backed (local driver bound
 * to a host directory) and NFS-backed. Bind-mounted volumes have no Docker
 * volume object; containers mount their host directory directly.
 */
export class VolumeSet extends pulumi.ComponentResource {
  private readonly byKey: ReadonlyMap<string, docker.Volume>;
  /** Docker volume names, in stack file order. */
  readonly names: pulumi.Output<string[]>;

  constructor(name: string, args: VolumeSetArgs, opts?: pulumi.ComponentResourceOptions) {
    super('stowage:index:VolumeSet', name, {}, opts);
    const byKey = new Map<string, docker.Volume>();
    for (const volume of args.volumes) {
      if (volume.kind === 'bind') continue;
      const resource = new docker.Volume(
        volume.name,
        {
          name: volume.name,
          driver: volume.driver,
          driverOpts: volume.driverOpts,
          labels: labelList(volume.labels),
        },
        {
          parent: this,
          // Deleting a Docker volume deletes the data in it. `pulumi destroy`, or a
          // replacement after a driver option change, must never do that: the volume
          // stays on the engine and is removed deliberately, after a backup.
          retainOnDelete: true,
        },
      );
      byKey.set(volume.key, resource);
    }
    this.byKey = byKey;
    this.names = pulumi.all([...byKey.values()].map((v) => v.name));
    this.registerOutputs({ names: this.names });
  }

  /** The Docker volume that realizes a stack file volume; throws for a bind-mounted or unknown one. */
  volume(key: string): docker.Volume {
    const resource = this.byKey.get(key);
    if (resource === undefined) {
      throw new Error(`volume "${key}" has no Docker volume in this environment (it is bind-mounted or not declared)`);
    }
    return resource;
  }
}
