// Maps Docker resource arguments back onto the facts the rules read
// (src/policy/types.ts): what the resources actually do comes from their
// arguments; what the stack file allows or promises comes from Declarations.

import { LABEL, type VolumeModel } from '../src/config/model.js';
import { environmentPlacements, restartSource } from '../src/policy/from-model.js';
import { isDockerSocket } from '../src/policy/paths.js';
import type { ContainerFacts, MountFacts, PolicyInput, VolumeFacts } from '../src/policy/types.js';
import type { Declarations } from './declarations.mjs';
import { labelsOf, type ContainerProps, type VolumeProps } from './resource-props.mjs';

export type EnvironmentFacts = Pick<PolicyInput, 'stack' | 'env' | 'environments' | 'production' | 'hostRoot' | 'backupRecipients'>;

export function environmentFacts(stackName: string | undefined, labels: Record<string, string>, decl: Declarations | undefined): EnvironmentFacts {
  if (decl !== undefined) {
    return {
      stack: stackName ?? `${decl.model.app}-${decl.model.env}`,
      env: decl.model.env,
      environments: environmentPlacements(decl.stack),
      production: decl.model.production,
      hostRoot: decl.stack.environments[decl.model.env]?.hostRoot,
      backupRecipients: decl.model.backups.recipients,
    };
  }
  // Without a stack file, the model's own default: environments named prod or production are production.
  const env = labels[LABEL.env] ?? stackName?.replace(/^.*-/, '');
  return {
    stack: stackName ?? 'unknown',
    env,
    environments: undefined,
    production: env === 'prod' || env === 'production',
    hostRoot: undefined,
    backupRecipients: undefined,
  };
}

function declaredVolume(decl: Declarations | undefined, type: MountFacts['type'], source: string): VolumeModel | undefined {
  if (decl === undefined || source === '') return undefined;
  return decl.model.volumes.find((v) => (type === 'bind' ? v.kind === 'bind' && v.hostPath === source : type === 'volume' && v.kind !== 'bind' && v.name === source));
}

function mountsOf(props: ContainerProps, containerName: string, decl: Declarations | undefined): MountFacts[] {
  const declaredMounts = decl?.model.containers.find((c) => c.name === containerName)?.mounts ?? [];
  const mount = (type: MountFacts['type'], source: string | undefined, target: string, readOnly: boolean): MountFacts => {
    // A source that preview cannot know yet (a volume created in the same run) is
    // matched by target against what the stack file mounts there.
    const key = source === undefined ? declaredMounts.find((m) => m.target === target)?.volume : declaredVolume(decl, type, source)?.key;
    return { volume: key, type, source: source ?? '', target, readOnly };
  };
  const fromMounts = (props.mounts ?? []).flatMap((m): MountFacts[] =>
    m.type === 'volume' || m.type === 'bind' || m.type === 'tmpfs' ? [mount(m.type, m.source, m.target, m.readOnly ?? false)] : [],
  );
  const fromVolumes = (props.volumes ?? []).flatMap((v): MountFacts[] => {
    if (v.containerPath === undefined) return [];
    if (v.volumeName !== undefined) return [mount('volume', v.volumeName, v.containerPath, v.readOnly ?? false)];
    if (v.hostPath !== undefined) return [mount('bind', v.hostPath, v.containerPath, v.readOnly ?? false)];
    return [];
  });
  return [...fromMounts, ...fromVolumes];
}

export function containerFacts(props: ContainerProps, resourceName: string, decl: Declarations | undefined): ContainerFacts {
  const name = props.name ?? resourceName;
  const labels = labelsOf(props.labels);
  const service = labels[LABEL.service] ?? decl?.model.containers.find((c) => c.name === name)?.service ?? name;
  const spec = decl?.stack.services[service];
  const mounts = mountsOf(props, name, decl);
  const reasons: ContainerFacts['reasons'] = {};
  if (spec?.privileged !== undefined) reasons.privileged = spec.privileged.reason;
  if (spec?.hostNetwork !== undefined) reasons.hostNetwork = spec.hostNetwork.reason;
  if (spec?.dockerSocket !== undefined) reasons.dockerSocket = spec.dockerSocket.reason;
  return {
    name,
    service,
    restart: props.restart,
    restartSource: decl !== undefined && spec !== undefined ? restartSource(decl.stack, decl.model.env, service) : `the restart argument of container ${name}`,
    privileged: props.privileged === true,
    hostNetwork: props.networkMode === 'host',
    dockerSocket: mounts.some((m) => m.type === 'bind' && isDockerSocket(m.source)),
    reasons,
    mounts,
    statePaths: spec?.statePaths ?? [],
  };
}

function backupOf(volume: VolumeModel | undefined): VolumeFacts['backup'] {
  return volume === undefined ? undefined : { method: volume.backup.method, reason: volume.backup.reason };
}

function filesOf(volume: VolumeModel | undefined): VolumeFacts['files'] {
  return (volume?.files ?? []).map((f) => ({ path: f.path, mode: f.mode, secret: f.secret }));
}

/** A Docker volume: host-backed when the local driver binds a host directory, NFS when it mounts an export. */
export function dockerVolumeFacts(props: VolumeProps, resourceName: string, decl: Declarations | undefined): VolumeFacts {
  const name = props.name ?? resourceName;
  const opts = props.driverOpts ?? {};
  const local = (props.driver ?? 'local') === 'local';
  const bindsHostDirectory = local && opts['type'] === 'none' && (opts['o'] ?? '').split(',').includes('bind') && opts['device'] !== undefined;
  const declared = declaredVolume(decl, 'volume', name);
  return {
    key: declared?.key,
    name,
    kind: bindsHostDirectory ? 'host' : local && opts['type'] === 'nfs' ? 'nfs' : 'named',
    hostPath: bindsHostDirectory ? opts['device'] : undefined,
    backup: backupOf(declared),
    files: filesOf(declared),
  };
}

/**
 * Bind-mounted volumes have no Docker volume resource: they are the host
 * directories containers bind. Read-only host files (a CA bundle) are not state,
 * and the Docker socket has its own rule.
 */
export function bindVolumeFacts(containers: ContainerFacts[], decl: Declarations | undefined): VolumeFacts[] {
  const bySource = new Map<string, VolumeFacts>();
  for (const mount of containers.flatMap((c) => c.mounts)) {
    if (mount.type !== 'bind' || isDockerSocket(mount.source) || bySource.has(mount.source)) continue;
    const declared = declaredVolume(decl, 'bind', mount.source);
    if (declared === undefined && mount.readOnly) continue;
    bySource.set(mount.source, {
      key: declared?.key,
      name: declared?.name ?? mount.source,
      kind: 'bind',
      hostPath: mount.source,
      backup: backupOf(declared),
      files: filesOf(declared),
    });
  }
  return [...bySource.values()];
}
