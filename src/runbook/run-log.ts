import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../config/errors.js';
import { compileSchema } from '../config/schema.js';
import type { Phase } from './types.js';

/**
 * A journal records one run of a runbook, one JSON line per event, synced as
 * it is written: a crash leaves every finished step on disk. --resume reads
 * the newest journal of the runbook and project, validating every line.
 */

export type Captured = Record<string, string | string[]>;

export interface RunLine {
  type: 'run';
  version: 1;
  runbook: string;
  file: string;
  sha256: string;
  stack: string;
  project: string;
  vars: Record<string, string>;
  at: string;
  host: string;
  pid: number;
}

export interface ResumeLine {
  type: 'resume';
  at: string;
  host: string;
  pid: number;
  sha256: string;
}

export type StepStatus = 'started' | 'ok' | 'failed' | 'skipped';

export interface StepLine {
  type: 'step';
  phase: Phase;
  id: string;
  /** The forEach item (its key), or null for the step as a whole. */
  item: string | null;
  status: StepStatus;
  at: string;
  command?: string[];
  exitCode?: number;
  attempts?: number;
  seconds?: number;
  stderr?: string[];
  reason?: string;
  captured?: Captured;
}

export type EndStatus = 'ok' | 'failed' | 'rolled-back' | 'rollback-failed' | 'interrupted' | 'refused';

export interface EndLine {
  type: 'end';
  status: EndStatus;
  at: string;
  exitCode?: number;
}

export type JournalLine = RunLine | ResumeLine | StepLine | EndLine;

let validator: ReturnType<typeof compileSchema<JournalLine>> | undefined;

function lineValidator(): ReturnType<typeof compileSchema<JournalLine>> {
  validator ??= compileSchema<JournalLine>('runbook-journal.schema.json');
  return validator;
}

export function journalDirectory(root: string, project: string): string {
  return join(root, project);
}

function stamp(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

export class Journal {
  private constructor(readonly path: string) {}

  /** A new journal file `<root>/<project>/<runbook>-<UTC timestamp>.jsonl` (never overwriting one). */
  static create(root: string, project: string, runbook: string, now: Date): Journal {
    const dir = journalDirectory(root, project);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (let n = 0; ; n++) {
      const path = join(dir, `${runbook}-${stamp(now)}${n === 0 ? '' : `-${n}`}.jsonl`);
      try {
        closeSync(openSync(path, 'wx', 0o600));
        return new Journal(path);
      } catch (err) {
        if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) throw err;
      }
    }
  }

  static reopen(path: string): Journal {
    return new Journal(path);
  }

  append(line: JournalLine): void {
    const fd = openSync(this.path, 'a', 0o600);
    try {
      writeSync(fd, `${JSON.stringify(line)}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

export function now(): string {
  return new Date().toISOString();
}

export function identity(): { host: string; pid: number } {
  return { host: hostname(), pid: process.pid };
}

/** Journals of a runbook for a project, newest last. */
export function listJournals(root: string, project: string, runbook: string): string[] {
  const dir = journalDirectory(root, project);
  if (!existsSync(dir)) return [];
  const pattern = new RegExp(`^${runbook.replace(/[-]/g, '\\-')}-(\\d{8}T\\d{6}Z)(?:-(\\d+))?\\.jsonl$`);
  return readdirSync(dir)
    .map((name) => ({ name, match: pattern.exec(name) }))
    .filter((e): e is { name: string; match: RegExpExecArray } => e.match !== null)
    .sort((a, b) => (a.match[1] ?? '').localeCompare(b.match[1] ?? '') || Number(a.match[2] ?? 0) - Number(b.match[2] ?? 0))
    .map((e) => join(dir, e.name));
}

/** Reads and validates a journal. A torn last line (a crash while writing it) is ignored; anything else invalid is an error. */
export function readJournal(path: string): { header: RunLine; lines: JournalLine[] } {
  const text = readFileSync(path, 'utf8');
  const raw = text.split('\n');
  const torn = !text.endsWith('\n') && raw.length > 0;
  const lines: JournalLine[] = [];
  const validate = lineValidator();
  for (const [index, content] of raw.entries()) {
    if (content === '') continue;
    const last = index === raw.length - 1;
    let data: unknown;
    try {
      data = JSON.parse(content);
    } catch {
      if (last && torn) break;
      throw new UsageError(`${path}:${index + 1}: not a JSON line; the journal is damaged: run the runbook again without --resume`);
    }
    if (!validate(data)) {
      const detail = (validate.errors ?? []).slice(0, 3).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
      throw new UsageError(`${path}:${index + 1}: not a valid journal line (${detail}); run the runbook again without --resume`);
    }
    lines.push(data);
  }
  const header = lines[0];
  if (header === undefined || header.type !== 'run') throw new UsageError(`${path}: the journal does not start with a run line; run the runbook again without --resume`);
  return { header, lines };
}

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
