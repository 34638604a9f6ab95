import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { backupComponents, restoreComponents, stowageTimeline } from './breakdown.js';
import { planDataset } from './dataset.js';
import { generateDataset } from './generate.js';
import { descendantsOf, must, run, runningChildren, syncDisks, timed } from './measure.js';
import {
  APP_COMMAND, APP_CONTAINER, RESTIC_PASSWORD, SOURCE_VOLUME, digestVolume, docsBackup, docsRestore, floorBackup, floorRestore, freshHostVolume, hostVolume, resticBackup, stowageBackup, stowageRestore, RESTORE_FROM_DEV,
  type BenchContext, type OpResult, type Path, type TreeDigest,
} from './methods.js';
import { ensureTestImages } from '../test/images/ensure.js';
import { PHASES, evaluate, render, repositoryReport, series, type BenchReport, type Phase, type RestoreCheck } from './report.js';
import { newRepositoryBench, repositoryBackups, repositoryRestore, type RepositoryBench } from './repository.js';
import { IMAGE, PROJECT, Resources } from './resources.js';
import { applyChanges, planChanges, ROLLBACK_SHARE } from './rollback.js';
import { measureStartup } from './startup.js';
import { emptyRemote, remotePhase, remotePhaseUnavailable } from './remote.js';
import { engineIsLocal } from '../src/engine/endpoint.js';

/**
 * npm run bench [-- --size-mib N] [--rounds N] [--json] [--breakdown]
 *
 * Builds a seeded data volume, then measures stowage's backup and restore
 * against the reference docs' helper-container tar and restic, and its backups
 * into a restic repository against restic's own, prints a table
 * with PASS/MISS per target and removes everything it created. A benchmark,
 * not a test: a missed target still exits 0; exit 1 means something failed to
 * run, 2 bad usage, 130 interrupted.
 */

const HELP = `stowage benchmark: backup and restore of a seeded volume on both of stowage's paths, against the floor
(the same work by stock tools on the host), the reference docs' method and restic; backups into a restic repository
against restic's own and restores from it; rollback restores; start-up

Usage: npm run bench -- [options]        (or: npx zx bench/backup.mjs [options])

Options:
  --size-mib N     size of the data set in MiB (default 1024; e.g. 128 for a quick run)
  --rounds N       rounds per method, rotating the order (default 2, at least 2)
  --seed N         data set seed (default 1)
  --only LIST      measure only these, comma-separated: ${PHASES.join(', ')} (default: all);
                   e.g. --only rollback (a set and fresh restores are made for it, the rest is skipped),
                   --only repository (with the docs' restores it is compared with)
  --breakdown      also time the archive path piece by piece and record timelines of stowage runs
  --no-ssh         leave out the backup from an engine reached over SSH (it needs root and openssh-server)
  --work-dir DIR   where temporary files go (default: the system temp directory)
  --json           print one JSON document on stdout; the table goes to stderr
  -h, --help       this help

Every time includes \`sync\`. Exit codes: 0 measured (also when a target is missed: see MISS),
1 something failed to run, 2 bad usage, 130/143 interrupted. Everything created is removed at the end.`;

interface Options {
  sizeMiB: number;
  rounds: number;
  seed: number;
  only: Phase[];
  breakdown: boolean;
  json: boolean;
  workDir: string;
  help: boolean;
}

class UsageError extends Error {}

function phases(value: string | undefined): Phase[] {
  if (value === undefined) return [...PHASES];
  const words = value.split(',').map((w) => w.trim()).filter((w) => w !== '');
  const unknown = words.filter((w) => !(PHASES as readonly string[]).includes(w));
  if (words.length === 0 || unknown.length > 0) throw new UsageError(`--only takes a comma-separated list of ${PHASES.join(', ')}, not "${value}"`);
  return PHASES.filter((p) => words.includes(p));
}

function integer(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!/^\d+$/.test(value) || Number(value) < min) throw new UsageError(`--${name} takes a whole number >= ${min}, not "${value}"`);
  return Number(value);
}

