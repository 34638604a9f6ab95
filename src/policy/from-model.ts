// The lint's view: what the generated Compose files (and the Pulumi program)
// would deploy, from the resolved model, plus what only the raw stack file says
// (state paths, reasons for privileges, where a restart policy was written).

import type { ContainerModel, Model } from '../config/model.js';
import type { StackFile } from '../config/types.js';
import { isDockerSocket } from './paths.js';
import type { ContainerFacts, EnvironmentPlacement, ImageFacts, PolicyInput, VolumeFacts } from './types.js';

export function factsFromModel(model: Model, stack: StackFile): PolicyInput {
  const env = stack.environments[model.env];
  return {
    stack: `${model.app}-${model.env}`,
    env: model.env,
    environments: environmentPlacements(stack),
    production: model.production,
    hostRoot: env?.hostRoot,
    backupRecipients: model.backups.recipients,
    containers: model.containers.map((c) => containerFacts(model, stack, c)),
    volumes: model.volumes.map(
      (v): VolumeFacts => ({
        key: v.key,
        name: v.name,
        kind: v.kind,
        hostPath: v.hostPath,
        backup: { method: v.backup.method, reason: v.backup.reason },
        files: v.files.map((f) => ({ path: f.path, mode: f.mode, secret: f.secret })),
      }),
    ),
    images: imagesOf(model.containers),
  };
}

/**
 * Where each environment of a stack file deploys: its environments.<env>.engine,
 * or undefined (wherever DOCKER_HOST or the Docker context points).
 */
export function environmentPlacements(stack: StackFile): EnvironmentPlacement[] {
  return Object.entries(stack.environments).map(([env, spec]) => ({ env, project: spec.project ?? stack.app, engine: spec.engine }));
}

function containerFacts(model: Model, stack: StackFile, c: ContainerModel): ContainerFacts {
  const spec = stack.services[c.service];
  const reasons: ContainerFacts['reasons'] = {};
  if (spec?.privileged !== undefined) reasons.privileged = spec.privileged.reason;
  if (spec?.hostNetwork !== undefined) reasons.hostNetwork = spec.hostNetwork.reason;
  if (spec?.dockerSocket !== undefined) reasons.dockerSocket = spec.dockerSocket.reason;
  return {
    name: c.name,
    service: c.service,
    restart: c.restart,
    restartSource: restartSource(stack, model.env, c.service),
    privileged: c.privileged,
    hostNetwork: c.hostNetwork,
    dockerSocket: c.dockerSocket || c.mounts.some((m) => m.type === 'bind' && isDockerSocket(m.source)),
    reasons,
    mounts: c.mounts.map((m) => ({ volume: m.volume, type: m.type, source: m.source, target: m.target, readOnly: m.readOnly })),
    statePaths: spec?.statePaths ?? [],
  };
}

function imagesOf(containers: ContainerModel[]): ImageFacts[] {
  const byReference = new Map<string, string[]>();
  for (const c of containers) byReference.set(c.image, [...(byReference.get(c.image) ?? []), c.name]);
  return [...byReference].map(([reference, usedBy]) => ({ reference, usedBy }));
}

/** The stack file key that decides a service's restart policy in an environment. */
export function restartSource(stack: StackFile, env: string, service: string): string {
  const override = stack.environments[env]?.services?.[service];
  return override?.restart !== undefined ? `environments.${env}.services.${service}.restart` : `services.${service}.restart`;
}
