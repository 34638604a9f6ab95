import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { compileSchema } from '../config/schema.js';
import { writeFileAtomic } from '../util/durable-file.js';
import type { Manifest } from './set.js';
import type { VerifyResult } from './verify.js';

/**
 * What verify.mjs proved about a set, kept so that status.mjs can say "the
 * newest set verified, at 03:40" without verifying again. The record lives in
 * the set (`<set>/verification.json`), so it is pruned with the set and
 * travels with a copy of it; when the set cannot be written (a read-only
 * mount, a repository) it goes to `<state dir>/verifications/<project>/<set>.json`.
 * schemas/verification.schema.json is its format.
 */
export interface VerificationEntry {
  volume: string;
  file: string;
  /** The manifest's sha256 at the time: an entry for an artifact that has changed since does not count. */
  sha256: string;
  ok: boolean;
  verified: string;
  checked: string[];
  problems: string[];
  warnings: string[];
}

export interface VerificationRecord {
  format: 1;
  project: string;
  env: string;
  set: string;
  artifacts: VerificationEntry[];
}

export const VERIFICATION_FILE = 'verification.json';

let validator: ReturnType<typeof compileSchema<VerificationRecord>> | undefined;

export function stateRecordPath(stateDir: string, project: string, setId: string): string {
  return join(stateDir, 'verifications', project, `${setId}.json`);
}

/** Newest entry per artifact file wins; entries whose sha256 no longer matches the manifest are dropped. */
export function mergeEntries(manifest: Manifest, ...lists: VerificationEntry[][]): VerificationEntry[] {
  const current = new Map(manifest.artifacts.map((a) => [a.file, a.sha256]));
  const newest = new Map<string, VerificationEntry>();
  for (const entry of lists.flat()) {
    if (current.get(entry.file) !== entry.sha256) continue;
    const seen = newest.get(entry.file);
    if (seen === undefined || Date.parse(entry.verified) >= Date.parse(seen.verified)) newest.set(entry.file, entry);
  }
  return manifest.artifacts.flatMap((a) => {
    const entry = newest.get(a.file);
    return entry === undefined ? [] : [entry];
  });
}

export interface ReadRecord {
  record: VerificationRecord | undefined;
  /** Records that exist and could not be used: each names the file and why. */
  issues: string[];
}

/** Reads the records at these paths (absent ones are skipped), validates each and merges them for this set's manifest. */
export function readVerification(paths: string[], manifest: Manifest, setId: string): ReadRecord {
  validator ??= compileSchema<VerificationRecord>('verification.schema.json');
  const issues: string[] = [];
  const lists: VerificationEntry[][] = [];
  for (const path of paths) {
    if (!existsSync(path)) continue;
    let data: unknown;
    try {
      data = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      issues.push(`${path}: not JSON (${err instanceof Error ? err.message : String(err)}); run verify.mjs on the set again to replace it`);
      continue;
    }
    if (!validator(data)) {
      const detail = (validator.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`).join('; ');
      issues.push(`${path}: not a stowage verification record (${detail}); run verify.mjs on the set again to replace it`);
      continue;
    }
    if (data.project !== manifest.project || data.set !== setId) {
      issues.push(`${path}: records set ${data.project}/${data.set}, not ${manifest.project}/${setId}; it was copied from elsewhere: remove it and run verify.mjs on this set`);
      continue;
    }
    lists.push(data.artifacts);
  }
  if (lists.length === 0) return { record: undefined, issues };
  return { record: { format: 1, project: manifest.project, env: manifest.env, set: setId, artifacts: mergeEntries(manifest, ...lists) }, issues };
}

export function entriesOf(result: VerifyResult, verified: Date): VerificationEntry[] {
  const sha = new Map(result.manifest.artifacts.map((a) => [a.file, a.sha256]));
  return result.artifacts.map((a) => ({
    volume: a.volume,
    file: a.file,
    sha256: sha.get(a.file) ?? '',
    ok: a.ok,
    verified: verified.toISOString(),
    checked: a.checked,
    problems: a.problems,
    warnings: a.warnings,
  }));
}

export interface Recorded {
  path: string;
  /** Why the record is not in the set (it could not be written there), when it is not. */
  fellBack?: string;
}

/**
 * Records a verification of a set directory: merged with what earlier runs
 * recorded for artifacts this run did not check (verify --volume), written
 * atomically into the set, else into the state directory.
 */
export function recordVerification(result: VerifyResult, stateDir: string, verified: Date = new Date(), inRepository = false): Recorded {
  // A set in a repository cannot hold its record: it goes to the state directory.
  const setId = inRepository ? (result.manifest.id ?? basename(result.set)) : basename(result.set);
  const inSet = inRepository ? undefined : join(result.set, VERIFICATION_FILE);
  const inState = stateRecordPath(stateDir, result.manifest.project, setId);
  const earlier = readVerification(inSet === undefined ? [inState] : [inSet, inState], result.manifest, setId).record?.artifacts ?? [];
  const record: VerificationRecord = {
    format: 1,
    project: result.manifest.project,
    env: result.manifest.env,
    set: setId,
    artifacts: mergeEntries(result.manifest, earlier, entriesOf(result, verified)),
  };
  const text = `${JSON.stringify(record, null, 2)}\n`;
  if (inSet === undefined) {
    mkdirSync(dirname(inState), { recursive: true, mode: 0o700 });
    writeFileAtomic(inState, text, 0o600);
    return { path: inState };
  }
  try {
    writeFileAtomic(inSet, text, 0o600);
    return { path: inSet };
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    try {
      writeFileAtomic(inState, text, 0o600);
    } catch (second) {
      throw new Error(
        `cannot record the verification in ${inSet} (${reason}) nor in ${inState} (${second instanceof Error ? second.message : String(second)}); ` +
          'status.mjs will not know this set was verified: make one of them writable (STOWAGE_STATE_DIR chooses the second)',
      );
    }
    return { path: inState, fellBack: reason };
  }
}
