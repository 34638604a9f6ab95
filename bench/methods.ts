import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_ZSTD_LEVEL } from '../src/config/model.js';
import { must, run, stowageProcess, TreeSampler, timed, type ProcessPeak, type Timing, type TreePeaks } from './measure.js';
import { IMAGE, PROJECT, type Resources } from './resources.js';

/**
 * The methods the benchmark compares: stowage's own scripts on each path, the
 * floor (the same work by stock tools on the host, no node), the reference
 * docs' helper-container tar, and restic's first backup. Each function runs
 * one timed operation (ending with sync) and returns what it measured.
 */

export const SOURCE_VOLUME = `${PROJECT}_data`;
export const APP_CONTAINER = `${PROJECT}-app`;
/** The bench service's command: exits at once on TERM, so `docker stop` does not wait 10 s. */
export const APP_COMMAND = ['sh', '-c', "trap 'exit 0' TERM; while true; do sleep 1 & wait; done"];

export interface BenchContext {
  /** Repository root (where scripts/ lives). */
  repo: string;
  work: string;
  stacksDir: string;
  resources: Resources;
  log: (line: string) => void;
  /** The source volume's directory on this host, when readable (local engine). */
  mountpoint: string | undefined;
  gnuTime: boolean;
}

export interface MemoryReport {
  /** VmHWM of the node process that runs the script (not npx). */
  stowageNodePeakBytes: number | undefined;
  stowageNodeCpuSeconds: number | undefined;
  /** Largest sum of resident sets over the whole tree (npx, node, zstd, docker CLI) in one sample. */
  treePeakBytes: number;
  /** GNU time's maximum resident set size: the largest single process of the tree. */
  gnuTimeMaxRssBytes: number | undefined;
  processes: ProcessPeak[];
}

export interface OpResult {
  method: string;
  round: number;
  timing: Timing;
  memory?: MemoryReport;
  /** Archive or repository size after a backup. */
  bytes?: number;
  /** Where the backup went (set directory, archive, repository). */
  path?: string;
  detail?: Record<string, unknown>;
}

/** Runs one stowage script under the /proc sampler (and GNU time when installed), with more environment variables when given. */
export async function stowageScript(ctx: BenchContext, script: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ stdout: string; memory: MemoryReport; timing: Timing }> {
  let sampler: TreeSampler | undefined;
  const argv = ['npx', 'zx', `scripts/${script}`, ...args];
  const program = ctx.gnuTime ? '/usr/bin/time' : (argv[0] as string);
  const programArgs = ctx.gnuTime ? ['-v', ...argv] : argv.slice(1);
  const { value: r, timing } = await timed(() =>
    run(program, programArgs, {
      cwd: ctx.repo,
      ...(env === undefined ? {} : { env: { ...process.env, ...env } }),
      onSpawn: (pid) => {
        sampler = new TreeSampler(pid);
        sampler.start(50);
      },
    }),
  );
  const peaks: TreePeaks = sampler?.stop() ?? { processes: [], peakTreeRssBytes: 0, samples: 0 };
  if (r.code !== 0) {
    // GNU time's report comes last on stderr: the script's own message is what precedes it.
    const own = ctx.gnuTime ? r.stderr.replace(/\n?(Command exited with non-zero status \d+\n)?\tCommand being timed:[\s\S]*$/, '') : r.stderr;
    throw new Error(`npx zx scripts/${script} ${args.join(' ')} failed (exit ${r.code}):\n  ${(own.trim() || r.stdout.trim()).split('\n').slice(-8).join('\n  ')}`);
  }
  const gnu = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  const node = stowageProcess(peaks, `scripts/${script}`);
  return {
    stdout: r.stdout,
    timing,
    memory: {
      stowageNodePeakBytes: node?.peakRssBytes,
      stowageNodeCpuSeconds: node?.cpuSeconds,
      treePeakBytes: peaks.peakTreeRssBytes,
      gnuTimeMaxRssBytes: gnu === null ? undefined : Number(gnu[1]) * 1024,
      processes: peaks.processes.slice(0, 8),
    },
  };
}

export function stowageBackupRoot(ctx: BenchContext): string {
  return join(ctx.work, 'stowage-backups');
}

/** How stowage moves volume content: `--via local` (the volume's directory on this machine) or `--via archive` (the engine's archive endpoint). */
export type Path = 'local' | 'archive';

/** The path each volume took, from a script's --json `via`; a run that did not take the path it was asked for is an error, not a measurement. */
export function checkVia(script: string, via: Path, doc: { via?: Array<{ volume: string; via: string; reason: string }> }): void {
  const wrong = (doc.via ?? []).filter((v) => v.via !== via);
  if (wrong.length > 0) throw new Error(`${script} --via ${via} took the ${wrong[0]?.via ?? '?'} path for volume ${wrong[0]?.volume ?? '?'}: ${wrong[0]?.reason ?? ''}`);
}

