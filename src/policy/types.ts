// The small shape every policy rule reads. Two producers fill it: the lint for
// Compose users (from the resolved model plus the raw stack file, see
// from-model.ts) and the CrossGuard pack (from the Docker resources Pulumi is
// about to create, plus what the stack file declares, see policies/). Rules
// never see either source directly, so both enforcement paths run the same code.

import type { VolumeKind } from '../config/model.js';
import type { BackupMethod } from '../config/types.js';

/** advisory: printed, never fails a run. mandatory: lint exits 3, `pulumi preview` refuses. */
export type Severity = 'advisory' | 'mandatory';

/** What a rule looks at; CrossGuard maps each scope onto a resource type or the whole stack. */
export type Scope = 'container' | 'volume' | 'image' | 'stack';

export type ObjectKind = 'container' | 'volume' | 'image' | 'stack';

export interface ObjectRef {
  kind: ObjectKind;
  /** Engine name (`<project>-<service>`, `<project>_<volume>`), image reference, or stack name. */
  name: string;
}

export interface MountFacts {
  /** Stack file volume key; undefined when the source is not a volume the stack file declares. */
  volume: string | undefined;
  /** tmpfs only appears in what a Pulumi program declares; the stack file cannot. */
  type: 'volume' | 'bind' | 'tmpfs';
  /** Docker volume name, host path of a bind mount, or empty for tmpfs. */
  source: string;
  target: string;
  readOnly: boolean;
}

/** A privilege the stack file allows only with a written reason. */
export type Privilege = 'privileged' | 'hostNetwork' | 'dockerSocket';

export interface ContainerFacts {
  name: string;
  service: string;
  /** undefined: no restart policy set, which Docker treats as `no`. */
  restart: string | undefined;
  /** Where the restart policy comes from, for the fix message (a stack file key path, or a resource argument). */
  restartSource: string;
  privileged: boolean;
  hostNetwork: boolean;
  dockerSocket: boolean;
  /** Reasons the stack file gives for each privilege it allows. */
  reasons: Partial<Record<Privilege, string>>;
  mounts: MountFacts[];
  /** Paths inside the container where the service keeps state (stack file `statePaths`). */
  statePaths: string[];
}

export interface FileFacts {
  path: string;
  mode: number | undefined;
  secret: boolean;
}

export interface VolumeFacts {
  /** Stack file volume key; undefined for a volume no stack file declares. */
  key: string | undefined;
  /** Docker volume name, or the host path of a bind-mounted volume. */
  name: string;
  kind: VolumeKind;
  hostPath: string | undefined;
  /** undefined: nothing declares how this volume is backed up. */
  backup: { method: BackupMethod; reason: string | undefined } | undefined;
  files: FileFacts[];
}

export interface ImageFacts {
  /** As the service names it (`name:tag`, `name@sha256:...`), or an image ID (`sha256:...`). */
  reference: string;
  /** Containers that run it (empty when only the image resource is known). */
  usedBy: string[];
}

/** Where one environment of a stack file deploys: under which project name, to which engine. */
export interface EnvironmentPlacement {
  env: string;
  project: string;
  /** The engine it is bound to; undefined: whatever DOCKER_HOST or the Docker context selects. */
  engine: string | undefined;
}

export interface PolicyInput {
  /** `<app>-<env>`, or the Pulumi stack name. */
  stack: string;
  /** The environment being checked; undefined when unknown. */
  env: string | undefined;
  /** Every environment its stack file declares, this one included; undefined when unknown (no stack file found). */
  environments: EnvironmentPlacement[] | undefined;
  production: boolean;
  /** The environment's hostRoot; undefined when it declares none. */
  hostRoot: string | undefined;
  /** backups.encryption.recipients; undefined when unknown (no stack file found). */
  backupRecipients: string[] | undefined;
  containers: ContainerFacts[];
  volumes: VolumeFacts[];
  images: ImageFacts[];
}

/** What a rule reports: which object, what is wrong, and how to fix it. */
export interface Finding {
  object: ObjectRef;
  message: string;
  fix: string;
}

export interface Rule {
  id: string;
  severity: Severity;
  scope: Scope;
  /** One line: what the rule requires. */
  description: string;
  check(input: PolicyInput): Finding[];
}

export interface Violation extends Finding {
  rule: string;
  severity: Severity;
  stack: string;
}