export function parseOptions(argv: string[]): Options {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        'size-mib': { type: 'string' },
        rounds: { type: 'string' },
        seed: { type: 'string' },
        only: { type: 'string' },
        breakdown: { type: 'boolean' },
        'no-ssh': { type: 'boolean' },
        json: { type: 'boolean' },
        'work-dir': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  const v = parsed.values;
  return {
    sizeMiB: integer(v['size-mib'], 'size-mib', 1024, 16),
    rounds: integer(v.rounds, 'rounds', 2, 2),
    seed: integer(v.seed, 'seed', 1, 0),
    only: phases(v.only).filter((p) => p !== 'ssh' || v['no-ssh'] !== true),
    breakdown: v.breakdown === true,
    json: v.json === true,
    workDir: resolve(v['work-dir'] ?? tmpdir()),
    help: v.help === true,
  };
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function version(program: string, args: string[]): string {
  const r = spawnSync(program, args, { encoding: 'utf8' });
  return r.status === 0 ? (r.stdout.trim().split('\n')[0] ?? '') : 'not installed';
}

function stackFile(envs: Array<[string, string]>): string {
  const lines = [
    '# Generated by bench/backup.mjs for one benchmark run; removed when it ends.',
    `app: ${PROJECT}`,
    'description: stowage benchmark (seeded data, one writer)',
    'helper:',
    `  image: ${JSON.stringify(IMAGE)}`,
    'volumes:',
    '  data:',
    '    description: seeded benchmark data',
    'services:',
    '  app:',
    `    image: ${JSON.stringify(IMAGE)}`,
    `    command: ${JSON.stringify(APP_COMMAND)}`,
    '    mounts:',
    '      - data:/data',
    'environments:',
    '  dev: {}',
    ...envs.flatMap(([env, dir]) => [`  ${env}:`, '    volumes:', `      data: { host: ${JSON.stringify(dir)} }`]),
  ];
  return `${lines.join('\n')}\n`;
}

async function exists(kind: 'volume' | 'container', name: string): Promise<Record<string, string> | undefined> {
  const r = await run('docker', [kind, 'inspect', '--format', kind === 'volume' ? '{{json .Labels}}' : '{{json .Config.Labels}}', name]);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout.trim() || 'null') as Record<string, string> | null) ?? {};
}

