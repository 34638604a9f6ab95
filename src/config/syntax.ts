// Small value syntaxes used in stack files, parsed in one place so the
// validator, the model and the operations agree on them.

export interface MountSpec {
  volume: string;
  target: string;
  readOnly: boolean;
}

/** `<volume>:<target>[:ro|:rw]` */
export function parseMount(text: string): MountSpec | undefined {
  const parts = text.split(':');
  if (parts.length < 2 || parts.length > 3) return undefined;
  const [volume, target, flag] = parts;
  if (volume === undefined || target === undefined || volume === '' || target === '') return undefined;
  if (flag !== undefined && flag !== 'ro' && flag !== 'rw') return undefined;
  return { volume, target, readOnly: flag === 'ro' };
}

export interface Owner {
  uid: number;
  gid: number;
}

export function parseOwner(text: string): Owner | undefined {
  const match = /^(\d{1,10}):(\d{1,10})$/.exec(text);
  if (match === null) return undefined;
  return { uid: Number(match[1]), gid: Number(match[2]) };
}

/** Octal permission bits, 3 or 4 digits, optional leading 0 ("750", "0750", "2775"). */
export function parseMode(text: string): number | undefined {
  if (!/^0?[0-7]{3,4}$/.test(text)) return undefined;
  const value = Number.parseInt(text, 8);
  return value <= 0o7777 ? value : undefined;
}

export function formatMode(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

/** A path segment list with no `..`, used for host paths and paths inside volumes. */
export function hasParentSegment(path: string): boolean {
  return path.split('/').some((segment) => segment === '..');
}

/** Paths inside a volume: relative, no `..`, not empty. */
export function isSafeRelativePath(path: string): boolean {
  return path !== '' && !path.startsWith('/') && !hasParentSegment(path) && !path.includes('\0');
}

/** `user` of a service: a numeric uid[:gid] or a name[:group]. */
export function isValidUser(text: string): boolean {
  return /^([0-9]+|[a-z_][a-z0-9_-]*)(:([0-9]+|[a-z_][a-z0-9_-]*))?$/.test(text);
}

const AGE_UNIT_SECONDS: Record<string, number> = { m: 60, h: 3_600, d: 86_400, w: 604_800 };

/** `26h`, `2d`, `90m`, `1w` (backups.maxAge) in seconds; undefined when it is not of that form. */
export function parseMaxAge(text: string): number | undefined {
  const match = /^([1-9][0-9]*)([mhdw])$/.exec(text);
  const unit = match?.[2] === undefined ? undefined : AGE_UNIT_SECONDS[match[2]];
  return match === null || unit === undefined ? undefined : Number(match[1]) * unit;
}

const DURATION_UNIT_SECONDS = { s: 1, m: 60, h: 3600 } as const;

/** A stop grace period (`30s`, `2m`, `1h`) in whole seconds; undefined for anything else. */
export function parseGracePeriod(text: string): number | undefined {
  const match = /^([1-9][0-9]*)(s|m|h)$/.exec(text);
  const unit = match?.[2];
  if (match === null || (unit !== 's' && unit !== 'm' && unit !== 'h')) return undefined;
  return Number(match[1]) * DURATION_UNIT_SECONDS[unit];
}
