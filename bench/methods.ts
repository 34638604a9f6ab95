import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { must, run, stowageProcess, TreeSampler, timed, type ProcessPeak, type Timing, type TreePeaks } from './measure.js';
import { IMAGE, PROJECT, type Resources } from './resources.js';

/**
 * The methods the benchmark compares: stowage's own scripts, the reference
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

/** Runs one stowage script under the /proc sampler (and GNU time when installed). */
export async function stowageScript(ctx: BenchContext, script: string, args: string[], env?: NodeJS.ProcessEnv): Promise<{ stdout: string; memory: MemoryReport; timing: Timing }> {
  let sampler: TreeSampler | undefined;
  const argv = ['npx', 'zx', `scripts/${script}`, ...args];
  const program = ctx.gnuTime ? '/usr/bin/time' : (argv[0] as string);
  const programArgs = ctx.gnuTime ? ['-v', ...argv] : argv.slice(1);
  const { value: r, timing } = await timed(() =>
    run(program, programArgs, {
      cwd: ctx.repo,
      env,
      onSpawn: (pid) => {
        sampler = new TreeSampler(pid);
        sampler.start(50);
      },
    }),
  );
  const peaks: TreePeaks = sampler?.stop() ?? { processes: [], peakTreeRssBytes: 0, samples: 0 };
  if (r.code !== 0) {
    throw new Error(`npx zx scripts/${script} ${args.join(' ')} failed (exit ${r.code}):\n  ${(r.stderr.trim() || r.stdout.trim()).split('\n').slice(-8).join('\n  ')}`);
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

export async function stowageBackup(ctx: BenchContext, round: number): Promise<OpResult> {
  const to = stowageBackupRoot(ctx);
  const { stdout, memory, timing } = await stowageScript(ctx, 'backup.mjs', ['--stack', `${PROJECT}-dev`, '--stacks-dir', ctx.stacksDir, '--to', to, '--json']);
  const doc = JSON.parse(stdout) as { path: string; artifacts: Array<{ file: string; bytes: number }>; stopped?: string[]; durationSeconds?: number };
  const artifact = doc.artifacts[0];
  if (artifact === undefined) throw new Error(`stowage backup wrote no artifact: ${stdout}`);
  return {
    method: 'stowage',
    round,
    timing,
    memory,
    bytes: artifact.bytes,
    path: join(doc.path, artifact.file),
    detail: { set: doc.path, stopped: doc.stopped ?? [], reportedSeconds: doc.durationSeconds },
  };
}

export async function stowageRestore(ctx: BenchContext, round: number, env: string, set: string): Promise<OpResult> {
  const { memory, timing } = await stowageScript(ctx, 'restore.mjs', ['--stack', `${PROJECT}-${env}`, '--stacks-dir', ctx.stacksDir, '--backup', set, '--yes', '--json']);
  return { method: 'stowage', round, timing, memory };
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
  await must('docker', [
    'volume', 'create',
    '--driver', 'local', '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${dir}`,
    '--label', `stowage.project=${PROJECT}`, '--label', `stowage.env=${env}`, '--label', 'stowage.volume=data',
    ctx.resources.volume(name),
  ]);
}
