import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync, chmodSync, openSync, closeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_ZSTD_LEVEL } from '../src/config/model.js';
import { command } from '../src/engine/command.js';
import { decodeIntoProcess, fileFingerprint, filters, writeArtifactFromProcess } from '../src/engine/pipeline.js';
import { cpuSecondsOf, median, must, run, runningChildren, timed, type Timing } from './measure.js';
import { APP_CONTAINER, freshHostVolume, type BenchContext } from './methods.js';
import { IMAGE, PROJECT } from './resources.js';

/**
 * Where stowage's time goes (--breakdown): the same data path measured piece by
 * piece, with and without node in the middle, plus a timeline of real
 * stowage runs recorded by logging every docker and zstd invocation.
 */

/** The pieces whose sum is the floor of a target: what the required engine path costs with no stowage logic at all. */
export type FloorPart = 'engine-backup' | 'startup' | 'writer-pause' | 'engine-restore' | 'decode';

export interface ComponentTiming {
  name: string;
  floorPart?: FloorPart;
  runs: number[];
  median: number;
  /** CPU seconds of this (benchmark) node process during the run: the cost of piping bytes through node. */
  nodeCpuSeconds?: number;
  /** CPU seconds of dockerd (and its children) during the run, when the engine is local. */
  dockerdCpuSeconds?: number;
  note?: string;
}

export interface TimelinePhase {
  phase: string;
  seconds: number;
}

export interface Timeline {
  run: string;
  totalSeconds: number;
  phases: TimelinePhase[];
  calls: Array<{ start: number; end: number; call: string }>;
}

export interface Breakdown {
  backup: ComponentTiming[];
  restore: ComponentTiming[];
  timelines: Timeline[];
}

function dockerdPid(): number | undefined {
  const r = spawnSync('pgrep', ['-xo', 'dockerd'], { encoding: 'utf8' });
  const pid = Number(r.stdout.trim());
  return r.status === 0 && pid > 0 ? pid : undefined;
}

function spawnTracked(program: string, args: string[], stdio: Array<'ignore' | 'pipe' | number | NodeJS.ReadableStream | null>): { child: ChildProcess; done: Promise<void> } {
  const child = spawn(program, args, { stdio: stdio as never });
  runningChildren.add(child);
  const err: Buffer[] = [];
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  const done = new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    // 'exit', not 'close': a stdout handed to another process never closes here.
    child.on('exit', (code, signal) => {
      runningChildren.delete(child);
      if (code === 0) resolve();
      else reject(new Error(`${program} ${args.slice(0, 3).join(' ')} failed (${signal ?? `exit ${code ?? '?'}`}): ${Buffer.concat(err).toString().trim()}`));
    });
  });
  return { child, done };
}

async function measure(name: string, reps: number, setup: (rep: number) => Promise<() => Promise<void>>, note?: string): Promise<ComponentTiming> {
  const runs: number[] = [];
  const nodeCpu: number[] = [];
  const dockerdCpu: number[] = [];
  const dockerd = dockerdPid();
  for (let rep = 0; rep < reps; rep++) {
    const work = await setup(rep);
    const cpu0 = process.cpuUsage();
    const d0 = dockerd === undefined ? undefined : cpuSecondsOf(dockerd, true);
    const { timing } = await timed(work);
    const cpu1 = process.cpuUsage(cpu0);
    const d1 = dockerd === undefined ? undefined : cpuSecondsOf(dockerd, true);
    runs.push(timing.seconds);
    nodeCpu.push((cpu1.user + cpu1.system) / 1e6);
    if (d0 !== undefined && d1 !== undefined) dockerdCpu.push(d1 - d0);
  }
  return {
    name,
    runs,
    median: median(runs),
    nodeCpuSeconds: median(nodeCpu),
    ...(dockerdCpu.length > 0 ? { dockerdCpuSeconds: median(dockerdCpu) } : {}),
    ...(note === undefined ? {} : { note }),
  };
}

let helperSeq = 0;

async function neverStartedHelper(ctx: BenchContext, volume: string, target: string, readOnly: boolean): Promise<string> {
  const name = ctx.resources.container(`${PROJECT}-bench-helper-${++helperSeq}`);
  await must('docker', ['create', '--name', name, '--label', `stowage.project=${PROJECT}`, '--network', 'none', '--mount', `type=volume,source=${volume},target=${target}${readOnly ? ',readonly' : ''}`, IMAGE, 'true']);
  return name;
}

