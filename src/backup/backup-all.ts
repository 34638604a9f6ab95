// backup.mjs --all: every environment of every stack file, each on its own engine.
import type { Model } from '../config/model.js';
import type { Runner } from '../engine/command.js';
import { engineJson, type EngineEndpoint, type EngineJson } from '../engine/endpoint.js';
import type { Via } from '../engine/local-path.js';
import { deployedOnEngine, visitEngines } from '../ops/engines.js';
import type { ProgressFactory } from '../cli/progress.js';
import { backup, type BackupResult } from './backup.js';
import { destinationOf } from './destination.js';
import { Repository } from './repository.js';

export type EnvironmentBackup = { stack: string; engine: EngineJson } & (
  | { state: 'backed-up'; result: BackupResult }
  | { state: 'not-deployed' }
  | { state: 'unreachable' | 'failed'; error: string }
);

export interface BackupAllOptions {
  runner: Runner;
  /** --to for every environment; else each stack's backups.to, else ./backups. */
  to: string | undefined;
  init: boolean;
  via: Via;
  progress?: ProgressFactory;
  log: (line: string) => void;
}

/**
 * Backs up every environment that has anything on its engine, one after the
 * other, each through its own engine and into its own destination. An engine
 * that does not answer, or an environment whose backup fails, is reported and
 * the others still run: one broken host must not cost the others their backup.
 */
export async function backupAll(targets: ReadonlyArray<{ model: Model; engine: EngineEndpoint }>, options: BackupAllOptions): Promise<EnvironmentBackup[]> {
  const visits = await visitEngines(options.runner, targets, async (model): Promise<BackupResult | undefined | { error: string }> => {
    try {
      if (!(await deployedOnEngine(options.runner, model))) return undefined;
      const destination = destinationOf(options.to, model);
      const to = destination.kind === 'repository' ? new Repository(options.runner, destination, options.log) : destination.display;
      options.log(`${model.app}-${model.env}: backing up into ${destination.display}`);
      return await backup(model, { to, init: options.init, volumes: [], paths: [], runner: options.runner, log: options.log, via: options.via, ...(options.progress === undefined ? {} : { progress: options.progress }) });
    } catch (err) {
      return { error: err instanceof Error ? err.message : String(err) };
    }
  });
  return visits.map((v): EnvironmentBackup => {
    const base = { stack: `${v.model.app}-${v.model.env}`, engine: engineJson(v.engine) };
    if (v.outcome === 'unreachable') return { ...base, state: 'unreachable', error: v.error };
    if (v.value === undefined) return { ...base, state: 'not-deployed' };
    return 'error' in v.value ? { ...base, state: 'failed', error: v.value.error } : { ...base, state: 'backed-up', result: v.value };
  });
}