export async function stowageBackup(ctx: BenchContext, round: number, via: Path): Promise<OpResult> {
  const to = stowageBackupRoot(ctx);
  const { stdout, memory, timing } = await stowageScript(ctx, 'backup.mjs', ['--stack', `${PROJECT}-dev`, '--stacks-dir', ctx.stacksDir, '--to', to, '--via', via, '--json']);
  const doc = JSON.parse(stdout) as { path: string; artifacts: Array<{ file: string; bytes: number }>; stopped?: string[]; durationSeconds?: number; via?: Array<{ volume: string; via: string; reason: string }> };
  checkVia('backup.mjs', via, doc);
  const artifact = doc.artifacts[0];
  if (artifact === undefined) throw new Error(`stowage backup wrote no artifact: ${stdout}`);
  return {
    method: via,
    round,
    timing,
    memory,
    bytes: artifact.bytes,
    path: join(doc.path, artifact.file),
    detail: { set: doc.path, stopped: doc.stopped ?? [], reportedSeconds: doc.durationSeconds, via: doc.via },
  };
}

/** The sets come from environment dev; each restore goes into an environment of its own (its own fresh directory). */
export const RESTORE_FROM_DEV = ['--from-env', 'dev'];

export async function stowageRestore(ctx: BenchContext, round: number, env: string, set: string, via: Path): Promise<OpResult> {
  const { stdout, memory, timing } = await stowageScript(ctx, 'restore.mjs', ['--stack', `${PROJECT}-${env}`, '--stacks-dir', ctx.stacksDir, '--backup', set, ...RESTORE_FROM_DEV, '--via', via, '--yes', '--json']);
  const doc = JSON.parse(stdout) as { via?: Array<{ volume: string; via: string; reason: string }>; restored?: Array<{ unchangedFilesKept?: number }> };
  checkVia('restore.mjs', via, doc);
  // Restores that keep unchanged files (a rollback on the local path) say how many.
  const kept = (doc.restored ?? []).map((r) => r.unchangedFilesKept).filter((n): n is number => typeof n === 'number');
  return { method: via, round, timing, memory, detail: { via: doc.via, ...(kept.length > 0 ? { unchangedFilesKept: kept.reduce((a, b) => a + b, 0) } : {}) } };
}

/**
 * The floor of a backup on this machine: the volume's directory read by tar
 * on the host into zstd, to a file, then sync; no node, no engine, no checks.
 */
export async function floorBackup(ctx: BenchContext, round: number): Promise<OpResult> {
  if (ctx.mountpoint === undefined) throw new Error("the floor reads the volume on the host: its Mountpoint must be readable here (local engine, run as root)");
  const dir = join(ctx.work, `floor-${round}`);
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'x.tar.zst');
  const { timing } = await timed(() => must('bash', ['-c', `set -o pipefail; tar -cf - . | zstd -${DEFAULT_ZSTD_LEVEL} -T0 -q > "$0"`, path], { cwd: ctx.mountpoint }));
  return { method: 'floor', round, timing, bytes: statSync(path).size, path };
}

/** The floor of a restore into a fresh directory: zstd -dc | tar -x on the host, then sync. */
export async function floorRestore(round: number, artifact: string, dir: string): Promise<OpResult> {
  mkdirSync(dir, { recursive: false, mode: 0o750 });
  const { timing } = await timed(() => must('bash', ['-c', 'set -o pipefail; zstd -dc -q "$0" | tar -xf - -C "$1"', artifact, dir]));
  return { method: 'floor', round, timing };
}

/** The reference docs' backup: tar czf in a helper container, into a bind-mounted directory. */
export async function docsBackup(ctx: BenchContext, round: number): Promise<OpResult> {
  const dir = join(ctx.work, `docs-${round}`);
  mkdirSync(dir, { recursive: true });
  const { timing } = await timed(() => must('docker', ['run', '--rm', '-v', `${SOURCE_VOLUME}:/data`, '-v', `${dir}:/backup`, IMAGE, 'tar', 'czf', '/backup/x.tar.gz', '-C', '/data', '.']));
  const path = join(dir, 'x.tar.gz');
  return { method: 'docs', round, timing, bytes: statSync(path).size, path };
}