/** Backup data path, piece by piece, reading the source volume through the archive endpoint. */
export async function backupComponents(ctx: BenchContext, sourceVolume: string, reps: number): Promise<ComponentTiming[]> {
  const helper = await neverStartedHelper(ctx, sourceVolume, '/data', true);
  const dir = join(ctx.work, 'breakdown-backup');
  mkdirSync(dir, { recursive: true });
  let seq = 0;
  const out = (): string => join(dir, `out-${++seq}.tar.zst`); // never overwritten: no deletes while measuring
  const results: ComponentTiming[] = [];
  const read = async (): Promise<void> => {
    const nul = openSync('/dev/null', 'w');
    try {
      await spawnTracked('docker', ['cp', `${helper}:/data/.`, '-'], ['ignore', nul, 'pipe']).done;
    } finally {
      closeSync(nul);
    }
  };
  const shellPipe = (level: number) => async (): Promise<void> => {
    const file = await open(out(), 'wx', 0o600);
    try {
      const cp = spawnTracked('docker', ['cp', `${helper}:/data/.`, '-'], ['ignore', 'pipe', 'pipe']);
      const z = spawnTracked('zstd', ['-T0', `-${level}`, '-q', '-c'], [cp.child.stdout as NodeJS.ReadableStream, file.fd, 'pipe']);
      cp.child.stdout?.destroy();
      await Promise.all([cp.done, z.done]);
      await file.sync();
    } finally {
      await file.close();
    }
  };
  const asStowage = async (): Promise<void> => {
    const cp = spawnTracked('docker', ['cp', `${helper}:/data/.`, '-'], ['ignore', 'pipe', 'pipe']);
    await writeArtifactFromProcess(cp, [filters.compress('zstd', DEFAULT_ZSTD_LEVEL)], out());
  };
  const empty = join(dir, 'empty.mjs');
  writeFileSync(empty, '');
  const startup = async (): Promise<void> => {
    await must('npx', ['zx', empty], { cwd: ctx.repo });
  };
  const writerPause = async (): Promise<void> => {
    await must('docker', ['stop', APP_CONTAINER]);
    await must('docker', ['start', APP_CONTAINER]);
  };
  const L = DEFAULT_ZSTD_LEVEL;
  const variants: Array<[string, () => Promise<void>, string?, FloorPart?]> = [
    ['archive endpoint read alone (docker cp > /dev/null)', read],
    [`required path: docker cp | zstd -${L} > file, fsync (no node)`, shellPipe(L), undefined, 'engine-backup'],
    [`stowage's path: docker cp =fd=> zstd -${L} -> node sha256 -> file`, asStowage, 'src/engine/pipeline.ts writeArtifactFromProcess'],
    ['start-up: npx zx of an empty script', startup, undefined, 'startup'],
    ['writer pause: docker stop + docker start of the bench service', writerPause, undefined, 'writer-pause'],
  ];
  // Interleaved repetitions, so a slow patch of the machine hits every variant.
  const runs = new Map<string, ComponentTiming[]>();
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, work, note] of variants) {
      ctx.log(`  breakdown: ${name} (${rep + 1}/${reps})`);
      const r = await measure(name, 1, async () => work, note);
      runs.set(name, [...(runs.get(name) ?? []), r]);
    }
  }
  for (const [name, , note, part] of variants) results.push(combine(name, runs.get(name) ?? [], note, part));
  await must('docker', ['rm', '--force', helper]);
  return results;
}

function combine(name: string, parts: ComponentTiming[], note: string | undefined, floorPart?: FloorPart): ComponentTiming {
  const runs = parts.flatMap((p) => p.runs);
  const cpu = parts.map((p) => p.nodeCpuSeconds ?? 0);
  const d = parts.map((p) => p.dockerdCpuSeconds).filter((x): x is number => x !== undefined);
  return {
    name,
    ...(floorPart === undefined ? {} : { floorPart }),
    runs,
    median: median(runs),
    nodeCpuSeconds: median(cpu),
    ...(d.length > 0 ? { dockerdCpuSeconds: median(d) } : {}),
    ...(note === undefined ? {} : { note }),
  };
}

