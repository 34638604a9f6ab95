// The stack file as written, after schema validation (schemas/stack.schema.json).
// These types mirror the schema; ajv's compiled validator is the type guard that
// lets parsed YAML become a StackFile.

export type BackupMethod = 'tar' | 'sqlite' | 'pg_dump' | 'mongodump' | 'none';
export type RestartPolicy = 'no' | 'always' | 'unless-stopped' | 'on-failure';
export type EnvValue = string | number | boolean | { secret: string };

export interface FileRuleSpec {
  path: string;
  mode?: string;
  owner?: string;
  secret?: boolean;
  description?: string;
}

export interface VolumeBackupSpec {
  method?: BackupMethod;
  reason?: string;
  databases?: string[];
  service?: string;
  database?: string;
  user?: string;
  authenticationDatabase?: string;
  usernameEnv?: string;
  passwordEnv?: string;
  stop?: boolean;
  exclude?: string[];
}

export interface VolumeSpec {
  description?: string;
  owner?: string;
  mode?: string;
  files?: FileRuleSpec[];
  backup?: VolumeBackupSpec;
}

export interface HealthcheckSpec {
  test: string[];
  interval?: string;
  timeout?: string;
  retries?: number;
  startPeriod?: string;
}

export interface Reasoned {
  reason: string;
}

export interface ServiceSpec {
  description?: string;
  image: string;
  command?: string[];
  user?: string;
  replicas?: number;
  restart?: RestartPolicy;
  environment?: Record<string, EnvValue>;
  dependsOn?: string[];
  mounts?: string[];
  ports?: string[];
  healthcheck?: HealthcheckSpec;
  stopGracePeriod?: string;
  statePaths?: string[];
  privileged?: Reasoned;
  hostNetwork?: Reasoned;
  dockerSocket?: Reasoned;
}

export interface NfsSpec {
  server: string;
  path: string;
  options?: string;
}

export interface VolumeOverrideSpec {
  bind?: string;
  host?: string;
  nfs?: NfsSpec;
  named?: true;
}

export interface ServiceOverrideSpec {
  image?: string;
  command?: string[];
  user?: string;
  replicas?: number;
  restart?: RestartPolicy;
  environment?: Record<string, EnvValue>;
  ports?: string[];
  stopGracePeriod?: string;
}

export interface DiskSpec {
  warn?: number;
  crit?: number;
}

export interface EnvironmentSpec {
  description?: string;
  project?: string;
  production?: boolean;
  /** ssh://user@host[:port] | tcp://host:port | unix:///path: where the environment runs. */
  engine?: string;
  engineTls?: { certPath: string };
  hostRoot?: string;
  volumeBacking?: 'named' | 'host' | 'bind';
  volumes?: Record<string, VolumeOverrideSpec>;
  services?: Record<string, ServiceOverrideSpec>;
  disk?: DiskSpec;
  /** This environment's own backup destination. */
  backups?: EnvironmentBackupsSpec;
}

export interface EnvironmentBackupsSpec {
  to?: string;
  resticPasswordFile?: string;
}

export interface RetentionSpec {
  last?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
}

export interface BackupsSpec {
  /** A directory (local sets) or `restic:<repository>`. */
  to?: string;
  resticPasswordFile?: string;
  /** restic check --read-data-subset: all, none, n/t, x%, or a size. */
  resticReadDataSubset?: string;
  compression?: 'zstd' | 'gzip';
  zstdLevel?: number;
  /** `26h`, `2d`: see parseMaxAge. */
  maxAge?: string;
  retention?: RetentionSpec;
  encryption?: { recipients: string[] };
}

export interface SecretSpec {
  description?: string;
  length?: number;
}

export interface StackFile {
  app: string;
  description?: string;
  helper?: { image?: string };
  secrets?: Record<string, SecretSpec>;
  backups?: BackupsSpec;
  disk?: DiskSpec;
  volumes: Record<string, VolumeSpec>;
  services: Record<string, ServiceSpec>;
  environments: Record<string, EnvironmentSpec>;
}
