// Live drift: does the engine run what the stack file declares? Compares every
// container and volume of one environment with the resolved model, finds objects
// carrying the environment's labels that the model does not know, and says for
// each difference how to bring the engine back in line without losing data.

import { composeServiceKey } from '../compose/render.js';
import { LABEL, type ContainerModel, type Model, type MountModel, type VolumeModel } from '../config/model.js';
import type { Command, Runner } from '../engine/command.js';
import { docker, HELPER_LABEL } from '../engine/docker.js';
import { containerImageIds, inspectImages, type ImageConfig } from '../engine/image-config.js';
import { inspectContainers, inspectVolumes, type ContainerState, type VolumeState } from '../engine/inspect.js';
import { isImageId, normalizeReference } from '../policy/image-reference.js';

export type DriftKind = 'missing' | 'stopped' | 'extra' | 'image' | 'mounts' | 'environment' | 'user' | 'labels' | 'driver' | 'options';

export interface DriftItem {
  object: 'container' | 'volume';
  /** Engine name: `<project>-<service>` or `<project>_<volume>`. */
  name: string;
  kind: DriftKind;
  /** What differs. Never holds an environment variable's value. */
  detail: string;
  fix: string;
}

export interface LiveDrift {
  stack: string;
  project: string;
  env: string;
  clean: boolean;
  checked: { containers: number; volumes: number };
  drift: DriftItem[];
}

/** How this environment is deployed, for fix messages (Compose users and Pulumi users). */
export function deployHint(model: Model, service?: string): string {
  const compose = `docker compose -p ${model.project} -f compose/${model.app}.yml -f compose/${model.app}.${model.env}.yml up -d`;
  return service === undefined
    ? `${compose} (or pulumi up --stack ${model.app}-${model.env})`
    : `${compose} --force-recreate ${service} (or pulumi up --stack ${model.app}-${model.env})`;
}

// ---------------------------------------------------------------------------
// Containers

interface ImageContext {
  /** The image the container runs (by its ID), for the defaults it contributes. */
  running: ImageConfig | undefined;
  /** What the model's image reference points at on the engine now. */
  declared: ImageConfig | undefined;
  /** The image ID the container was created from. */
  runningId: string | undefined;
}

function parseEnv(entries: string[] | null | undefined): Map<string, string> {
  const vars = new Map<string, string>();
  for (const entry of entries ?? []) {
    const at = entry.indexOf('=');
    if (at > 0) vars.set(entry.slice(0, at), entry.slice(at + 1));
  }
  return vars;
}

function imageDrift(expected: ContainerModel, actual: ContainerState, images: ImageContext): string | undefined {
  const runs = actual.Config.Image;
  const declaredId = images.declared?.Id;
  const byReference = normalizeReference(runs) === normalizeReference(expected.image);
  const byId = isImageId(runs) || runs.includes('@sha256:');
  if (byReference || byId) {
    if (declaredId === undefined) {
      return byId ? `runs image ${runs}; ${expected.image}, which the stack file names, is not on the engine to compare it with` : undefined;
    }
    if (images.runningId === undefined || images.runningId === declaredId) return undefined;
    return `runs ${byId ? runs : `an older ${expected.image}`} (image ${shortId(images.runningId)}); ${expected.image} is image ${shortId(declaredId)} now`;
  }
  return `runs ${runs}; the stack file says ${expected.image}`;
}

function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}

function describeMount(type: string, source: string, readOnly: boolean): string {
  return `${type} ${source} (${readOnly ? 'ro' : 'rw'})`;
}

