import { rmSync } from 'node:fs';
import { timeOfStamp } from '../util/timestamps.js';
import type { Model } from '../config/model.js';
import type { Runner } from '../engine/command.js';
import { listSets, type SetInfo } from './set.js';
import { verifySet } from './verify.js';
import { EngineSession } from '../session/session.js';

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