/** Restore data path, piece by piece, each into a fresh host-backed volume (no large deletes while measuring). */
export async function restoreComponents(ctx: BenchContext, setDir: string, artifact: string, docsArchive: string, reps: number): Promise<ComponentTiming[]> {
  const base = join(ctx.work, 'breakdown-restore');
  mkdirSync(base, { recursive: true });
  let seq = 0;
  const freshTarget = async (): Promise<{ helper: string; volume: string }> => {
    const n = ++seq;
    const volume = `${PROJECT}_bd${n}`;
    await freshHostVolume(ctx, volume, join(base, `t${n}`), 'bench');
    const helper = await neverStartedHelper(ctx, volume, '/v', false);
    return { helper, volume };
  };
  const done: Array<{ helper: string; volume: string }> = [];
  const path = join(setDir, artifact);
  const verify = (): Promise<() => Promise<void>> =>
    Promise.resolve(async () => {
      await must('npx', ['zx', 'scripts/verify.mjs', '--stack', `${PROJECT}-dev`, '--stacks-dir', ctx.stacksDir, '--backup', setDir, '--json'], { cwd: ctx.repo });
    });
  const noNode = async (): Promise<() => Promise<void>> => {
    const t = await freshTarget();
    done.push(t);
    return async () => {
      const z = spawnTracked('zstd', ['-d', '-q', '-c', path], ['ignore', 'pipe', 'pipe']);
      const w = spawnTracked('docker', ['cp', '--archive', '-', `${t.helper}:/v/`], [z.child.stdout as NodeJS.ReadableStream, 'ignore', 'pipe']);
      z.child.stdout?.destroy();
      await Promise.all([z.done, w.done]);
    };
  };
  const asStowage = async (): Promise<() => Promise<void>> => {
    const t = await freshTarget();
    done.push(t);
    return async () => {
      const fingerprint = fileFingerprint(statSync(path, { bigint: true }));
      await decodeIntoProcess(path, [filters.decompress('zstd')], command('docker', ['cp', '--archive', '-', `${t.helper}:/v/`], 'write into the fresh volume'), { fingerprint });
    };
  };
  const decode = (): Promise<() => Promise<void>> =>
    Promise.resolve(async () => {
      const nul = openSync('/dev/null', 'w');
      try {
        await spawnTracked('zstd', ['-d', '-q', '-c', path], ['ignore', nul, 'pipe']).done;
      } finally {
        closeSync(nul);
      }
    });
  const gunzip = (): Promise<() => Promise<void>> =>
    Promise.resolve(async () => {
      await must('docker', ['run', '--rm', '-v', `${join(docsArchive, '..')}:/backup`, IMAGE, 'sh', '-c', 'gzip -dc /backup/x.tar.gz > /dev/null']);
    });
  const variants: Array<[string, () => Promise<() => Promise<void>>, string?, FloorPart?]> = [
    ['verification alone (npx zx scripts/verify.mjs)', verify, 'zstd -d + tar-stream scan + sha256, incl. start-up'],
    ['decode floor: zstd -dc file > /dev/null (any verification reads this much)', decode, undefined, 'decode'],
    ['required path: zstd -dc file | docker cp -a - (no node)', noNode, undefined, 'engine-restore'],
    ["stowage's path: zstd -dc file =fd=> docker cp -a, file fingerprint checked before and after", asStowage, 'src/engine/pipeline.ts decodeIntoProcess'],
    ["docs' decompression alone (busybox gzip -dc > /dev/null)", gunzip],
  ];
  const runs = new Map<string, ComponentTiming[]>();
  for (let rep = 0; rep < reps; rep++) {
    for (const [name, setup, note] of variants) {
      ctx.log(`  breakdown: ${name} (${rep + 1}/${reps})`);
      const r = await measure(name, 1, setup, note);
      runs.set(name, [...(runs.get(name) ?? []), r]);
    }
  }
  for (const t of done) {
    await run('docker', ['rm', '--force', t.helper]);
    await run('docker', ['volume', 'rm', t.volume]);
  }
  return variants.map(([name, , note, part]) => combine(name, runs.get(name) ?? [], note, part));
}

/** PATH shims that log every docker and zstd call with start and end times. */
export function installShims(ctx: BenchContext): { dir: string; log: string } {
  const dir = join(ctx.work, 'shims');
  const log = join(ctx.work, 'shims.log');
  mkdirSync(dir, { recursive: true });
  for (const program of ['docker', 'zstd']) {
    const real = spawnSync('sh', ['-c', `command -v ${program}`], { encoding: 'utf8' }).stdout.trim();
    if (real === '') continue;
    const script = `#!/bin/sh
s=$(date +%s.%N)
'${real}' "$@"
rc=$?
e=$(date +%s.%N)
printf '%s %s ${program} %s\\n' "$s" "$e" "$(printf '%s' "$*" | tr '\\n' ' ' | cut -c1-800)" >> '${log}'
exit $rc
`;
    writeFileSync(join(dir, program), script);
    chmodSync(join(dir, program), 0o755);
  }
  return { dir, log };
}

