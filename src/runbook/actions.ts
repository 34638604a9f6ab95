import { existsSync } from 'node:fs';
import { isDumpMethod, type Model } from '../config/model.js';
import { command, renderCommand, shellQuote, type Runner } from '../engine/command.js';
import { docker } from '../engine/docker.js';
import { engineIsLocal } from '../engine/endpoint.js';
import { inspectVolumes } from '../engine/inspect.js';
import { resolveBackupSet } from '../backup/set.js';
import { assertDrill, drillCheck, drillModel, drillReport, drillRestore, removeDrill } from '../backup/drill.js';
import type { Captured } from './run-log.js';
import { drillProject } from './scope.js';
import type { ActionName } from './types.js';

/**
 * Built-in steps: the few things a runbook needs that depend on the stack
 * model and the engine's answers (which image a container runs, which volumes
 * are gone). Each builds its docker commands as data and runs them through
 * the engine Runner; `planAction` prints them for --dry-run.
 */

export interface ActionContext {
  model: Model;
  runner: Runner;
  params: Readonly<Record<string, string>>;
  /** Backup root, for `latest`. */
  backups: string;
  identity: string | undefined;
  log: (line: string) => void;
}

export interface ActionOutcome {
  captured: Captured;
  report: string[];
}

/** One per service: the image it ran before an update, kept under a local tag so a rollback can point back at it. */
export function rollbackTag(model: Model, service: string): string {
  return `stowage-rollback/${model.project}-${service}:previous`;
}

function services(model: Model): Array<{ service: string; container: string; image: string }> {
  return [...new Map(model.containers.map((c) => [c.service, { service: c.service, container: c.name, image: c.image }] as const)).values()];
}

const containerImage = (container: string) => command('docker', ['container', 'inspect', '--format', '{{.Image}}', container], `look up the image ${container} runs`, false);

async function recordImages(ctx: ActionContext): Promise<ActionOutcome> {
  const recorded: string[] = [];
  const report: string[] = [];
  for (const s of services(ctx.model)) {
    const found = await ctx.runner.run(containerImage(s.container), { allowFailure: true });
    if (found.code !== 0) {
      report.push(`${s.container} does not exist: no previous version of ${s.service} to roll back to`);
      continue;
    }
    const id = found.stdout.trim();
    await ctx.runner.run(command('docker', ['tag', id, rollbackTag(ctx.model, s.service)], `remember the image of ${s.container}`));
    recorded.push(`${s.service}=${id}`);
    report.push(`${s.service}: ${s.container} runs ${id.slice(0, 19)} (tagged ${rollbackTag(ctx.model, s.service)})`);
  }
  return { captured: { previous_images: recorded }, report };
}

async function rollbackImages(ctx: ActionContext): Promise<ActionOutcome> {
  const report: string[] = [];
  for (const s of services(ctx.model)) {
    const tag = rollbackTag(ctx.model, s.service);
    const exists = await ctx.runner.run(docker.imageExists(tag), { allowFailure: true });
    if (exists.code !== 0) {
      report.push(`${s.service}: no ${tag}: left as it is`);
      continue;
    }
    await ctx.runner.run(command('docker', ['tag', tag, s.image], `point ${s.image} back at the previous image of ${s.service}`));
    report.push(`${s.service}: ${s.image} is the previous image again (${exists.stdout.trim().slice(0, 19)})`);
  }
  return { captured: {}, report };
}

async function missingVolumes(ctx: ActionContext): Promise<ActionOutcome> {
  const named = ctx.model.volumes.filter((v) => v.kind !== 'bind');
  const existing = new Set((await inspectVolumes(ctx.runner, named.map((v) => v.name))).map((v) => v.Name));
  const missing: string[] = [];
  const report: string[] = [];
  for (const v of ctx.model.volumes) {
    // A bind directory is looked for here only when the engine shares this machine's paths.
    const gone = v.kind === 'bind' ? engineIsLocal() && !existsSync(v.hostPath ?? '') : !existing.has(v.name);
    if (!gone) continue;
    const where = v.kind === 'bind' ? v.hostPath ?? '' : v.name;
    if (v.backup.method === 'none') report.push(`${v.key} (${where}) is missing and not backed up: Compose creates it empty`);
    else {
      missing.push(v.key);
      report.push(`${v.key} (${where}) is missing: it will be restored`);
    }
  }
  if (missing.length === 0 && report.length === 0) report.push('every volume exists');
  return { captured: { missing }, report };
}

