import { rmSync } from 'node:fs';
import { CommandFailed } from '../engine/command.js';
import { classifyFailure, restic } from '../engine/restic.js';
import { privateScratch } from '../session/scratch.js';
import { silentProgress } from '../cli/progress.js';
import type { RepositorySetReader } from './set-reader.js';
import type { ArtifactRecord } from './set.js';
import { finishContentCheck, startContentCheck, type ArtifactCheck, type VerifyOptions, type VerifyResult } from './verify.js';

/**
 * Verifies a set in a restic repository: `restic check` of the repository
 * (reading back `readDataSubset` of its data: all of it unless the stack or
 * --read-data-subset says less), then each artifact read back through restic
 * (which authenticates every blob) and checked as a set's artifact is: every
 * tar entry safe to restore, SQLite copies pass integrity_check, dumps list
 * with pg_restore --list; stored files also match their sha256.
 */

export interface RepositoryCheck {
  ok: boolean;
  /** What restic check read: all data, a subset, or the structure only. */
  checked: string;
  problems: string[];
}

export async function verifyRepositorySet(reader: RepositorySetReader, options: VerifyOptions): Promise<VerifyResult> {
  const selected = reader.manifest.artifacts.filter((a) => options.volumes === undefined || options.volumes.length === 0 || options.volumes.includes(a.volume));
  const subset = options.readDataSubset ?? 'all';
  const repository = subset === 'skip' ? undefined : await checkRepository(reader, subset);
  const artifacts: ArtifactCheck[] = [];
  for (const record of selected) artifacts.push(options.staged?.(record) === true ? snapshotPresence(reader, record) : await verifyArtifact(reader, record, options));
  return { set: reader.location, manifest: reader.manifest, ok: artifacts.every((a) => a.ok) && repository?.ok !== false, artifacts, ...(repository === undefined ? {} : { repository }) };
}

/** A staged artifact: its snapshot is still the set's; the restore reads it back (restic authenticates every blob) and checks the rest. */
function snapshotPresence(reader: RepositorySetReader, record: ArtifactRecord): ArtifactCheck {
  const check: ArtifactCheck = { volume: record.volume, file: record.file, method: record.method, ok: false, problems: [], checked: [], warnings: [] };
  if (reader.fingerprint(record) === 'missing' || reader.set.volumes.get(record.volume)?.id !== record.snapshot) check.problems.push(`its snapshot ${(record.snapshot ?? '?').slice(0, 8)} is not in ${reader.repo.display}`);
  else check.checked.push('snapshot present (the content is verified while it is restored)');
  check.ok = check.problems.length === 0;
  return check;
}

async function checkRepository(reader: RepositorySetReader, subset: string): Promise<RepositoryCheck> {
  const { repo } = reader;
  const cmd = restic.check(repo.destination, subset);
  const checked = subset === 'all' ? 'restic check, all data read back' : subset === 'none' ? 'restic check of the structure (no data read back)' : `restic check, data subset ${subset} read back`;
  try {
    await repo.runChecked(cmd);
    return { ok: true, checked, problems: [] };
  } catch (err) {
    if (!(err instanceof CommandFailed)) throw err;
    const failure = classifyFailure(err.result.stderr);
    // A check that could not run (no connection, a live lock) proves nothing either way: the run fails, it does not report damage.
    if (failure !== 'other') throw repo.explain(err);
    const lines = `${err.result.stdout}\n${err.result.stderr}`.split('\n').map((l) => l.trim()).filter((l) => /error|damaged|missing|not found|invalid|mismatch|Fatal/i.test(l));
    return { ok: false, checked, problems: lines.length > 0 ? lines.slice(0, 20) : [`restic check exited ${err.result.code}`] };
  }
}

async function verifyArtifact(reader: RepositorySetReader, record: ArtifactRecord, options: VerifyOptions): Promise<ArtifactCheck> {
  const check: ArtifactCheck = { volume: record.volume, file: record.file, method: record.method, ok: false, problems: [], checked: [], warnings: [] };
  const scratch = privateScratch('verify');
  try {
    const bar = (options.progress ?? silentProgress)(`verify ${record.volume}`, record.format === 'tree' ? undefined : record.bytes);
    const stream = reader.read(record, 'content', options.identity, (n) => bar.add(n));
    const content = startContentCheck(record, stream.content, scratch);
    const [read, decoded] = await Promise.allSettled([stream.done, content.decoded]);
    bar.finish();
    if (read.status === 'rejected') {
      const reason = read.reason instanceof Error ? read.reason : new Error(String(read.reason));
      if (reason instanceof CommandFailed && ['unreachable', 'wrong-password', 'locked'].includes(classifyFailure(reason.result.stderr))) throw reader.repo.explain(reason);
      if (/cannot reach|password does not open|locked by another/.test(reason.message)) throw reason;
      check.problems.push(`${record.volume}: cannot be read back from snapshot ${(record.snapshot ?? '').slice(0, 8)}: ${firstLine(reason.message)}`);
    } else {
      check.checked.push(record.format === 'tree' ? `snapshot ${(record.snapshot ?? '').slice(0, 8)} read back` : `snapshot ${(record.snapshot ?? '').slice(0, 8)} read back, sha256`);
    }
    if (decoded.status === 'rejected' && read.status === 'fulfilled') check.problems.push(`${record.file}: cannot be read to its end: ${firstLine(String(decoded.reason instanceof Error ? decoded.reason.message : decoded.reason))}`);
    await finishContentCheck(record, content, check, options.runner, scratch);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
  check.ok = check.problems.length === 0;
  return check;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