function mountsDrift(expected: MountModel[], actual: ContainerState['Mounts'], imageVolumes: string[]): string | undefined {
  const want = new Map(expected.map((m) => [m.target, m]));
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const mount of actual) {
    const source = mount.Type === 'volume' ? (mount.Name ?? mount.Source) : mount.Source;
    const declared = want.get(mount.Destination);
    seen.add(mount.Destination);
    if (declared === undefined) {
      // Anonymous volumes the image declares (VOLUME) are Docker's default, not a change.
      if (mount.Type === 'volume' && imageVolumes.includes(mount.Destination)) continue;
      problems.push(`unexpected ${describeMount(mount.Type, source, !mount.RW)} at ${mount.Destination}`);
      continue;
    }
    if (declared.type !== mount.Type || declared.source !== source || declared.readOnly === mount.RW) {
      problems.push(
        `${mount.Destination}: expected ${describeMount(declared.type, declared.source, declared.readOnly)}, found ${describeMount(mount.Type, source, !mount.RW)}`,
      );
    }
  }
  for (const declared of expected) {
    if (!seen.has(declared.target)) problems.push(`${declared.target}: ${describeMount(declared.type, declared.source, declared.readOnly)} is not mounted`);
  }
  return problems.length === 0 ? undefined : problems.join('; ');
}

function environmentDrift(expected: ContainerModel, actual: ContainerState, image: ImageConfig | undefined): string | undefined {
  const live = parseEnv(actual.Config.Env);
  const defaults = parseEnv(image?.Config.Env);
  const missing: string[] = [];
  const different: string[] = [];
  for (const variable of expected.environment) {
    const value = live.get(variable.name);
    if (value === undefined) missing.push(variable.secret !== undefined ? `${variable.name} (secret)` : variable.name);
    // Secret values are never compared (nor printed): only their presence.
    else if (variable.secret === undefined && value !== variable.value) different.push(variable.name);
  }
  const declared = new Set(expected.environment.map((v) => v.name));
  const undeclared = [...live].filter(([name, value]) => !declared.has(name) && defaults.get(name) !== value).map(([name]) => name);
  const parts = [
    missing.length > 0 ? `missing ${missing.join(', ')}` : '',
    different.length > 0 ? `value differs from the stack file for ${different.join(', ')}` : '',
    undeclared.length > 0 ? `set but not declared: ${undeclared.join(', ')}` : '',
  ].filter((p) => p !== '');
  return parts.length === 0 ? undefined : parts.join('; ');
}

function userDrift(expected: ContainerModel, actual: ContainerState, image: ImageConfig | undefined): string | undefined {
  const want = expected.user ?? image?.Config.User ?? '';
  if (actual.Config.User === want) return undefined;
  const show = (user: string): string => (user === '' ? 'the image default (root)' : user);
  return `runs as ${show(actual.Config.User)}; the stack file says ${show(want)}`;
}

function labelsDrift(expected: Record<string, string>, actual: Record<string, string> | null): string | undefined {
  const live = actual ?? {};
  const problems: string[] = [];
  for (const [key, value] of Object.entries(expected)) {
    const found = live[key];
    if (found === undefined) problems.push(`${key} missing (expected ${value})`);
    else if (found !== value) problems.push(`${key}=${found} (expected ${value})`);
  }
  // Other labels come from the image or from Compose; only stowage's own are the stack file's.
  for (const [key, value] of Object.entries(live)) {
    if (key.startsWith('stowage.') && expected[key] === undefined) problems.push(`${key}=${value} not declared`);
  }
  return problems.length === 0 ? undefined : problems.join('; ');
}

/** Every way one existing container differs from its model. */
export function containerDrift(model: Model, expected: ContainerModel, actual: ContainerState, images: ImageContext): DriftItem[] {
  const item = (kind: DriftKind, detail: string, fix: string): DriftItem => ({ object: 'container', name: expected.name, kind, detail, fix });
  const recreate = `recreate it from the stack file: ${deployHint(model, composeServiceKey(model, expected))}`;
  const items: DriftItem[] = [];
  if (!actual.State.Running) {
    items.push(item('stopped', `state ${actual.State.Status}`, `start it (docker start ${expected.name}) and find out why it stopped (docker logs ${expected.name})`));
  }
  const checks: Array<[DriftKind, string | undefined, string]> = [
    ['image', imageDrift(expected, actual, images), recreate],
    [
      'mounts',
      mountsDrift(expected.mounts, actual.Mounts, Object.keys(images.running?.Config.Volumes ?? {})),
      `first check where it has been writing (data on an undeclared mount is in no backup), then ${recreate}`,
    ],
    ['environment', environmentDrift(expected, actual, images.running), recreate],
    ['user', userDrift(expected, actual, images.running), `${recreate}; then npx zx scripts/fix-permissions.mjs --stack ${model.app}-${model.env} if it wrote files as another user`],
    ['labels', labelsDrift(expected.labels, actual.Config.Labels), recreate],
  ];
  for (const [kind, detail, fix] of checks) if (detail !== undefined) items.push(item(kind, detail, fix));
  return items;
}

