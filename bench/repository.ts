import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { planDataset, Population, Rng, type DatasetSpec } from './dataset.js';
import { applyGrowthRound, planGrowthRound } from './growth.js';
import { must, timed, type Timing } from './measure.js';
import { checkVia, directoryBytes, RESTIC_PASSWORD, RESTORE_FROM_DEV, stowageScript, type BenchContext, type OpResult } from './methods.js';
import { PROJECT } from './resources.js';

/**
 * Backups into a restic repository (docs/restic.md), measured in the same run
 * against restic's own runs of the same directory:
 * - the first backup into a new local repository, stowage's backup.mjs against
 *   `restic backup` (the repositories are created untimed);
 * - the second backup with nothing changed, the same way;
 * - seven backups with 1% of the files changed between each, each as files of
 *   its kind change (bench/growth.ts): how much the repository grows over its
 *   size after the first, beside restic's own repository backed up after the
 *   same changes;
 * - restores from the repository into a fresh volume run with the others in
 *   main.ts (method `repository`), against the docs' tar xzf.
 * stowage reads the volume on the local path here, as restic reads it: both
 * snapshot the same directory, so their second backups can skip what did not change.
 */

/** The path stowage's repository backups and restores take: the one restic's own runs are comparable with. */
const VIA = 'local';
/** Backups after the first with 1% of the files changed before each: seven in all. */
export const GROWTH_BACKUPS = 6;

/** How the repository grew over seven backups with 1% of the files changed between each. */
export interface RepositoryGrowth {
  afterFirstBytes: number;
  afterSeventhBytes: number;
  ratio: number;
  /** restic's own repository, backed up from the same directory after the same changes: the reference. */
  restic: { afterFirstBytes: number; afterSeventhBytes: number; ratio: number };
  filesChangedPerRound: number;
  bytesChangedPerRound: number[];
  /** Per round: small files replaced whole, large logs appended to, large blobs with a region rewritten. */
  changesPerRound: Array<{ replaced: number; appended: number; regions: number }>;
}

export interface RepositoryBench {
  first: { stowage: OpResult | null; resticSeconds: number | null };
  second: { stowage: OpResult | null; resticSeconds: number | null };
  /** The backups after 1% of the files were changed each time. */
  growthRuns: OpResult[];
  growth: RepositoryGrowth | null;
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

/** The regular files under root, as paths relative to it, sorted: the list a round's seeded choice indexes. */
function files(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out.push(relative(root, p));
    }
  };
  walk(root);
  return out.sort();
}

/** Where the repository phase's repository goes, before anything is measured. */
export function newRepositoryBench(ctx: BenchContext, passwordFile: string): RepositoryBench {
  return { first: { stowage: null, resticSeconds: null }, second: { stowage: null, resticSeconds: null }, growthRuns: [], growth: null, repository: `restic:${join(ctx.work, 'restic-stowage')}`, passwordFile };
}

/**
 * The repository phase's backups, filling `bench` as they go (a failure keeps
 * what was measured). It changes files of the source volume (`dataset`, as
 * generated), so it runs after every other backup of it.
 */
export async function repositoryBackups(ctx: BenchContext, bench: RepositoryBench, dataset: DatasetSpec, log: (line: string) => void): Promise<void> {
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
  const resticAfterFirst = directoryBytes(own);
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

  // Seven backups in all (the first two above count as one: nothing changed in between). After each
  // round of changes restic backs up the same directory into its own repository: how much a repository
  // grows under these changes when restic alone writes it, the reference for stowage's.
  const plan = planDataset(dataset);
  const people = new Population(dataset.seed);
  const rng = new Rng(dataset.seed + 7);
  const changed: number[] = [];
  const kinds: RepositoryGrowth['changesPerRound'] = [];
  let filesChanged = 0;
  for (let k = 1; k <= GROWTH_BACKUPS; k++) {
    const change = applyGrowthRound(ctx.mountpoint, planGrowthRound(files(ctx.mountpoint), plan, rng), people, k);
    filesChanged = change.files;
    changed.push(change.bytes);
    kinds.push({ replaced: change.replaced, appended: change.appended, regions: change.regions });
    log(
      `repository: ${change.files} files changed (${change.replaced} replaced, ${change.appended} logs appended to, ${change.regions} blob regions rewritten; ` +
        `${(change.bytes / 1e6).toFixed(1)} MB written), backup ${k + 1} of ${GROWTH_BACKUPS + 1}`,
    );
    const r = await stowage(k + 2);
    bench.growthRuns.push(r);
    log(`  ${r.timing.seconds.toFixed(2)} s, ${String(r.detail?.['added'] ?? '?')} bytes added`);
    const before = directoryBytes(own);
    const seconds = (await resticTimed(ctx, own, resticArgs)).seconds;
    log(`  restic's own: ${seconds.toFixed(2)} s, ${directoryBytes(own) - before} bytes added`);
  }
  const afterSeventh = directoryBytes(ours);
  const resticAfterSeventh = directoryBytes(own);
  bench.growth = {
    afterFirstBytes: afterFirst,
    afterSeventhBytes: afterSeventh,
    ratio: afterSeventh / afterFirst,
    restic: { afterFirstBytes: resticAfterFirst, afterSeventhBytes: resticAfterSeventh, ratio: resticAfterSeventh / resticAfterFirst },
    filesChangedPerRound: filesChanged,
    bytesChangedPerRound: changed,
    changesPerRound: kinds,
  };
  log(`  repository ${(afterFirst / 1e6).toFixed(1)} MB after the first backup, ${(afterSeventh / 1e6).toFixed(1)} MB after the seventh (${bench.growth.ratio.toFixed(3)}x)`);
  log(`  restic's own ${(resticAfterFirst / 1e6).toFixed(1)} MB after the first backup, ${(resticAfterSeventh / 1e6).toFixed(1)} MB after the seventh (${bench.growth.restic.ratio.toFixed(3)}x)`);
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
