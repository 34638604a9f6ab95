import { randomFillSync } from 'node:crypto';
import { closeSync, openSync, readdirSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Rng } from './dataset.js';
import { must, timed, type Timing } from './measure.js';
import { checkVia, directoryBytes, RESTIC_PASSWORD, RESTORE_FROM_DEV, stowageScript, type BenchContext, type OpResult } from './methods.js';
import { PROJECT } from './resources.js';

/**
 * Backups into a restic repository (docs/restic.md), measured in the same run
 * against restic's own runs of the same directory:
 * - the first backup into a new local repository, stowage's backup.mjs against
 *   `restic backup` (the repositories are created untimed);
 * - the second backup with nothing changed, the same way;
 * - seven backups with 1% of the files rewritten between each: how much the
 *   repository grows over its size after the first;
 * - restores from the repository into a fresh volume run with the others in
 *   main.ts (method `repository`), against the docs' tar xzf.
 * stowage reads the volume on the local path here, as restic reads it: both
 * snapshot the same directory, so their second backups can skip what did not change.
 */

/** The path stowage's repository backups and restores take: the one restic's own runs are comparable with. */
const VIA = 'local';
/** Backups after the first with 1% of the files rewritten before each: seven in all. */
export const GROWTH_BACKUPS = 6;

export interface RepositoryBench {
  first: { stowage: OpResult | null; resticSeconds: number | null };
  second: { stowage: OpResult | null; resticSeconds: number | null };
  /** The backups after 1% of the files were rewritten each time. */
  growthRuns: OpResult[];
  growth: { afterFirstBytes: number; afterSeventhBytes: number; ratio: number; filesChangedPerRound: number; bytesChangedPerRound: number[] } | null;
  /** The repository stowage's restores read from (`--to`), and its password file. */
  repository: string;
  passwordFile: string;
}

function repositoryEnv(bench: Pick<RepositoryBench, 'passwordFile'>, ctx: BenchContext): Record<string, string> {
  return { RESTIC_PASSWORD_FILE: bench.passwordFile, RESTIC_CACHE_DIR: join(ctx.work, 'restic-cache') };
}

async function resticTimed(ctx: BenchContext, repo: string, args: string[]): Promise<Timing> {
  const env = { ...process.env, RESTIC_PASSWORD, RESTIC_CACHE_DIR: join(ctx.work, 'restic-cache') };
  return (await timed(() => must('restic', ['--repo', repo, ...args], { env }))).timing;
}

function files(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(p);
    }
  };
  walk(root);
  return out.sort();
}

/** Which of `total` files one growth round rewrites: 1% of them (at least one), distinct, the same for the same seed's generator. */
export function chooseRewrites(total: number, rng: Rng): number[] {
  if (total <= 0) throw new Error('the volume holds no files to rewrite: the data set was not generated');
  const count = Math.max(1, Math.round(total / 100));
  const chosen = new Set<number>();
  while (chosen.size < count) chosen.add(rng.int(total));
  return [...chosen].sort((a, b) => a - b);
}

/** Rewrites 1% of the files (a seeded choice) with new random bytes of the same size: the worst case for deduplication. */
function changeOnePercent(mountpoint: string, rng: Rng): { files: number; bytes: number } {
  const all = files(mountpoint);
  const chosen = chooseRewrites(all.length, rng);
  let bytes = 0;
  for (const index of chosen) {
    const path = all[index] as string;
    const size = statSync(path).size;
    const fd = openSync(path, 'r+');
    try {
      const block = Buffer.alloc(Math.min(size, 1 << 20));
      for (let at = 0; at < size; at += block.length) {
        randomFillSync(block);
        writeSync(fd, block, 0, Math.min(block.length, size - at), at);
      }
    } finally {
      closeSync(fd);
    }
    bytes += size;
  }
  return { files: chosen.length, bytes };
}

/** Where the repository phase's repository goes, before anything is measured. */
export function newRepositoryBench(ctx: BenchContext, passwordFile: string): RepositoryBench {
  return { first: { stowage: null, resticSeconds: null }, second: { stowage: null, resticSeconds: null }, growthRuns: [], growth: null, repository: `restic:${join(ctx.work, 'restic-stowage')}`, passwordFile };
}

/**
 * The repository phase's backups, filling `bench` as they go (a failure keeps
 * what was measured). It rewrites files of the source volume, so it runs after
 * every other backup of it.
 */