// ---------------------------------------------------------------------------
// Volumes

function optionsDrift(expected: Record<string, string>, actual: Record<string, string> | null): string | undefined {
  const live = actual ?? {};
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(live)])].sort();
  const problems = keys.flatMap((key) => {
    const want = expected[key];
    const found = live[key];
    if (want === found) return [];
    if (want === undefined) return [`${key}=${found ?? ''} not declared`];
    if (found === undefined) return [`${key} missing (expected ${want})`];
    return [`${key}=${found} (expected ${want})`];
  });
  return problems.length === 0 ? undefined : problems.join('; ');
}

/** Every way one existing volume differs from its model. */
export function volumeDrift(model: Model, expected: VolumeModel, actual: VolumeState): DriftItem[] {
  const item = (kind: DriftKind, detail: string, fix: string): DriftItem => ({ object: 'volume', name: expected.name, kind, detail, fix });
  const rebuild =
    `its data is not where the stack file says. Back it up and verify the backup (npx zx scripts/backup.mjs --stack ${model.app}-${model.env} --volume ${expected.key}), ` +
    `then stop its containers, remove the volume, deploy (${deployHint(model)}) and restore it (npx zx scripts/restore.mjs ... --volume ${expected.key}); never remove it before the backup is verified`;
  const items: DriftItem[] = [];
  if (actual.Driver !== expected.driver) items.push(item('driver', `driver ${actual.Driver} (expected ${expected.driver})`, rebuild));
  const options = optionsDrift(expected.driverOpts, actual.Options);
  if (options !== undefined) items.push(item('options', options, rebuild));
  const labels = labelsDrift(expected.labels, actual.Labels);
  if (labels !== undefined) {
    items.push(item('labels', labels, `labels cannot change on a volume: recreate it as for a driver change, or leave it if only tooling reads the labels (${rebuild})`));
  }
  return items;
}

/** Volumes a deployment creates: Docker volumes (not bind mounts) that a container mounts. Compose creates no others. */
export function expectedVolumes(model: Model): VolumeModel[] {
  return model.volumes.filter((v) => v.kind !== 'bind' && model.containers.some((c) => c.mounts.some((m) => m.volume === v.key)));
}

// ---------------------------------------------------------------------------
// Orchestration

function labelFilters(model: Model): string[] {
  return [`label=${LABEL.project}=${model.project}`, `label=${LABEL.env}=${model.env}`];
}

async function listNames(runner: Runner, listing: Command): Promise<string[]> {
  return (await runner.output(listing)).split('\n').filter((line) => line !== '');
}