/** The reference docs' restore: tar xzf in a helper container, after clearing the volume. */
export async function docsRestore(ctx: BenchContext, round: number, volume: string, archive: string): Promise<OpResult> {
  const dir = join(archive, '..');
  const { timing } = await timed(() =>
    must('docker', ['run', '--rm', '-v', `${volume}:/data`, '-v', `${dir}:/backup`, IMAGE, 'sh', '-c', 'rm -rf /data/* /data/.[!.]* ; tar xzf /backup/x.tar.gz -C /data']),
  );
  return { method: 'docs', round, timing };
}

export const RESTIC_PASSWORD = 'stowagebench-not-a-secret';

/** restic's first backup of the volume's directory on the host, into a new repository (init not timed). */
export async function resticBackup(ctx: BenchContext, round: number): Promise<OpResult> {
  if (ctx.mountpoint === undefined) throw new Error('restic reads the volume on the host: its Mountpoint must be readable here (local engine, run as root)');
  const repo = join(ctx.work, `restic-${round}`);
  const cache = join(ctx.work, `restic-cache-${round}`);
  const env = { ...process.env, RESTIC_PASSWORD };
  await must('restic', ['init', '--repo', repo, '--cache-dir', cache, '--quiet'], { env });
  const { timing } = await timed(() => must('restic', ['backup', '--repo', repo, '--cache-dir', cache, '--quiet', '--host', PROJECT, ctx.mountpoint as string], { env }));
  return { method: 'restic', round, timing, bytes: directoryBytes(repo), path: repo };
}

export function directoryBytes(dir: string): number {
  let total = 0;
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) total += statSync(p).size;
    }
  };
  if (existsSync(dir)) walk(dir);
  return total;
}

/** Names, bytes and metadata of a volume's tree, to check that a restore put back what was backed up. */
export interface TreeDigest {
  files: number;
  entries: number;
  bytes: number;
  content: string;
  /** Names, types, modes, owners and mtimes of every entry. */
  metadata: string;
  /** The same without directories (busybox tar does not restore directory times). */
  fileMetadata: string;
}

// busybox xargs mangles long inputs here: find -exec ... {} + instead.
const DIGEST_SCRIPT = `set -e
cd /data
find . -type f -exec md5sum {} + | LC_ALL=C sort -k2 > /tmp/sums
find . -mindepth 1 -exec stat -c '%n|%F|%a|%u:%g|%Y' {} + | LC_ALL=C sort > /tmp/meta
echo "files $(wc -l < /tmp/sums)"
echo "entries $(wc -l < /tmp/meta)"
echo "bytes $(find . -type f -exec stat -c %s {} + | awk '{s+=$1} END {printf "%d", s}')"
echo "content $(md5sum < /tmp/sums | cut -d' ' -f1)"
echo "metadata $(md5sum < /tmp/meta | cut -d' ' -f1)"
echo "filemetadata $(grep -v '|directory|' /tmp/meta | md5sum | cut -d' ' -f1)"
`;

export async function digestVolume(volume: string): Promise<TreeDigest> {
  const out = await must('docker', ['run', '--rm', '--network', 'none', '--label', `stowage.project=${PROJECT}`, '--mount', `type=volume,source=${volume},target=/data,readonly`, IMAGE, 'sh', '-c', DIGEST_SCRIPT]);
  const get = (key: string): string => {
    const m = new RegExp(`^${key} (\\S+)$`, 'm').exec(out);
    if (m === null) throw new Error(`digest of ${volume}: no ${key} in ${out}`);
    return m[1] as string;
  };
  return { files: Number(get('files')), entries: Number(get('entries')), bytes: Number(get('bytes')), content: get('content'), metadata: get('metadata'), fileMetadata: get('filemetadata') };
}

/** A fresh, empty volume named `name` whose data lives in `dir` (which must not exist yet): no large delete is needed to get the next fresh one. */
export async function freshHostVolume(ctx: BenchContext, name: string, dir: string, env: string): Promise<void> {
  mkdirSync(dir, { recursive: false, mode: 0o750 });
  await hostVolume(ctx, name, dir, env);
}

/** A volume named `name` whose data lives in the existing directory `dir`. */
export async function hostVolume(ctx: BenchContext, name: string, dir: string, env: string): Promise<void> {
  // docker volume create hands back an existing volume of that name unchanged: that would restore into the wrong directory.
  const existing = await run('docker', ['volume', 'inspect', '--format', '{{json .Labels}} {{json .Options}}', name]);
  if (existing.code === 0) throw new Error(`volume ${name} exists already (labels and options ${existing.stdout.trim()}), where a new one bound to ${dir} was to be created`);
  await must('docker', [
    'volume', 'create',
    '--driver', 'local', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${dir}`,
    '--label', `stowage.project=${PROJECT}`, '--label', `stowage.env=${env}`, '--label', 'stowage.volume=data',
    ctx.resources.volume(name),
  ]);
}