export async function repositoryBackups(ctx: BenchContext, bench: RepositoryBench, seed: number, log: (line: string) => void): Promise<void> {
  if (ctx.mountpoint === undefined) throw new Error('the repository benchmark reads the volume on the host: its Mountpoint must be readable here (local engine, run as root)');
  const own = join(ctx.work, 'restic-own');
  const ours = bench.repository.replace(/^restic:/, '');
  const env = { ...process.env, RESTIC_PASSWORD, RESTIC_CACHE_DIR: join(ctx.work, 'restic-cache') };
  await must('restic', ['init', '--repo', own, '--quiet'], { env });
  await must('restic', ['init', '--repo', ours, '--quiet'], { env });
  const args = ['--stack', `${PROJECT}-dev`, '--stacks-dir', ctx.stacksDir, '--to', bench.repository, '--via', VIA, '--json'];
  const stowage = async (round: number): Promise<OpResult> => {
    const { stdout, memory, timing } = await stowageScript(ctx, 'backup.mjs', args, repositoryEnv(bench, ctx));
    const doc = JSON.parse(stdout) as { id: string; artifacts: Array<{ added?: number; unchanged?: number }>; via?: Array<{ volume: string; via: string; reason: string }> };
    checkVia('backup.mjs --to restic:...', VIA, doc);
    return { method: 'repository', round, timing, memory, bytes: directoryBytes(ours), path: bench.repository, detail: { set: doc.id, added: doc.artifacts[0]?.added, unchanged: doc.artifacts[0]?.unchanged } };
  };
  // The host name restic records is the project, as stowage's is: both find their parent the same way.
  const resticArgs = ['backup', '--quiet', '--host', PROJECT, ctx.mountpoint];

  log('repository: restic, first backup');
  bench.first.resticSeconds = (await resticTimed(ctx, own, resticArgs)).seconds;
  log(`  ${bench.first.resticSeconds.toFixed(2)} s`);
  log(`repository: stowage backup.mjs --to restic:... --via ${VIA}, first backup`);
  bench.first.stowage = await stowage(1);
  log(`  ${bench.first.stowage.timing.seconds.toFixed(2)} s`);
  const afterFirst = directoryBytes(ours);

  log('repository: stowage, second backup, nothing changed');
  bench.second.stowage = await stowage(2);
  log(`  ${bench.second.stowage.timing.seconds.toFixed(2)} s, ${String(bench.second.stowage.detail?.['added'] ?? '?')} bytes added`);
  log('repository: restic, second backup, nothing changed');
  bench.second.resticSeconds = (await resticTimed(ctx, own, resticArgs)).seconds;
  log(`  ${bench.second.resticSeconds.toFixed(2)} s`);

  // Seven backups in all (the first two above count as one: nothing changed in between).
  const rng = new Rng(seed + 7);
  const changed: number[] = [];
  let filesChanged = 0;
  for (let k = 1; k <= GROWTH_BACKUPS; k++) {
    const change = changeOnePercent(ctx.mountpoint, rng);
    filesChanged = change.files;
    changed.push(change.bytes);
    log(`repository: ${change.files} files (${(change.bytes / 1e6).toFixed(1)} MB) rewritten, backup ${k + 1} of ${GROWTH_BACKUPS + 1}`);
    const r = await stowage(k + 2);
    bench.growthRuns.push(r);
    log(`  ${r.timing.seconds.toFixed(2)} s, ${String(r.detail?.['added'] ?? '?')} bytes added`);
  }
  const afterSeventh = directoryBytes(ours);
  bench.growth = { afterFirstBytes: afterFirst, afterSeventhBytes: afterSeventh, ratio: afterSeventh / afterFirst, filesChangedPerRound: filesChanged, bytesChangedPerRound: changed };
  log(`  repository ${(afterFirst / 1e6).toFixed(1)} MB after the first backup, ${(afterSeventh / 1e6).toFixed(1)} MB after the seventh (${bench.growth.ratio.toFixed(3)}x)`);
}

/** A restore from the repository's newest set into the fresh volume of environment `env`. */
export async function repositoryRestore(ctx: BenchContext, bench: RepositoryBench, round: number, env: string): Promise<OpResult> {
  const { stdout, memory, timing } = await stowageScript(
    ctx,
    'restore.mjs',
    ['--stack', `${PROJECT}-${env}`, '--stacks-dir', ctx.stacksDir, '--to', bench.repository, '--backup', 'latest', ...RESTORE_FROM_DEV, '--via', VIA, '--yes', '--json'],
    repositoryEnv(bench, ctx),
  );
  const doc = JSON.parse(stdout) as { via?: Array<{ volume: string; via: string; reason: string }> };
  checkVia('restore.mjs --to restic:...', VIA, doc);
  return { method: 'repository', round, timing, memory, detail: { via: doc.via } };
}
