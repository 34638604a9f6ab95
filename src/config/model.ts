import { dirname, isAbsolute, resolve } from 'node:path';
import { UsageError } from './errors.js';
import { parseGracePeriod, parseMaxAge, parseMode, parseMount, parseOwner, type Owner } from './syntax.js';
import type { BackupMethod, EnvValue, HealthcheckSpec, RestartPolicy, StackFile, VolumeOverrideSpec } from './types.js';

/**
 * One environment of one stack file, resolved: every name the engine will see,
 * every volume's backing, every container's settings. Pulumi, Compose and the
 * operations all read this; none of them reads the stack file directly.
 */
/** zstd -1: on mixed data it lands within about 1% of gzip -6 at a fraction of -3's CPU (docs/architecture.md, measured facts). */
export const DEFAULT_ZSTD_LEVEL = 1;

/** A nightly backup plus two hours of slack for a slow night. */
export const DEFAULT_MAX_AGE = '26h';
const DEFAULT_MAX_AGE_SECONDS = 26 * 3_600;

export interface Model {
  app: string;
  env: string;
  project: string;
  production: boolean;
  /** The engine the stack file binds this environment to; undefined: DOCKER_HOST or the Docker context decides. */
  engine: EngineSpec | undefined;
  stackFile: string;
  projectRoot: string;
  network: NetworkModel;
  volumes: VolumeModel[];
  containers: ContainerModel[];
  secrets: SecretModel[];
  helperImage: string | undefined;
  backups: BackupsModel;
  disk: { warn: number; crit: number };
}

/** What the stack file says about an environment's engine (environments.<env>.engine). */
export interface EngineSpec {
  url: string;
  /** Directory with ca.pem, cert.pem and key.pem for a tcp:// engine (engineTls.certPath, resolved). */
  tlsCertPath: string | undefined;
  /** `/srv/stowage/stacks/pim.yaml environments.prod.engine`, for messages. */
  declaredAt: string;
}

export interface NetworkModel {
  name: string;
  labels: Record<string, string>;
}

/**
 * named: Docker-managed volume. host: named volume whose data lives in a host
 * directory (local driver, type none, o bind). bind: plain bind mount, no
 * Docker volume. nfs: named volume on an NFS export (local driver, type nfs).
 */
export type VolumeKind = 'named' | 'host' | 'bind' | 'nfs';

export interface FileRule {
  path: string;
  mode: number | undefined;
  owner: Owner | undefined;
  secret: boolean;
}

export interface BackupModel {
  method: BackupMethod;
  reason: string | undefined;
  databases: string[];
  service: string | undefined;
  database: string | undefined;
  user: string | undefined;
  authenticationDatabase: string | undefined;
  usernameEnv: string | undefined;
  passwordEnv: string | undefined;
  stop: boolean;
  exclude: string[];
}

export interface VolumeModel {
  key: string;
  /** `<project>_<volume>`: the Docker volume name, also used to name backup artifacts of bind mounts. */
  name: string;
  kind: VolumeKind;
  /** Absolute host directory for host and bind kinds. */
  hostPath: string | undefined;
  /** As written in the stack file (a bind path may be ./relative to the project root). */
  declaredPath: string | undefined;
  driver: string;
  driverOpts: Record<string, string>;
  owner: Owner | undefined;
  mode: number | undefined;
  files: FileRule[];
  backup: BackupModel;
  labels: Record<string, string>;
}

export interface MountModel {
  volume: string;
  target: string;
  readOnly: boolean;
  type: 'volume' | 'bind';
  /** Docker volume name, or absolute host path for a bind mount. */
  source: string;
}

export type EnvVarModel = { name: string; value: string; secret?: undefined } | { name: string; secret: string; value?: undefined };

export interface ContainerModel {
  service: string;
  name: string;
  image: string;
  command: string[] | undefined;
  user: string | undefined;
  restart: RestartPolicy;
  environment: EnvVarModel[];
  mounts: MountModel[];
  ports: string[];
  dependsOn: string[];
  healthcheck: HealthcheckSpec | undefined;
  /**
   * Seconds between SIGTERM and SIGKILL when the container is stopped, replaced or
   * removed (Compose stop_grace_period; Pulumi stopTimeout and destroyGraceSeconds).
   */
  stopGraceSeconds: number;
  labels: Record<string, string>;
  network: string;
  privileged: boolean;
  hostNetwork: boolean;
  dockerSocket: boolean;
}