async function runDrillRestore(ctx: ActionContext): Promise<ActionOutcome> {
  const set = resolveBackupSet(ctx.params['backup'] ?? 'latest', ctx.backups, ctx.model.project, ctx.model.env);
  const result = await drillRestore(ctx.model, set, { runner: ctx.runner, identity: ctx.identity, log: ctx.log });
  return {
    captured: { drill_set: set },
    report: [`restored ${set} into ${result.volumes.join(', ') || 'no volume'}${result.databases.length > 0 ? `; scratch databases ${result.databases.join(', ')}` : ''}`],
  };
}

async function runDrillCheck(ctx: ActionContext): Promise<ActionOutcome> {
  const set = resolveBackupSet(ctx.params['backup'] ?? 'latest', ctx.backups, ctx.model.project, ctx.model.env);
  const result = await drillCheck(ctx.model, set, { runner: ctx.runner, identity: ctx.identity });
  assertDrill(result, drillProject(ctx.model));
  return { captured: {}, report: drillReport(result, drillProject(ctx.model)) };
}

async function runDrillRemove(ctx: ActionContext): Promise<ActionOutcome> {
  const removed = await removeDrill(ctx.runner, ctx.model, () => undefined);
  const all = [...removed.containers, ...removed.volumes];
  return { captured: {}, report: [all.length > 0 ? `removed ${all.join(', ')}; nothing of ${drillProject(ctx.model)} is left` : `nothing of ${drillProject(ctx.model)} to remove`] };
}

export async function runAction(name: ActionName, ctx: ActionContext): Promise<ActionOutcome> {
  switch (name) {
    case 'record-images':
      return recordImages(ctx);
    case 'rollback-images':
      return rollbackImages(ctx);
    case 'missing-volumes':
      return missingVolumes(ctx);
    case 'drill-restore':
      return runDrillRestore(ctx);
    case 'drill-check':
      return runDrillCheck(ctx);
    case 'drill-remove':
      return runDrillRemove(ctx);
  }
}

/** The commands an action would run, pasteable where the engine's answer can be read by a subshell. */
export function planAction(name: ActionName, model: Model, params: Readonly<Record<string, string>>): string[] {
  switch (name) {
    case 'record-images':
      return services(model).map((s) => `docker tag "$(${renderCommand(containerImage(s.container))})" ${shellQuote(rollbackTag(model, s.service))}`);
    case 'rollback-images':
      return services(model).map((s) => `docker tag ${shellQuote(rollbackTag(model, s.service))} ${shellQuote(s.image)}`);
    case 'missing-volumes':
      return [
        ...model.volumes.map((v) => (v.kind === 'bind' ? `test -d ${shellQuote(v.hostPath ?? '')}  # ${v.key}` : `${renderCommand(docker.inspectVolumes([v.name]))} >/dev/null  # ${v.key}`)),
        `# MISSING: the backed-up volumes whose check fails (${model.volumes.filter((v) => v.backup.method !== 'none').map((v) => v.key).join(' ')})`,
      ];
    case 'drill-restore': {
      const scratch = drillModel(model);
      return [
        `# backup set: ${params['backup'] ?? 'latest'}; the restore runs as restore.mjs does, into these scratch volumes:`,
        ...scratch.volumes.filter((v) => v.backup.method !== 'none').map((v) => renderCommand(docker.createVolume(v.name, 'local', {}, v.labels))),
        ...scratch.volumes
          .filter((v) => isDumpMethod(v.backup.method))
          .map((v) => `# ${v.key}: a scratch ${scratch.containers.find((c) => c.service === v.backup.service)?.name ?? '?'} (no network) receives the ${v.backup.method}`),
      ];
    }
    case 'drill-check':
      return [`# reads each artifact of ${params['backup'] ?? ''} and each scratch volume (docker cp <helper>:/v/. -) and compares every entry`];
    case 'drill-remove': {
      const scratch = drillModel(model);
      return [
        `docker ps --all --quiet --filter label=stowage.drill=${model.project} --filter label=stowage.project=${drillProject(model)} | xargs -r docker rm --force --volumes`,
        `docker volume rm ${scratch.volumes.map((v) => shellQuote(v.name)).join(' ')}`,
      ];
    }
  }
}