/** The model's containers by name, then anything else carrying this environment's labels. */
async function containerFindings(runner: Runner, model: Model): Promise<DriftItem[]> {
  const drift: DriftItem[] = [];
  const modelNames = model.containers.map((c) => c.name);
  const labelledIds = await listNames(runner, docker.listContainerIds(labelFilters(model), true));
  // Names and IDs may denote the same container: keep each once.
  const inspected = await inspectContainers(runner, [...new Set([...modelNames, ...labelledIds])]);
  const states = [...new Map(inspected.map((s) => [s.Id, s])).values()];
  const byName = new Map(states.map((s) => [s.Name, s]));
  const imageIds = await containerImageIds(runner, states.map((s) => s.Name));
  const imageById = new Map((await inspectImages(runner, [...new Set(imageIds.values())])).map((i) => [i.Id, i]));
  // One reference at a time: docker's answer does not say which reference an image was found by.
  const imageByReference = new Map(
    await Promise.all(
      [...new Set(model.containers.map((c) => c.image))].map(async (ref): Promise<[string, ImageConfig | undefined]> => [ref, (await inspectImages(runner, [ref]))[0]]),
    ),
  );

  for (const expected of model.containers) {
    const actual = byName.get(expected.name);
    if (actual === undefined) {
      drift.push({ object: 'container', name: expected.name, kind: 'missing', detail: 'no such container', fix: `create it: ${deployHint(model)}` });
      continue;
    }
    const runningId = imageIds.get(expected.name);
    drift.push(
      ...containerDrift(model, expected, actual, {
        running: runningId === undefined ? undefined : imageById.get(runningId),
        declared: imageByReference.get(expected.image),
        runningId,
      }),
    );
  }
  for (const state of states) {
    if (modelNames.includes(state.Name) || state.Config.Labels?.[HELPER_LABEL] !== undefined) continue;
    drift.push({
      object: 'container',
      name: state.Name,
      kind: 'extra',
      detail: `carries ${LABEL.project}=${model.project} and ${LABEL.env}=${model.env}, but the stack file declares no such container (image ${state.Config.Image}, ${state.State.Status})`,
      fix: `remove it if nothing needs it (docker rm -f ${state.Name}; its volumes stay), or declare its service in ${model.stackFile}`,
    });
  }
  return drift;
}

/** The volumes a deployment creates, then any others labelled for this environment. */
async function volumeFindings(runner: Runner, model: Model): Promise<DriftItem[]> {
  const drift: DriftItem[] = [];
  const wanted = expectedVolumes(model);
  const declaredNames = new Set(model.volumes.filter((v) => v.kind !== 'bind').map((v) => v.name));
  const labelledVolumes = await listNames(runner, docker.listVolumes(labelFilters(model)));
  const volumeStates = await inspectVolumes(runner, [...new Set([...wanted.map((v) => v.name), ...labelledVolumes])]);
  const volumeByName = new Map(volumeStates.map((v) => [v.Name, v]));
  for (const expected of wanted) {
    const actual = volumeByName.get(expected.name);
    if (actual === undefined) {
      drift.push({
        object: 'volume',
        name: expected.name,
        kind: 'missing',
        detail: 'no such volume',
        fix: `create it by deploying (${deployHint(model)}); if it held data, restore it: npx zx scripts/restore.mjs --stack ${model.app}-${model.env} --backup latest --volume ${expected.key}`,
      });
      continue;
    }
    drift.push(...volumeDrift(model, expected, actual));
  }
  for (const name of labelledVolumes) {
    if (declaredNames.has(name)) continue;
    drift.push({
      object: 'volume',
      name,
      kind: 'extra',
      detail: `carries ${LABEL.project}=${model.project} and ${LABEL.env}=${model.env}, but the stack file declares no such Docker volume`,
      fix: `look at what it holds (docker volume inspect ${name}); declare it in ${model.stackFile} if it is needed, otherwise copy out anything worth keeping before docker volume rm ${name}`,
    });
  }
  return drift;
}

/** Compares the engine with one environment; reads only, changes nothing. */
export async function liveDrift(runner: Runner, model: Model): Promise<LiveDrift> {
  const drift = [...(await containerFindings(runner, model)), ...(await volumeFindings(runner, model))];
  return {
    stack: `${model.app}-${model.env}`,
    project: model.project,
    env: model.env,
    clean: drift.length === 0,
    checked: { containers: model.containers.length, volumes: expectedVolumes(model).length },
    drift,
  };
}

export function formatLiveDrift(report: LiveDrift): string {
  if (report.clean) {
    return `${report.stack}: the engine matches the stack file (${report.checked.containers} container(s), ${report.checked.volumes} volume(s) checked)`;
  }
  return [
    `${report.stack} (project ${report.project}, environment ${report.env}): ${report.drift.length} difference(s) between the engine and the stack file`,
    ...report.drift.map((d) => `  ${d.object} ${d.name}: ${d.kind}\n    ${d.detail}\n    fix: ${d.fix}`),
  ].join('\n');
}
