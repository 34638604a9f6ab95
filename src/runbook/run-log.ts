import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { utcStamp } from '../util/timestamps.js';
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


export class RunLog {
  private constructor(readonly path: string) {}

  /** A new journal file `<root>/<project>/<runbook>-<UTC timestamp>.jsonl` (never overwriting one). */
  static create(root: string, project: string, runbook: string, now: Date): RunLog {
    const dir = journalDirectory(root, project);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    for (let n = 0; ; n++) {
      const path = join(dir, `${runbook}-${utcStamp(now)}${n === 0 ? '' : `-${n}`}.jsonl`);
      try {
        closeSync(openSync(path, 'wx', 0o600));
        return new RunLog(path);
      } catch (err) {
        if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) throw err;
      }
    }
  }

  static reopen(path: string): RunLog {
    return new RunLog(path);
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

export function runOwner(): { host: string; pid: number } {
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
