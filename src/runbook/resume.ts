import { hostname } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../config/errors.js';
import { processAlive } from '../session/process-owner.js';
import { listJournals, readJournal, type EndLine, type RunLine } from './run-log.js';
import type { Phase } from './types.js';

/**
 * Resuming a runbook: what an interrupted run's log says is done, what it
 * captured and where it stopped, and which log `--resume` continues.
 */

/** What an earlier run left: what is done, what was captured, where it stopped. */
export interface ResumeState {
  path: string;
  header: RunLine;
  /** `<phase>/<id>/<item or "">` of everything that finished (ok or skipped). */
  done: Set<string>;
  captured: Map<string, string | string[]>;
  started: Set<string>;
  succeeded: Set<string>;
  failed: string | undefined;
  /** onFailure steps ran: resuming continues the rollback. */
  rollbackStarted: boolean;
  end: EndLine | undefined;
  /** The last process that worked on it (the run line or the last resume line). */
  owner: { host: string; pid: number };
}

export function doneKey(phase: Phase, id: string, item: string | null): string {
  return `${phase}/${id}/${item ?? ''}`;
}

export function resumeState(path: string): ResumeState {
  const { header, lines } = readJournal(path);
  const state: ResumeState = {
    path,
    header,
    done: new Set(),
    captured: new Map(),
    started: new Set(),
    succeeded: new Set(),
    failed: undefined,
    rollbackStarted: false,
    end: undefined,
    owner: { host: header.host, pid: header.pid },
  };
  for (const line of lines) {
    if (line.type === 'resume') {
      state.owner = { host: line.host, pid: line.pid };
      state.end = undefined;
    } else if (line.type === 'end') state.end = line;
    else if (line.type === 'step') {
      if (line.phase === 'onFailure' && line.status !== 'skipped') state.rollbackStarted = true;
      if (line.phase === 'steps' && line.status !== 'skipped') state.started.add(line.id);
      if (line.status === 'ok' || line.status === 'skipped') state.done.add(doneKey(line.phase, line.id, line.item));
      if (line.status === 'ok' && line.item === null && line.phase === 'steps') state.succeeded.add(line.id);
      if (line.status === 'failed' && line.phase === 'steps') state.failed = line.id;
      for (const [k, v] of Object.entries(line.captured ?? {})) state.captured.set(k, v);
    }
  }
  return state;
}

/**
 * The run `--resume` continues: the newest log of this runbook for this
 * project, when it was for the same stack, did not finish or roll back, and
 * is not being written by a live process.
 */
export function findResumable(o: { journalRoot: string; project: string; runbook: string; stack: string }): ResumeState {
  const journals = listJournals(o.journalRoot, o.project, o.runbook);
  const newest = journals[journals.length - 1];
  if (newest === undefined) {
    throw new UsageError(`--resume: no journal of runbook ${o.runbook} for project ${o.project} in ${join(o.journalRoot, o.project)}; run it without --resume`);
  }
  const state = resumeState(newest);
  if (state.header.stack !== o.stack) {
    throw new UsageError(`--resume: the last run of ${o.runbook} (${newest}) was for --stack ${state.header.stack}, not ${o.stack}`);
  }
  const status = state.end?.status;
  if (status === 'ok') throw new UsageError(`--resume: the last run of ${o.runbook} (${newest}) finished; nothing to resume. Run it again without --resume.`);
  if (status === 'rolled-back') {
    throw new UsageError(`--resume: the last run failed at step ${state.failed ?? '?'} and was rolled back (${newest}); fix the cause and run it again without --resume`);
  }
  if (status === undefined && state.owner.host === hostname() && state.owner.pid !== process.pid && processAlive(state.owner.pid)) {
    throw new UsageError(`--resume: ${newest} is still being written by process ${state.owner.pid}; wait for it to finish`);
  }
  return state;
}