function rotate<T>(items: T[], by: number): T[] {
  const k = by % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

export function newReport(opts: Options): BenchReport {
  const report: BenchReport = {
    benchmark: 'stowage',
    format: 2,
    startedAt: new Date().toISOString(),
    finishedAt: '',
    options: { sizeMiB: opts.sizeMiB, rounds: opts.rounds, seed: opts.seed, breakdown: opts.breakdown, only: opts.only },
    machine: {
      cpus: cpus().length,
      memoryBytes: totalmem(),
      kernel: release(),
      docker: version('docker', ['version', '--format', '{{.Server.Version}}']),
      zstd: version('zstd', ['--version']),
      restic: version('restic', ['version']),
      gnuTime: spawnSync('/usr/bin/time', ['-v', 'true'], { stdio: 'ignore' }).status === 0,
      loadAverageStart: loadavg(),
      loadAverageEnd: [],
    },
    dataset: null,
    backup: { local: series([]), archive: series([]), floor: series([]), docs: series([]), restic: series([]) },
    restore: { local: series([]), archive: series([]), floor: series([]), docs: series([]), repository: series([]), sourceRemovalSeconds: null, checks: [] },
    rollback: { local: series([]), archive: series([]), changes: null, checks: [] },
    startup: null,
    repository: null,
    remote: emptyRemote(),
    sizes: { stowageArchiveBytes: null, archivePathArchiveBytes: null, floorArchiveBytes: null, docsArchiveBytes: null, resticRepositoryBytes: null, stowageVsDocs: null },
    memory: { backupStowageNodePeakBytes: null, restoreStowageNodePeakBytes: null, backupTreePeakBytes: null, backupGnuTimeMaxRssBytes: null },
    targets: [],
    floors: [],
    breakdown: null,
    notes: [],
    errors: [],
  };
  return report;
}

const PATHS: readonly Path[] = ['local', 'archive'];
/** Start-up runs per command: each is short, and the machine is shared. */
const STARTUP_REPS = 5;

function logRun(log: (line: string) => void, r: OpResult): void {
  log(`  ${r.timing.seconds.toFixed(2)} s${r.bytes === undefined ? '' : `, ${r.bytes} bytes`}${r.memory?.stowageNodePeakBytes === undefined ? '' : `, node peak RSS ${(r.memory.stowageNodePeakBytes / 1e6).toFixed(1)} MB`}`);
}

function compare(method: string, round: number, got: TreeDigest, want: TreeDigest): RestoreCheck {
  return { method, round, content: got.content === want.content && got.files === want.files, metadata: got.metadata === want.metadata, fileMetadata: got.fileMetadata === want.fileMetadata };
}

/** What a restore of `method` must give back. */
function wanted(method: string): string {
  return method === 'repository' ? 'the volume as the last backup into the repository saw it' : 'the source';
}

/** A fresh stowage restore kept for the rollback phase: its directory holds exactly the backup. */
interface Restored {
  path: Path;
  round: number;
  env: string;
  dir: string;
}

/** Runs every phase, filling `report` as it goes (so a failure keeps what was measured). */
export async function runBenchmark(opts: Options, resources: Resources, log: (line: string) => void, report: BenchReport): Promise<void> {
  const repo = fileURLToPath(new URL('..', import.meta.url));
  const only = new Set<Phase>(opts.only);
  if (report.machine.loadAverageStart[0] !== undefined && report.machine.loadAverageStart[0] > report.machine.cpus / 2) {
    report.notes.push(`the machine was busy when the run started (load average ${report.machine.loadAverageStart[0].toFixed(2)} on ${report.machine.cpus} CPUs): timings are noisy`);
  }
  const work = resources.dir(mkdtempSync(join(opts.workDir, `${PROJECT}-`)));

  // Start-up first: it needs no data, and nothing of the benchmark's own runs in the background.
  if (only.has('startup')) {
    log(`start-up: npx zx of an empty script and of scripts' --help, compiled and from source (${STARTUP_REPS} runs each)`);
    try {
      report.startup = await measureStartup(repo, work, STARTUP_REPS, log);
      if (!report.startup.compiledCurrent) report.errors.push('start-up: dist/ is stale, so every script ran src/ through tsx; run npm run build and measure again');
    } catch (err) {
      report.errors.push(`start-up: ${message(err)}`);
    }
  }
  if (only.has('backup') || only.has('repository') || only.has('restore') || only.has('rollback')) await enginePhases(opts, resources, log, report, { repo, work, only });
  if (only.has('ssh')) await sshPhase(opts, resources, log, report, { repo, work });
}

/**
 * The backup from an engine on "another host" reached over SSH only, beside
 * the docs' method run on that host (bench/remote.ts). Last: it starts a
 * second engine of its own, which would otherwise share the cores with the
 * other phases.
 */
async function sshPhase(opts: Options, resources: Resources, log: (line: string) => void, report: BenchReport, where: { repo: string; work: string }): Promise<void> {
  const unavailable = await remotePhaseUnavailable();
  if (unavailable !== undefined) {
    report.errors.push(`backup over SSH was not measured: ${unavailable}; pass --no-ssh to leave it out`);
    return;
  }
  await ensureTestImages(['busybox'], { log });
  const ctx: BenchContext = { repo: where.repo, work: where.work, stacksDir: join(where.work, 'stacks'), resources, log, mountpoint: undefined, gnuTime: report.machine.gnuTime };
  try {
    report.remote = await remotePhase(ctx, { bytes: opts.sizeMiB * 1024 * 1024, seed: opts.seed, rounds: opts.rounds }, (remote) => resources.remote(remote));
  } catch (err) {
    report.errors.push(`backup over SSH: ${message(err)}`);
  }
}

/** Every phase on this machine's engine, after the preflight: backups, repository, restores, rollbacks. */
async function enginePhases(opts: Options, resources: Resources, log: (line: string) => void, report: BenchReport, where: { repo: string; work: string; only: Set<Phase> }): Promise<void> {
  const { repo, work, only } = where;

  // Preflight: the engine, the image, no other benchmark on the engine, and nothing of ours left over from an interrupted run.
  if (report.machine.docker === 'not installed') throw new Error('docker does not answer: is the engine running? (docker version)');
  // The image is built once on a machine that never ran the tests (build.sh says what to do when it cannot).
  await ensureTestImages(['busybox'], { log });
  await resources.lock(log);
  if (report.machine.zstd === 'not installed') throw new Error('zstd is not installed; stowage needs it');
  for (const [kind, name] of [['container', APP_CONTAINER], ['volume', SOURCE_VOLUME]] as const) {
    const labels = await exists(kind, name);
    if (labels === undefined) continue;
    if (labels['stowage.project'] !== PROJECT) throw new Error(`${kind} ${name} exists and is not the benchmark's (no label stowage.project=${PROJECT}); remove or rename it first`);
    log(`removing ${kind} ${name} left over from an earlier run`);
    await must('docker', kind === 'container' ? ['rm', '--force', name] : ['volume', 'rm', '--force', name]);
  }

  const stacksDir = join(work, 'stacks');
  const restoreDir = join(work, 'restore');
  mkdirSync(stacksDir);
  mkdirSync(restoreDir);
  // One environment per fresh stowage restore, each bound to its own new directory.
  const restoreEnv = (path: Path, round: number): [string, string] => [`r${path === 'local' ? 'l' : 'a'}${round}`, join(restoreDir, `${path}-${round}`)];
  const stowageEnvs = PATHS.flatMap((path) => Array.from({ length: opts.rounds }, (_, i) => restoreEnv(path, i + 1)));
  // And one per restore from the repository.
  const repositoryEnv = (round: number): [string, string] => [`rr${round}`, join(restoreDir, `repository-${round}`)];
  const repositoryEnvs = Array.from({ length: opts.rounds }, (_, i) => repositoryEnv(i + 1));
  const timelineEnv: [string, string] = ['timeline', join(restoreDir, 'timeline')];
  writeFileSync(join(stacksDir, `${PROJECT}.yaml`), stackFile([...stowageEnvs, ...repositoryEnvs, timelineEnv]));

  // The data set, written once into the named volume.
  await must('docker', ['volume', 'create', '--label', `stowage.project=${PROJECT}`, '--label', 'stowage.env=dev', '--label', 'stowage.volume=data', resources.volume(SOURCE_VOLUME)]);
  const mountpoint = (await must('docker', ['volume', 'inspect', '--format', '{{.Mountpoint}}', SOURCE_VOLUME])).trim();
  let direct = false;
  try {
    accessSync(mountpoint, constants.W_OK | constants.R_OK);
    direct = engineIsLocal();
  } catch {
    direct = false;
  }
  const bytes = opts.sizeMiB * 1024 * 1024;
  log(`generating ${opts.sizeMiB} MiB of seeded data (seed ${opts.seed}) into volume ${SOURCE_VOLUME}${direct ? ` (${mountpoint})` : ' through a helper container'}`);
  const { value: summary, timing: genTiming } = await timed(async () => {
    if (direct) return generateDataset(mountpoint, { bytes, seed: opts.seed });
    const gen = join(work, 'generate');
    mkdirSync(gen);
    const s = await generateDataset(gen, { bytes, seed: opts.seed });
    await must('docker', ['run', '--rm', '--network', 'none', '--mount', `type=bind,source=${gen},target=/src,readonly`, '--mount', `type=volume,source=${SOURCE_VOLUME},target=/data`, IMAGE, 'cp', '-a', '/src/.', '/data/']);
    rmSync(gen, { recursive: true, force: true });
    return s;
  });
  if (!direct) {
    syncDisks();
    await sleep(3000);
    report.notes.push('the volume was filled through a helper container (its Mountpoint is not writable here), and the generated copy deleted before measuring');
    report.notes.push("the volume's directory is not reachable here: the local path and the floors were not measured");
  }
  log(`  ${summary.files} files, ${summary.bytes} bytes in ${genTiming.seconds.toFixed(1)} s (incl. sync)`);
  const digest: TreeDigest = await digestVolume(SOURCE_VOLUME); // also reads everything once: every method starts with a warm page cache
  report.dataset = { ...summary, generateAndSyncSeconds: genTiming.seconds, direct, digest };

  // The writer stowage stops for a consistent copy, started the way Compose would (name, labels, mount, command).
  await must('docker', [
    'run', '--detach', '--name', resources.container(APP_CONTAINER),
    '--label', `stowage.project=${PROJECT}`, '--label', 'stowage.env=dev', '--label', 'stowage.service=app',
    '--restart', 'unless-stopped',
    '--mount', `type=volume,source=${SOURCE_VOLUME},target=/data`,
    IMAGE, ...APP_COMMAND,
  ]);

  const ctx: BenchContext = { repo, work, stacksDir, resources, log, mountpoint: direct ? mountpoint : undefined, gnuTime: report.machine.gnuTime };
  const failed = new Set<string>();
  if (!direct) failed.add('local').add('floor');
  if (report.machine.restic === 'not installed') {
    if (only.has('backup')) report.errors.push('restic is not installed: its first backup was not measured');
    if (only.has('repository')) report.errors.push('restic is not installed: backups into a restic repository were not measured');
    failed.add('restic');
  }

  // Backups: every method every round, the order rotating so no method always runs first.
  // Without the backup phase, what the other phases restore from is made once, untimed: a stowage set for the
  // restores and the rollbacks, the docs' archive for the docs' restores (the baseline of the repository's restores too).
  const backupRuns: Record<string, OpResult[]> = { local: [], archive: [], floor: [], docs: [], restic: [] };
  const backupOps: Record<string, (round: number) => Promise<OpResult>> = {
    local: (round) => stowageBackup(ctx, round, 'local'),
    archive: (round) => stowageBackup(ctx, round, 'archive'),
    floor: (round) => floorBackup(ctx, round),
    docs: (round) => docsBackup(ctx, round),
    restic: (round) => resticBackup(ctx, round),
  };
  const needSet = only.has('restore') || only.has('rollback');
  const needDocs = only.has('restore') || only.has('repository');
  const backupMethods = only.has('backup') ? ['local', 'archive', 'floor', 'docs', 'restic'] : [...(needSet ? [direct ? 'local' : 'archive'] : []), ...(needDocs ? ['docs'] : [])];
  const backupRounds = only.has('backup') ? opts.rounds : 1;
  for (let round = 1; round <= backupRounds; round++) {
    for (const method of rotate(backupMethods, round - 1)) {
      if (failed.has(method)) continue;
      log(`backup round ${round}/${backupRounds}: ${method}${only.has('backup') ? '' : ' (to restore from; not part of the report)'}`);
      try {
        const r = await (backupOps[method] as (round: number) => Promise<OpResult>)(round);
        backupRuns[method]?.push(r);
        logRun(log, r);
        if (method === 'local' || method === 'archive') {
          const state = (await run('docker', ['container', 'inspect', '--format', '{{.State.Running}}', APP_CONTAINER])).stdout.trim();
          if (state !== 'true') report.errors.push(`after stowage's backup --via ${method} (round ${round}) the writer ${APP_CONTAINER} is not running: it was not started again`);
        }
      } catch (err) {
        report.errors.push(`backup with ${method}, round ${round}: ${message(err)}`);
        failed.add(method);
      }
    }
  }
  if (only.has('backup')) {
    report.backup = {
      local: series(backupRuns['local'] ?? []),
      archive: series(backupRuns['archive'] ?? []),
      floor: series(backupRuns['floor'] ?? []),
      docs: series(backupRuns['docs'] ?? []),
      restic: series(backupRuns['restic'] ?? []),
    };
  }
  const stowageSet = backupRuns['local']?.[0] ?? backupRuns['archive']?.[0];
  const docsArchive = backupRuns['docs']?.[0]?.path;

  const breakdown: NonNullable<BenchReport['breakdown']> = { backup: [], restore: [], timelines: [] };
  if (opts.breakdown) {
    log('breakdown of the backup data path');
    try {
      breakdown.backup = await backupComponents(ctx, SOURCE_VOLUME, 2);
      breakdown.timelines.push(await stowageTimeline(ctx, 'stowage backup timeline', 'backup.mjs', ['--stack', `${PROJECT}-dev`, '--stacks-dir', stacksDir, '--to', join(work, 'timeline-backups'), '--json']));
    } catch (err) {
      report.errors.push(`backup breakdown: ${message(err)}`);
    }
  }

  // Into a restic repository, against restic's own runs (bench/repository.ts). It changes 1% of the files six times,
  // so it comes after every other backup of the source; the restores of the other methods compare with the source as it was.
  let repository: RepositoryBench | undefined;
  let repositoryDigest: TreeDigest | undefined;
  if (only.has('repository') && !failed.has('restic')) {
    const passwordFile = join(work, 'restic-password');
    writeFileSync(passwordFile, `${RESTIC_PASSWORD}\n`, { mode: 0o600 });
    const bench = newRepositoryBench(ctx, passwordFile);
    try {
      await repositoryBackups(ctx, bench, { bytes, seed: opts.seed }, log);
      repositoryDigest = await digestVolume(SOURCE_VOLUME);
      repository = bench;
    } catch (err) {
      report.errors.push(`backup into a restic repository: ${message(err)}`);
    }
    report.repository = repositoryReport(bench);
  }

  if (!only.has('restore') && !only.has('rollback') && !only.has('repository')) {
    if (opts.breakdown) report.breakdown = breakdown;
    return;
  }

  // Restores: each into a fresh volume. stowage restores into the stack's volume name, so the source goes first (one large delete, then a pause);
  // every restore target is then a new host directory behind a volume of that name, and nothing is deleted until the end.
  await must('docker', ['rm', '--force', APP_CONTAINER]);
  const removal = await timed(() => must('docker', ['volume', 'rm', SOURCE_VOLUME]));
  report.restore.sourceRemovalSeconds = removal.timing.seconds;
  await sleep(3000);
  report.notes.push(
    `restores go into fresh volumes named ${SOURCE_VOLUME} (local driver, o=bind) backed by new directories on the same filesystem, so no large delete falls between measured runs; ` +
      `the source volume was deleted once before them (${removal.timing.seconds.toFixed(1)} s incl. sync, then 3 s pause)`,
  );
  const setDir = typeof stowageSet?.detail?.['set'] === 'string' ? stowageSet.detail['set'] : undefined;
  const artifact = stowageSet?.path;
  const restoreRuns: Record<string, OpResult[]> = { local: [], archive: [], floor: [], docs: [], repository: [] };
  const restored: Restored[] = [];
  // The rollback phase alone still needs fresh stowage restores: they are its baseline and leave the volumes it starts from.
  // The repository's restores are compared with the docs' restores of the same run.
  const restoreMethods = [
    ...(only.has('restore') ? ['local', 'archive', 'floor', 'docs'] : only.has('rollback') ? [...PATHS] : []),
    ...(only.has('repository') ? [...(only.has('restore') ? [] : ['docs']), 'repository'] : []),
  ];
  // What each method restores from, and what it must give back; a method whose source is missing has no entry.
  const restoreOps = new Map<string, { restore: (round: number) => Promise<OpResult>; want: TreeDigest }>();
  if (setDir !== undefined && artifact !== undefined) {
    for (const path of PATHS) {
      restoreOps.set(path, {
        restore: async (round) => {
          const [env, dir] = restoreEnv(path, round);
          await freshHostVolume(ctx, SOURCE_VOLUME, dir, env);
          const r = await stowageRestore(ctx, round, env, setDir, path);
          restored.push({ path, round, env, dir });
          return r;
        },
        want: digest,
      });
    }
    restoreOps.set('floor', {
      restore: async (round) => {
        const dir = join(restoreDir, `floor-${round}`);
        const r = await floorRestore(round, artifact, dir);
        await hostVolume(ctx, SOURCE_VOLUME, dir, 'floor');
        return r;
      },
      want: digest,
    });
  } else if (needSet) report.errors.push('restore: no stowage set to restore from (see the backup errors)');
  if (docsArchive !== undefined) {
    restoreOps.set('docs', {
      restore: async (round) => {
        await freshHostVolume(ctx, SOURCE_VOLUME, join(restoreDir, `docs-${round}`), 'docs');
        return docsRestore(ctx, round, SOURCE_VOLUME, docsArchive);
      },
      want: digest,
    });
  } else if (needDocs) report.errors.push("restore: the docs' archive to restore from is missing (see the backup errors)");
  // Without a repository the repository phase has said why.
  const bench = repository;
  if (bench !== undefined && repositoryDigest !== undefined) {
    restoreOps.set('repository', {
      restore: async (round) => {
        const [env, dir] = repositoryEnv(round);
        await freshHostVolume(ctx, SOURCE_VOLUME, dir, env);
        return repositoryRestore(ctx, bench, round, env);
      },
      // The repository's newest set holds the volume as its last backup saw it, after the phase's changes.
      want: repositoryDigest,
    });
  }
  for (let round = 1; round <= opts.rounds; round++) {
    for (const method of rotate(restoreMethods, round - 1)) {
      const op = restoreOps.get(method);
      if (op === undefined || failed.has(method) || failed.has(`${method}-restore`)) continue;
      log(`restore round ${round}/${opts.rounds}: ${method}`);
      try {
        const r = await op.restore(round);
        restoreRuns[method]?.push(r);
        logRun(log, r);
        const got = await digestVolume(SOURCE_VOLUME);
        const check = compare(method, round, got, op.want);
        report.restore.checks.push(check);
        if (!check.content) report.errors.push(`restore with ${method}, round ${round}: the restored tree differs from ${wanted(method)} (${got.files} files, ${got.bytes} bytes; it holds ${op.want.files} files, ${op.want.bytes} bytes)`);
        await must('docker', ['volume', 'rm', SOURCE_VOLUME]);
      } catch (err) {
        report.errors.push(`restore with ${method}, round ${round}: ${message(err)}`);
        failed.add(`${method}-restore`);
        await run('docker', ['volume', 'rm', '--force', SOURCE_VOLUME]);
      }
    }
  }
  report.restore = {
    ...report.restore,
    local: series(restoreRuns['local'] ?? []),
    archive: series(restoreRuns['archive'] ?? []),
    floor: series(restoreRuns['floor'] ?? []),
    docs: series(restoreRuns['docs'] ?? []),
    repository: series(restoreRuns['repository'] ?? []),
  };
  for (const method of restoreMethods) {
    const checks = report.restore.checks.filter((c) => c.method === method);
    if (checks.length === 0) continue;
    if (checks.every((c) => c.metadata)) report.notes.push(`${method} restores: content, owners, modes and times of every file and directory match ${wanted(method)}`);
    else if (checks.every((c) => c.fileMetadata)) report.notes.push(`${method} restores: content and file metadata match ${wanted(method)}; directory times differ`);
    else report.notes.push(`${method} restores: content matches ${wanted(method)}, but file owners, modes or times differ`);
  }

  if (opts.breakdown && docsArchive !== undefined && setDir !== undefined) {
    log('breakdown of the restore data path');
    try {
      breakdown.restore = await restoreComponents(ctx, setDir, 'data.tar.zst', docsArchive, 2);
      await freshHostVolume(ctx, SOURCE_VOLUME, timelineEnv[1], timelineEnv[0]);
      const args = ['--stack', `${PROJECT}-${timelineEnv[0]}`, '--stacks-dir', stacksDir, '--backup', setDir, ...RESTORE_FROM_DEV, '--yes', '--json'];
      breakdown.timelines.push(await stowageTimeline(ctx, 'stowage restore timeline, fresh volume', 'restore.mjs', args));
      breakdown.timelines.push(await stowageTimeline(ctx, 'stowage restore timeline, over the same content (old tree moved aside and deleted)', 'restore.mjs', args));
      await must('docker', ['volume', 'rm', SOURCE_VOLUME]);
    } catch (err) {
      report.errors.push(`restore breakdown: ${message(err)}`);
    }
  }
  if (opts.breakdown) report.breakdown = breakdown;

  if (only.has('rollback') && setDir !== undefined) await rollbacks(ctx, opts, report, restored, setDir, digest);
}

/**
 * Rollback restores: each volume a fresh stowage restore left (exactly the
 * backup) gets 1% of its files changed, deleted or added, then the same set
 * is restored into it on the same path. Last, since these restores delete
 * old content, which slows this disk down for a while.
 */
async function rollbacks(ctx: BenchContext, opts: Options, report: BenchReport, restored: Restored[], setDir: string, digest: TreeDigest): Promise<void> {
  const plan = planDataset({ bytes: opts.sizeMiB * 1024 * 1024, seed: opts.seed });
  const changes = planChanges(plan);
  const runs: Record<Path, OpResult[]> = { local: [], archive: [] };
  for (let round = 1; round <= opts.rounds; round++) {
    for (const path of rotate([...PATHS], round - 1)) {
      const target = restored.find((t) => t.path === path && t.round === round);
      if (target === undefined) continue;
      const fresh = report.restore.checks.find((c) => c.method === path && c.round === round);
      if (fresh?.content !== true) {
        report.errors.push(`rollback --via ${path}, round ${round}: skipped, the fresh restore it would start from did not hold the source's content`);
        continue;
      }
      ctx.log(`rollback round ${round}/${opts.rounds}: ${path} (${changes.changed.length} changed, ${changes.deleted.length} deleted, ${changes.added.length} added)`);
      try {
        report.rollback.changes = applyChanges(target.dir, plan, changes, opts.seed);
        await hostVolume(ctx, SOURCE_VOLUME, target.dir, target.env);
        const r = await stowageRestore(ctx, round, target.env, setDir, path);
        runs[path].push(r);
        logRun(ctx.log, r);
        const got = await digestVolume(SOURCE_VOLUME);
        const check = compare(path, round, got, digest);
        report.rollback.checks.push(check);
        if (!check.content || !check.metadata) {
          report.errors.push(`rollback --via ${path}, round ${round}: the volume differs from the backup afterwards (${check.content ? 'content matches, metadata differs' : `${got.files} files, ${got.bytes} bytes; backup ${digest.files} files, ${digest.bytes} bytes`})`);
        }
        await must('docker', ['volume', 'rm', SOURCE_VOLUME]);
      } catch (err) {
        report.errors.push(`rollback --via ${path}, round ${round}: ${message(err)}`);
        await run('docker', ['volume', 'rm', '--force', SOURCE_VOLUME]);
      }
    }
  }
  report.rollback.local = series(runs.local);
  report.rollback.archive = series(runs.archive);
  report.notes.push(
    `rollbacks: ${Math.round(ROLLBACK_SHARE * 100)}% of the files of a volume a fresh restore had filled were changed, deleted or added next to (evenly spread, small and large files), ` +
      'then the same set was restored into it on the same path; compared with that path\'s fresh restores of the same run',
  );
}

export async function main(argv: string[]): Promise<number> {
  let opts: Options;
  try {
    opts = parseOptions(argv);
  } catch (err) {
    process.stderr.write(`error: ${message(err)}\nRun npm run bench -- --help for the options.\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const log = (line: string): void => {
    process.stderr.write(`${line}\n`);
  };
  const resources = new Resources();
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    const code = signal === 'SIGINT' ? 130 : 143;
    if (stopping) {
      resources.cleanup(log);
      process.exit(code);
    }
    stopping = true;
    log(`\n${signal}: stopping the running step and removing everything the benchmark created`);
    const roots = [...runningChildren].map((c) => c.pid).filter((p): p is number => p !== undefined);
    for (const child of runningChildren) if (child.exitCode === null) child.kill(signal);
    // A running stowage script gets a moment to start its writer again and remove its helper. Then everything
    // below our children goes, including processes in their own process groups (stowage isolates docker cp and zstd),
    // which a terminal's Ctrl-C does not reach and which can hold a helper busy.
    const graceUntil = Date.now() + 3000;
    const finish = (): void => {
      for (const root of roots) {
        for (const pid of [...descendantsOf(root), root]) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // gone already
          }
        }
      }
      resources.cleanup(log);
      process.exit(code);
    };
    const wait = (): void => {
      if ([...runningChildren].some((c) => c.exitCode === null && c.signalCode === null) && Date.now() < graceUntil) setTimeout(wait, 100);
      else finish();
    };
    wait();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const report = newReport(opts);
  try {
    await runBenchmark(opts, resources, log, report);
  } catch (err) {
    report.errors.push(message(err));
  } finally {
    if (!stopping) {
      log('cleaning up');
      const left = resources.cleanup(log);
      report.errors.push(...left.map((l) => `cleanup: ${l}`));
    }
  }
  if (stopping) return 130;
  report.machine.loadAverageEnd = loadavg();
  report.finishedAt = new Date().toISOString();
  evaluate(report);
  const text = render(report);
  if (opts.json) {
    process.stderr.write(`${text}\n`);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } else process.stdout.write(`${text}\n`);
  return report.errors.length > 0 ? 1 : 0;
}