export interface SecretModel {
  key: string;
  /** Environment variable that carries the value for Compose users (`<APP>_<KEY>`). */
  composeVariable: string;
  length: number;
}

export interface BackupsModel {
  /** The environment's destination, else the stack's: a directory or `restic:<repository>` (see backup/destination.ts). */
  to: string | undefined;
  /** A file holding the restic password (the environment's, else the stack's); never the password itself. */
  resticPasswordFile: string | undefined;
  /** How much data verify.mjs reads back from a repository: all, none, n/t, x% or a size. */
  resticReadDataSubset: string;
  compression: 'zstd' | 'gzip';
  zstdLevel: number;
  /** backups.maxAge in seconds: status.mjs calls an older newest backup stale. */
  maxAgeSeconds: number;
  retention: { last: number; daily: number; weekly: number; monthly: number };
  recipients: string[];
}

/** A database flushes and closes its files on SIGTERM; killing it mid-write costs a crash recovery at best. */
export const DATABASE_GRACE_SECONDS = 30;
/** Docker's and Compose's own default. */
export const DEFAULT_GRACE_SECONDS = 10;

/** Backup methods that say the volume holds a database (and its writer is a database server or an app owning one). */
const DATABASE_METHODS: ReadonlySet<BackupMethod> = new Set(['sqlite', 'pg_dump', 'mongodump']);

/** Methods whose artifact is a database dump made (and restored) inside the database container, not a tree. */
export function isDumpMethod(method: BackupMethod): method is 'pg_dump' | 'mongodump' {
  return method === 'pg_dump' || method === 'mongodump';
}

export const LABEL = {
  project: 'stowage.project',
  env: 'stowage.env',
  service: 'stowage.service',
  volume: 'stowage.volume',
} as const;

export interface ResolveOptions {
  stackFile: string;
  /** Directory that ./relative bind paths resolve against; default: the parent of the stack file's directory. */
  projectRoot?: string;
}

