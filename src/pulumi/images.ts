import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';

/**
 * The images a stack runs, looked up on the engine (RemoteImage, never pulled
 * from here), so a container is replaced when its image changes.
 */

export interface ImageSetArgs {
  /** Image references as the stack file names them; duplicates are pulled once. */
  images: string[];
}

/** One image resource per distinct image reference. */
export class ImageSet extends pulumi.ComponentResource {
  private readonly byReference: ReadonlyMap<string, docker.RemoteImage>;

  constructor(name: string, args: ImageSetArgs, opts?: pulumi.ComponentResourceOptions) {
    super('stowage:index:ImageSet', name, {}, opts);
    const byReference = new Map<string, docker.RemoteImage>();
    for (const reference of new Set(args.images)) {
      byReference.set(
        reference,
        new docker.RemoteImage(
          reference,
          {
            name: reference,
            // The provider pulls only when the image is missing locally, so images
            // loaded with `docker load`/`docker import` on an offline host work; and
            // `pulumi destroy` must not delete images other stacks may still use.
            keepLocally: true,
          },
          { parent: this },
        ),
      );
    }
    this.byReference = byReference;
    this.registerOutputs({ references: [...byReference.keys()] });
  }

  image(reference: string): docker.RemoteImage {
    const image = this.byReference.get(reference);
    if (image === undefined) throw new Error(`image "${reference}" was not declared to this ImageSet`);
    return image;
  }
}