interface Call {
  start: number;
  end: number;
  call: string;
}

function readCalls(log: string, since: number): Call[] {
  let text = '';
  try {
    text = readFileSync(log, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const [s, e, ...rest] = l.split(' ');
      return { start: Number(s), end: Number(e), call: rest.join(' ') };
    })
    .filter((c) => c.start >= since)
    .sort((a, b) => a.start - b.start);
}

/** Runs one stowage script with the shims on PATH and splits its wall time into phases. */
export async function stowageTimeline(ctx: BenchContext, label: string, script: string, args: string[]): Promise<Timeline> {
  const shims = installShims(ctx);
  const since = Date.now() / 1000;
  const { timing } = await timed(() => must('npx', ['zx', `scripts/${script}`, ...args], { cwd: ctx.repo, env: { ...process.env, PATH: `${shims.dir}:${process.env['PATH'] ?? ''}` } }));
  const end = since + timing.seconds - timing.syncSeconds;
  const calls = readCalls(shims.log, since);
  const rel = (t: number): number => Math.max(0, t - since);
  const phases: TimelinePhase[] = [];
  const first = calls[0];
  if (first !== undefined) phases.push({ phase: 'node start-up (npx, zx, tsx, imports) until the first docker call', seconds: rel(first.start) });
  const find = (re: RegExp, from = 0): Call | undefined => calls.slice(from).find((c) => re.test(c.call));
  const span = (phase: string, c: Call | undefined): void => {
    if (c !== undefined) phases.push({ phase, seconds: c.end - c.start });
  };
  if (script === 'backup.mjs') {
    const stop = find(/^docker stop /);
    const read = find(/^docker cp \S+:\S+ -$/);
    const zstd = find(/^zstd /);
    const start = find(/^docker start /);
    const streamEnd = Math.max(read?.end ?? 0, zstd?.end ?? 0);
    if (stop !== undefined && read !== undefined) phases.push({ phase: 'checks, docker stop, helper create (first call to stream start)', seconds: read.start - (first?.start ?? read.start) });
    if (read !== undefined) phases.push({ phase: 'stream: docker cp =fd=> zstd -> node sha256 -> file, fsync', seconds: streamEnd - read.start });
    span('  of which docker stop of the writer', stop);
    span('  of which docker start of the writer', start);
    if (start !== undefined) phases.push({ phase: 'writer down (docker stop start .. docker start end)', seconds: start.end - (stop?.start ?? start.end) });
    phases.push({ phase: 'after the stream (helper rm, manifest, exit; docker start overlaps the stream\'s tail)', seconds: end - streamEnd });
  } else {
    const zstds = calls.filter((c) => /^zstd /.test(c.call));
    const verify = zstds[0];
    const write = find(/^docker cp --archive -/);
    const prepare = find(/^docker run .*interrupted restore/);
    const swap = find(/^docker run .*putting the previous content back/);
    span('verification pass (zstd -d + node tar scan + sha256)', verify === undefined ? undefined : { ...verify, start: verify.start, end: verify.end, call: '' });
    if (verify !== undefined && write !== undefined) phases.push({ phase: 'between verification and stream (inspect, volume, prepare, helper)', seconds: write.start - verify.end });
    span('  of which the prepare script (docker run)', prepare);
    if (write !== undefined) phases.push({ phase: 'stream: file =fd=> zstd -d =fd=> docker cp -a, sha256 alongside', seconds: Math.max(write.end, zstds[1]?.end ?? 0) - write.start });
    span('swap script (docker run: move aside, move in, rm -rf old)', swap);
    phases.push({ phase: 'after the swap (exit)', seconds: end - (swap?.end ?? end) });
  }
  phases.push({ phase: 'final sync', seconds: timing.syncSeconds });
  return { run: label, totalSeconds: timing.seconds, phases, calls: calls.map((c) => ({ start: rel(c.start), end: rel(c.end), call: c.call.slice(0, 160) })) };
}

export type { Timing };