export function resolveModel(stack: StackFile, envName: string, options: ResolveOptions): Model {
  const env = stack.environments[envName];
  if (env === undefined) {
    throw new UsageError(
      `${options.stackFile}: no environment "${envName}"; declared: ${Object.keys(stack.environments).join(', ')}. Use --stack ${stack.app}-<environment>.`,
    );
  }
  const project = env.project ?? stack.app;
  const production = env.production ?? (envName === 'prod' || envName === 'production');
  const projectRoot = options.projectRoot ?? dirname(dirname(resolve(options.stackFile)));
  const commonLabels = { [LABEL.project]: project, [LABEL.env]: envName };

  const volumes = Object.entries(stack.volumes).map(([key, spec]): VolumeModel => {
    const backing = realizeVolume(env.volumes?.[key], env.volumeBacking ?? 'named', env.hostRoot, key, projectRoot);
    const backup = spec.backup ?? {};
    return {
      key,
      name: `${project}_${key}`,
      ...backing,
      owner: spec.owner === undefined ? undefined : parseOwner(spec.owner),
      mode: spec.mode === undefined ? undefined : parseMode(spec.mode),
      files: (spec.files ?? []).map((rule) => ({
        path: rule.path,
        mode: rule.mode === undefined ? undefined : parseMode(rule.mode),
        owner: rule.owner === undefined ? undefined : parseOwner(rule.owner),
        secret: rule.secret ?? false,
      })),
      backup: {
        method: backup.method ?? 'tar',
        reason: backup.reason,
        databases: backup.databases ?? [],
        service: backup.service ?? defaultDumpService(stack, key, backup.method ?? 'tar'),
        database: backup.database,
        user: backup.user,
        authenticationDatabase: backup.authenticationDatabase,
        usernameEnv: backup.usernameEnv,
        passwordEnv: backup.passwordEnv,
        stop: backup.stop ?? true,
        exclude: backup.exclude ?? [],
      },
      labels: { ...commonLabels, [LABEL.volume]: key },
    };
  });
  const volumeByKey = new Map(volumes.map((v) => [v.key, v]));
  const networkName = `${project}_default`;

  const containers: ContainerModel[] = [];
  for (const [service, spec] of Object.entries(stack.services)) {
    const override = env.services?.[service] ?? {};
    const replicas = override.replicas ?? spec.replicas ?? 1;
    const mounts = (spec.mounts ?? []).map((text): MountModel => {
      const mount = parseMount(text);
      const volume = mount === undefined ? undefined : volumeByKey.get(mount.volume);
      if (mount === undefined || volume === undefined) {
        // The loader rejects these; reaching here means the model was built from an unchecked stack.
        throw new Error(`${options.stackFile}: services.${service}.mounts: "${text}" was not validated; load stack files with loadStackFile`);
      }
      const isBind = volume.kind === 'bind';
      return {
        volume: volume.key,
        target: mount.target,
        readOnly: mount.readOnly,
        type: isBind ? 'bind' : 'volume',
        source: isBind ? (volume.hostPath ?? '') : volume.name,
      };
    });
    const environment = mergeEnvironment(spec.environment, override.environment);
    const stopGraceSeconds = graceSeconds(override.stopGracePeriod ?? spec.stopGracePeriod, mounts, volumeByKey, `${options.stackFile}: services.${service}.stopGracePeriod`);
    for (let replica = 1; replica <= replicas; replica++) {
      containers.push({
        service,
        name: replicas === 1 ? `${project}-${service}` : `${project}-${service}-${replica}`,
        image: override.image ?? spec.image,
        command: override.command ?? spec.command,
        user: override.user ?? spec.user,
        restart: override.restart ?? spec.restart ?? 'unless-stopped',
        environment,
        mounts,
        ports: override.ports ?? spec.ports ?? [],
        dependsOn: spec.dependsOn ?? [],
        healthcheck: spec.healthcheck,
        stopGraceSeconds,
        labels: { ...commonLabels, [LABEL.service]: service },
        network: networkName,
        privileged: spec.privileged !== undefined,
        hostNetwork: spec.hostNetwork !== undefined,
        dockerSocket: spec.dockerSocket !== undefined,
      });
    }
  }

  const retention = stack.backups?.retention ?? {};
  return {
    app: stack.app,
    env: envName,
    project,
    production,
    engine:
      env.engine === undefined
        ? undefined
        : {
            url: env.engine,
            tlsCertPath: env.engineTls === undefined ? undefined : isAbsolute(env.engineTls.certPath) ? env.engineTls.certPath : resolve(projectRoot, env.engineTls.certPath),
            declaredAt: `${options.stackFile} environments.${envName}.engine`,
          },
    stackFile: options.stackFile,
    projectRoot,
    network: { name: networkName, labels: { ...commonLabels } },
    volumes,
    containers,
    secrets: Object.entries(stack.secrets ?? {}).map(([key, spec]) => ({
      key,
      composeVariable: `${stack.app}_${key}`.toUpperCase().replace(/-/g, '_'),
      length: spec.length ?? 32,
    })),
    helperImage: stack.helper?.image,
    backups: {
      to: env.backups?.to ?? stack.backups?.to,
      resticPasswordFile: env.backups?.resticPasswordFile ?? stack.backups?.resticPasswordFile,
      resticReadDataSubset: stack.backups?.resticReadDataSubset ?? 'all',
      compression: stack.backups?.compression ?? 'zstd',
      // Level 1: on mixed data (docs/architecture.md, measured facts) it is faster than 3 and no larger.
      zstdLevel: stack.backups?.zstdLevel ?? DEFAULT_ZSTD_LEVEL,
      maxAgeSeconds: parseMaxAge(stack.backups?.maxAge ?? DEFAULT_MAX_AGE) ?? DEFAULT_MAX_AGE_SECONDS,
      retention: {
        last: retention.last ?? 7,
        daily: retention.daily ?? 7,
        weekly: retention.weekly ?? 4,
        monthly: retention.monthly ?? 6,
      },
      recipients: stack.backups?.encryption?.recipients ?? [],
    },
    disk: {
      warn: env.disk?.warn ?? stack.disk?.warn ?? 80,
      crit: env.disk?.crit ?? stack.disk?.crit ?? 90,
    },
  };
}

