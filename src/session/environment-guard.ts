import { basename } from 'node:path';
import { UsageError } from '../config/errors.js';
import { LABEL, type Model } from '../config/model.js';
import type { Runner } from '../engine/command.js';
import { inspectContainers, inspectVolumes } from '../engine/inspect.js';

/**
 * dev and prod of one app use the same names unless an environment sets its own
 * project: `digidig_postgres_data`, `digidig-postgres`. On one engine, deploying
 * prod would silently adopt dev's volumes (Docker hands back the volume that has
 * the name) and replace dev's containers. Every object stowage creates carries
 * `stowage.project` and `stowage.env`, so a deploy or restore can see whose
 * volumes it is about to use, and refuse before it changes anything.
 */

export interface LabelledObject {
  kind: 'volume' | 'container';
  name: string;
  /** The labels it carries on the engine. */
  labels: Record<string, string>;
  /** The labels this environment gives it (the model's). */
  expected: Record<string, string>;
}

export interface ForeignObject extends LabelledObject {
  /** The stowage.project and stowage.env labels it carries. */
  project: string | undefined;
  env: string | undefined;
}

/**
 * The objects whose stowage.project or stowage.env label differs from the one this
 * environment gives them. Objects without these labels (made by hand, or by Compose
 * files from before stowage) belong to nobody in particular and are not foreign.
 */
export function foreignObjects(found: readonly LabelledObject[]): ForeignObject[] {
  const differs = (o: LabelledObject, label: string): boolean => o.labels[label] !== undefined && o.labels[label] !== o.expected[label];
  return found
    .filter((o) => differs(o, LABEL.env) || differs(o, LABEL.project))
    .map((o) => ({ ...o, project: o.labels[LABEL.project], env: o.labels[LABEL.env] }));
}

function owner(o: ForeignObject): string {
  if (o.project !== undefined && o.project !== o.expected[LABEL.project]) return `project "${o.project}"${o.env === undefined ? '' : ` (environment "${o.env}")`}`;
  return `environment "${o.env ?? '?'}" of ${o.project ?? 'this project'}`;
}

/** Names the first object, both environments and the ways out; lists the other objects. */
export function foreignEnvironmentError(model: Model, foreign: readonly ForeignObject[]): UsageError {
  const [first, ...rest] = foreign;
  if (first === undefined) throw new Error('foreignEnvironmentError needs at least one foreign object');
  const stack = `${model.app}-${model.env}`;
  const labels = `${LABEL.project}=${first.project ?? '-'}, ${LABEL.env}=${first.env ?? '-'}`;
  const otherEnv = first.env !== undefined && first.env !== model.env ? `${first.env} and ` : '';
  const labelPath = first.kind === 'volume' ? '.Labels' : '.Config.Labels';
  return new UsageError(
    [
      `${stack}: ${first.kind} ${first.name} on this engine belongs to ${owner(first)} (labels ${labels}), not to "${model.env}": ` +
        `a deploy or restore of ${model.env} would take over its data. Nothing was changed.`,
      ...(rest.length > 0 ? [`  also: ${rest.map((o) => `${o.kind} ${o.name} (${owner(o)})`).join(', ')}`] : []),
      `fix: run ${otherEnv}${model.env} on separate engines (environments.<env>.engine in ${basename(model.stackFile)}), or give "${model.env}" names of its own: ` +
        `environments.${model.env}.project: ${model.app}-${model.env} in ${basename(model.stackFile)}. ` +
        `Check the labels with: docker ${first.kind} inspect --format '{{json ${labelPath}}}' ${first.name}`,
    ].join('\n'),
  );
}

/** This environment's Docker volumes and containers that exist on the engine, with their labels. */
export async function labelledObjects(model: Model, runner: Runner): Promise<LabelledObject[]> {
  const declaredVolumes = new Map(model.volumes.filter((v) => v.kind !== 'bind').map((v) => [v.name, v.labels]));
  const declaredContainers = new Map(model.containers.map((c) => [c.name, c.labels]));
  const volumes = await inspectVolumes(runner, [...declaredVolumes.keys()]);
  const containers = await inspectContainers(runner, [...declaredContainers.keys()]);
  return [
    ...volumes.map((v): LabelledObject => ({ kind: 'volume', name: v.Name, labels: v.Labels ?? {}, expected: declaredVolumes.get(v.Name) ?? {} })),
    ...containers.map((c): LabelledObject => ({ kind: 'container', name: c.Name, labels: c.Config.Labels ?? {}, expected: declaredContainers.get(c.Name) ?? {} })),
  ];
}

/**
 * Throws a UsageError (exit 2) when a volume or container this environment is
 * about to use carries another environment's or project's labels. Read-only:
 * call it before anything changes, dry runs included.
 */
export async function refuseOtherEnvironment(model: Model, runner: Runner): Promise<void> {
  const foreign = foreignObjects(await labelledObjects(model, runner));
  if (foreign.length > 0) throw foreignEnvironmentError(model, foreign);
}
