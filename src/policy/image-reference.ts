// Image references as Docker reads them: [registry[:port]/]path[:tag][@digest].
// A colon before the last slash belongs to a registry port, not to a tag.

export interface ImageReference {
  name: string;
  tag: string | undefined;
  digest: string | undefined;
}

export function parseImageReference(reference: string): ImageReference {
  const at = reference.indexOf('@');
  const withoutDigest = at === -1 ? reference : reference.slice(0, at);
  const digest = at === -1 ? undefined : reference.slice(at + 1);
  const colon = withoutDigest.lastIndexOf(':');
  const slash = withoutDigest.lastIndexOf('/');
  if (colon > slash) return { name: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1), digest };
  return { name: withoutDigest, tag: undefined, digest };
}

/** `sha256:<64 hex>`: what Pulumi's docker provider passes to a container, an immutable image ID. */
export function isImageId(reference: string): boolean {
  return /^sha256:[0-9a-f]{64}$/.test(reference);
}

export type PinProblem = 'no-tag' | 'latest' | 'channel';

/**
 * Why a reference may point at different images over time, or undefined when it
 * cannot: a digest or an image ID is immutable; a tag counts as a version when it
 * is not `latest` and holds a digit (`stable`, `edge`, `alpine` name channels).
 */
export function pinProblem(reference: string): PinProblem | undefined {
  if (isImageId(reference)) return undefined;
  const { tag, digest } = parseImageReference(reference);
  if (digest !== undefined && /^sha256:[0-9a-f]{64}$/.test(digest)) return undefined;
  if (tag === undefined || tag === '') return 'no-tag';
  if (tag === 'latest') return 'latest';
  if (!/[0-9]/.test(tag)) return 'channel';
  return undefined;
}

/**
 * Docker Hub references can be written short or long (`busybox:1`,
 * `docker.io/library/busybox:1`); both name the same image.
 */
export function normalizeReference(reference: string): string {
  const short = reference.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '');
  return short.replace(/^library\//, '');
}
