import type { Model } from '../config/model.js';
import type { Runner } from '../engine/command.js';
import { currentEngine, engineJson } from '../engine/endpoint.js';
import { inspectContainers } from '../engine/inspect.js';
import { defaultHistoryFile, diskUsage, readHistory } from '../ops/disk-usage.js';
import { deployedOnEngine, engineProblem } from '../ops/engines.js';
import { liveDrift } from '../ops/live-drift.js';
import type { SetSource } from '../backup/set-source.js';
import { evaluateStack, type StackInputs, type StackStatus } from './status.js';
import type { ReadRecord } from '../backup/verification-record.js';

/**
 * Reads what status.mjs reports on, for one environment of one stack. Only
 * read-only engine commands run (inspect, ps, volume ls, and the read-only
 * helper that disk-usage measures with); nothing is written anywhere.
 */
export interface CollectOptions {
  runner: Runner;
  source: SetSource;
  stateDir: string;
  /** Measure volume sizes now (a metadata walk per volume); else the disk-usage history's newest sample. */
  measure: boolean;
  /** With --all: an environment with nothing on the engine and no backups is listed as not deployed, not checked. */
  onlyIfDeployed: boolean;
  now: Date;
}

function message(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

async function attempt<T>(work: () => Promise<T>): Promise<T | { error: string }> {
  try {
    return await work();
  } catch (err) {
    return { error: message(err) };
  }
}

export async function collectStack(model: Model, options: CollectOptions): Promise<StackStatus> {
  const { runner, source, now } = options;
  const sets = await source.sets(model.project);
  const verifications = new Map<string, ReadRecord>();
  for (const set of sets) {
    if (set.state === 'complete' && set.manifest !== undefined && set.manifest.env === model.env) verifications.set(set.id, source.verification({ ...set, manifest: set.manifest }));
  }
  const hasBackups = verifications.size > 0;
  let deployed = true;
  // Asked once: an engine that does not answer is reported by name, and its checks are not tried one by one.
  const problem = await engineProblem(runner);
  const base = { model, engine: { endpoint: engineJson(currentEngine()), problem }, now, destination: source.where(model.project), sets, verifications };
  if (problem !== undefined) {
    // Whether anything of it is there cannot be told: without backups it is not checked, and the error says why.
    const unknown = { error: problem };
    return evaluateStack({ ...base, deployed: !options.onlyIfDeployed || hasBackups, disk: options.measure ? unknown : { skipped: true }, history: readStackHistory(model, options.stateDir), containers: unknown, drift: unknown });
  }
  if (options.onlyIfDeployed && !hasBackups) {
    // When the engine does not answer, say so rather than calling the stack "not deployed".
    const found = await attempt(() => deployedOnEngine(runner, model));
    deployed = typeof found === 'boolean' ? found : true;
  }
  if (!deployed) {
    return evaluateStack({ ...base, deployed, disk: { skipped: true }, history: { samples: [] }, containers: [], drift: { skipped: true } });
  }

  const history = readStackHistory(model, options.stateDir);
  const containers = await attempt(() => inspectContainers(runner, model.containers.map((c) => c.name)));
  const drift = await attempt(() => liveDrift(runner, model));
  const disk: StackInputs['disk'] = options.measure
    ? await attempt(async () => ({
        report: await diskUsage(model, { runner, top: 0, warn: model.disk.warn, crit: model.disk.crit, historyFile: null, stacksDir: '', unmanaged: false, now }),
      }))
    : { skipped: true };
  return evaluateStack({ ...base, deployed, disk, history, containers, drift });
}

function readStackHistory(model: Model, stateDir: string): StackInputs['history'] {
  try {
    return { samples: readHistory(defaultHistoryFile(model.project, stateDir), model.project).samples };
  } catch (err) {
    return { error: message(err) };
  }
}
