import { rmSync } from 'node:fs';
import { timeOfStamp } from '../util/timestamps.js';
import type { Model } from '../config/model.js';
import type { Runner } from '../engine/command.js';
import { listSets, type SetInfo } from './set.js';
import { verifySet } from './verify.js';
import { EngineSession } from '../session/session.js';
import { renderCommand } from '../engine/command.js';
import { restic } from '../engine/restic.js';
import type { Repository, RepositorySet } from './repository.js';
import { RepositorySetReader } from './set-reader.js';

/**
 * Retention: which complete sets a stack's backups.retention keeps (as
 * restic's --keep-* do), and prune, which removes the rest under the project
 * lock, never the newest set that verifies.
 */

export interface RetentionPolicy {
  last: number;
  daily: number;
  weekly: number;
  monthly: number;
}


function isoWeek(date: Date): string {
  const d = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate()));
  const day = d.getUTCDay() === 0 ? 7 : d.getUTCDay();
  d.setUTCDate(d.getUTCDate() + 4 - day);
  const yearStart = new Date(Date.UTC(d.getUTCFullYear(), 0, 1));
  const week = Math.ceil(((d.getTime() - yearStart.getTime()) / 86_400_000 + 1) / 7);
  return `${d.getUTCFullYear()}-W${String(week).padStart(2, '0')}`;
}

/**
 * Which sets a policy keeps, as restic's --keep-* do: the newest `last`; and
 * for each of the newest `daily` days (weeks, months) that have a set, the
 * newest set of that day. Names sort in time order.
 */
export function keptSets(names: string[], policy: RetentionPolicy): Set<string> {
  const newestFirst = [...names].sort().reverse();
  const kept = new Set(newestFirst.slice(0, policy.last));
  const bucketed = (count: number, bucket: (d: Date) => string): void => {
    const seen = new Set<string>();
    for (const name of newestFirst) {
      if (seen.size >= count) break;
      const key = bucket(timeOfStamp(name));
      if (seen.has(key)) continue;
      seen.add(key);
      kept.add(name);
    }
  };
  bucketed(policy.daily, (d) => d.toISOString().slice(0, 10));
  bucketed(policy.weekly, isoWeek);
  bucketed(policy.monthly, (d) => d.toISOString().slice(0, 7));
  return kept;
}

export interface PruneResult {
  kept: string[];
  removed: string[];
  protectedSet: string | undefined;
}

/**
 * Applies the stack's retention to complete sets. The newest set that passes
 * verification is never removed, whatever the policy says: if the newest sets
 * are damaged, the last good one stays.
 */
export async function prune(model: Model, to: string, runner: Runner, identity: string | undefined, log: (line: string) => void = () => undefined): Promise<PruneResult> {
  if (runner.dryRun) return pruneLocked(model, to, runner, identity);
  // Under the project lock: a restore reading a set, or another prune, waits.
  return EngineSession.with(runner, model, 'prune', log, () => pruneLocked(model, to, runner, identity));
}

async function pruneLocked(model: Model, to: string, runner: Runner, identity: string | undefined): Promise<PruneResult> {
  const complete: SetInfo[] = listSets(to, model.project).filter((s) => s.complete);
  const kept = keptSets(complete.map((s) => s.name), model.backups.retention);
  let protectedSet: string | undefined;
  for (const set of [...complete].reverse()) {
    const result = await verifySet(set.path, { runner, identity }).catch(() => undefined);
    if (result?.ok === true) {
      protectedSet = set.name;
      break;
    }
  }
  if (protectedSet !== undefined) kept.add(protectedSet);
  const removed: string[] = [];
  for (const set of complete) {
    if (kept.has(set.name)) continue;
    if (runner.dryRun) runner.plan(`rm -rf ${set.path}`);
    else rmSync(set.path, { recursive: true, force: true });
    removed.push(set.path);
  }
  return { kept: complete.filter((s) => kept.has(s.name)).map((s) => s.path), removed, protectedSet };
}

/**
 * Retention in a restic repository: the stack's policy decides per
 * environment and volume which sets stay (a set stays while any of its
 * volumes needs it, so sets are only ever removed whole), the newest set that
 * verifies always stays, and `restic forget --prune` removes the rest of this
 * project's snapshots, with the snapshots of sets interrupted runs left. Other
 * projects' snapshots in the same repository are never touched. Under the
 * project lock, like every prune.
 */
export async function pruneRepository(model: Model, repo: Repository, runner: Runner, log: (line: string) => void = () => undefined): Promise<PruneResult> {
  if (runner.dryRun) return pruneRepositoryLocked(model, repo, runner, log);
  return EngineSession.with(runner, model, 'prune', log, () => pruneRepositoryLocked(model, repo, runner, log));
}

/**
 * The sets a policy keeps in a repository: per environment and volume, the
 * sets holding that volume are bucketed as keptSets does; a set stays while
 * any of its volumes keeps it.
 */
export function keptRepositorySets(complete: Array<Pick<RepositorySet, 'id' | 'env' | 'volumes'>>, policy: RetentionPolicy): Set<string> {
  const kept = new Set<string>();
  const groups = new Set(complete.flatMap((s) => [...s.volumes.keys()].map((v) => `${s.env ?? ''}\0${v}`)));
  for (const group of groups) {
    const [env, volume] = group.split('\0');
    const holding = complete.filter((s) => (s.env ?? '') === env && s.volumes.has(volume ?? ''));
    for (const id of keptSets(holding.map((s) => s.id), policy)) kept.add(id);
  }
  return kept;
}

async function pruneRepositoryLocked(model: Model, repo: Repository, runner: Runner, log: (line: string) => void): Promise<PruneResult> {
  const sets = await repo.sets(model.project);
  const complete = sets.filter((s) => s.manifest !== undefined);
  const kept = keptRepositorySets(complete, model.backups.retention);
  let protectedSet: string | undefined;
  for (const set of [...complete].reverse()) {
    // The repository's own check is verify.mjs's; here each volume of the set is read back and checked.
    const result = await RepositorySetReader.open(repo, set)
      .then((reader) => reader.verify({ runner, identity: undefined, readDataSubset: 'skip' }))
      .catch(() => undefined);
    if (result?.ok === true) {
      protectedSet = set.id;
      break;
    }
    log(`set ${set.id} in ${repo.display} does not verify; looking at the one before it`);
  }
  if (protectedSet !== undefined) kept.add(protectedSet);
  const removed = sets.filter((s) => !kept.has(s.id));
  const where = (id: string): string => `${repo.display} set ${id}`;
  if (removed.length > 0) {
    const forget = restic.forget(repo.destination, removed.flatMap((s) => s.snapshots.map((x) => x.id)), true);
    if (runner.dryRun) runner.plan(renderCommand(forget));
    else await repo.runChecked(forget);
  }
  return { kept: complete.filter((s) => kept.has(s.id)).map((s) => where(s.id)), removed: removed.map((s) => where(s.id)), protectedSet };
}