type Backing = Pick<VolumeModel, 'kind' | 'hostPath' | 'declaredPath' | 'driver' | 'driverOpts'>;

function realizeVolume(
  override: VolumeOverrideSpec | undefined,
  defaultBacking: 'named' | 'host' | 'bind',
  hostRoot: string | undefined,
  key: string,
  projectRoot: string,
): Backing {
  const hostPathOf = (path: string): string => (isAbsolute(path) ? path : resolve(projectRoot, path));
  if (override?.bind !== undefined) {
    return { kind: 'bind', hostPath: hostPathOf(override.bind), declaredPath: override.bind, driver: 'local', driverOpts: {} };
  }
  if (override?.host !== undefined) return hostBacked(override.host);
  if (override?.nfs !== undefined) {
    const { server, path, options } = override.nfs;
    return {
      kind: 'nfs',
      hostPath: undefined,
      declaredPath: undefined,
      driver: 'local',
      driverOpts: { type: 'nfs', o: [`addr=${server}`, options].filter((part) => part !== undefined && part !== '').join(','), device: `:${path}` },
    };
  }
  if (override?.named === true || defaultBacking === 'named' || hostRoot === undefined) {
    return { kind: 'named', hostPath: undefined, declaredPath: undefined, driver: 'local', driverOpts: {} };
  }
  const path = `${hostRoot.replace(/\/+$/, '')}/${key}`;
  if (defaultBacking === 'bind') return { kind: 'bind', hostPath: path, declaredPath: path, driver: 'local', driverOpts: {} };
  return hostBacked(path);
}

function hostBacked(path: string): Backing {
  // The reference docs' production override: local driver, bind-mounting a host directory.
  return { kind: 'host', hostPath: path, declaredPath: path, driver: 'local', driverOpts: { type: 'none', o: 'bind', device: path } };
}

/** The declared grace period, else 30 s for a container that writes a database volume and 10 s for any other. */
function graceSeconds(declared: string | undefined, mounts: MountModel[], volumeByKey: ReadonlyMap<string, VolumeModel>, where: string): number {
  if (declared !== undefined) {
    const seconds = parseGracePeriod(declared);
    // The schema admits only what parseGracePeriod reads; reaching here means an unchecked stack.
    if (seconds === undefined) throw new Error(`${where}: "${declared}" was not validated; load stack files with loadStackFile`);
    return seconds;
  }
  const writesDatabase = mounts.some((m) => !m.readOnly && DATABASE_METHODS.has(volumeByKey.get(m.volume)?.backup.method ?? 'tar'));
  return writesDatabase ? DATABASE_GRACE_SECONDS : DEFAULT_GRACE_SECONDS;
}

function defaultDumpService(stack: StackFile, volume: string, method: BackupMethod): string | undefined {
  if (method !== 'pg_dump' && method !== 'mongodump') return undefined;
  const mounting = Object.entries(stack.services).filter(([, s]) => (s.mounts ?? []).some((m) => parseMount(m)?.volume === volume));
  return mounting.length === 1 ? mounting[0]?.[0] : undefined;
}

function mergeEnvironment(base: Record<string, EnvValue> | undefined, override: Record<string, EnvValue> | undefined): EnvVarModel[] {
  const merged = { ...(base ?? {}), ...(override ?? {}) };
  return Object.entries(merged).map(([name, value]): EnvVarModel =>
    typeof value === 'object' ? { name, secret: value.secret } : { name, value: String(value) },
  );
}

/** The containers that mount a volume, and whether they write to it. */
export function containersMounting(model: Model, volumeKey: string): Array<{ container: ContainerModel; readOnly: boolean }> {
  const found: Array<{ container: ContainerModel; readOnly: boolean }> = [];
  for (const container of model.containers) {
    const mount = container.mounts.find((m) => m.volume === volumeKey);
    if (mount !== undefined) found.push({ container, readOnly: mount.readOnly });
  }
  return found;
}

export function findVolume(model: Model, key: string): VolumeModel {
  const volume = model.volumes.find((v) => v.key === key);
  if (volume === undefined) {
    throw new UsageError(`stack ${model.app}-${model.env} has no volume "${key}"; declared: ${model.volumes.map((v) => v.key).join(', ')}`);
  }
  return volume;
}
