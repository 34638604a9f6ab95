import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';

/**
 * Timed runs for the benchmark: every timing ends with `sync` (a backup or a
 * restore is done when it is durable), and a /proc sampler records the peak
 * memory of every process of the measured tree.
 */

/** Children currently running, so an interrupted benchmark can stop them. */
export const runningChildren = new Set<ChildProcess>();

export interface ProcessPeak {
  pid: number;
  /** argv joined by spaces, cut to 200 characters. */
  command: string;
  /** Kernel high-water mark of the resident set (VmHWM), bytes. */
  peakRssBytes: number;
  /** User + system CPU seconds at the last sample. */
  cpuSeconds: number;
}

export interface TreePeaks {
  processes: ProcessPeak[];
  /** Largest sum of VmRSS over the tree seen in one sample. */
  peakTreeRssBytes: number;
  samples: number;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function statusKb(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return m === null ? 0 : Number(m[1]) * 1024;
}

const TICKS = 100; // USER_HZ on Linux

/** utime + stime of a process (not of its children). */
export function cpuSecondsOf(pid: number, withChildren = false): number | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state): utime is field 14, stime 15, cutime 16, cstime 17.
  const f = (n: number): number => Number(fields[n - 3] ?? 0);
  return (f(14) + f(15) + (withChildren ? f(16) + f(17) : 0)) / TICKS;
}

export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    const text = readText(`/proc/${pid}/task/${tid}/children`);
    if (text === undefined) continue;
    for (const word of text.trim().split(/\s+/)) if (word !== '') out.push(Number(word));
  }
  return out;
}

/** Every descendant of pid, deepest last (children of children included, whatever their process group). */
export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const queue = childrenOf(pid);
  while (queue.length > 0) {
    const p = queue.shift() as number;
    if (out.includes(p)) continue;
    out.push(p);
    queue.push(...childrenOf(p));
  }
  return out;
}

/** Polls /proc for the descendants of one process, keeping each one's VmHWM (a high-water mark, so a poll between two samples loses nothing). */
export class TreeSampler {
  private readonly root: number;
  private readonly peaks = new Map<number, ProcessPeak>();
  private timer: NodeJS.Timeout | undefined;
  private peakTree = 0;
  private samples = 0;
  readonly available = existsSync('/proc/self/status');

  constructor(root: number) {
    this.root = root;
  }

  start(intervalMs = 50): void {
    if (!this.available) return;
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): void {
    this.samples++;
    const queue = [this.root];
    let tree = 0;
    const seen = new Set<number>();
    while (queue.length > 0) {
      const pid = queue.shift() as number;
      if (seen.has(pid)) continue;
      seen.add(pid);
      const status = readText(`/proc/${pid}/status`);
      if (status !== undefined) {
        const hwm = statusKb(status, 'VmHWM');
        tree += statusKb(status, 'VmRSS');
        let entry = this.peaks.get(pid);
        if (entry === undefined) {
          const cmdline = readText(`/proc/${pid}/cmdline`) ?? '';
          entry = { pid, command: cmdline.split('\0').filter((w) => w !== '').join(' ').slice(0, 200), peakRssBytes: 0, cpuSeconds: 0 };
          this.peaks.set(pid, entry);
        }
        if (hwm > entry.peakRssBytes) entry.peakRssBytes = hwm;
        const cpu = cpuSecondsOf(pid);
        if (cpu !== undefined) entry.cpuSeconds = cpu;
      }
      queue.push(...childrenOf(pid));
    }
    if (tree > this.peakTree) this.peakTree = tree;
  }

  stop(): TreePeaks {
    if (this.timer !== undefined) clearInterval(this.timer);
    return { processes: [...this.peaks.values()].sort((a, b) => b.peakRssBytes - a.peakRssBytes), peakTreeRssBytes: this.peakTree, samples: this.samples };
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Called with the pid right after the spawn (to attach a sampler). */
  onSpawn?: (pid: number) => void;
}

/** Runs a program (argument array, no shell) and collects its output. */
export function run(program: string, args: string[], options: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    runningChildren.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => {
      runningChildren.delete(child);
      reject(new Error(`cannot run ${program}: ${e.message}`));
    });
    if (child.pid !== undefined) options.onSpawn?.(child.pid);
    child.on('close', (code, signal) => {
      runningChildren.delete(child);
      resolve({ code: code ?? (signal === null ? 1 : 128), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    });
  });
}

/** Runs and throws with the command's own message when it fails. */
export async function must(program: string, args: string[], options: RunOptions = {}): Promise<string> {
  const r = await run(program, args, options);
  if (r.code !== 0) {
    const detail = (r.stderr.trim() || r.stdout.trim() || `exit ${r.code}`).split('\n').slice(-6).join('\n  ');
    throw new Error(`${program} ${args.slice(0, 3).join(' ')} failed (exit ${r.code}):\n  ${detail}`);
  }
  return r.stdout;
}

export function syncDisks(): void {
  spawnSync('sync', [], { stdio: 'ignore' });
}

/** CPU jiffies (busy, total) of the whole machine, from /proc/stat. */
function machineCpu(): { busy: number; total: number } | undefined {
  const text = readText('/proc/stat');
  const line = text?.split('\n')[0];
  if (line === undefined || !line.startsWith('cpu ')) return undefined;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, total };
}

export interface Timing {
  /** Wall time from the start to the end of `sync` after the command. */
  seconds: number;
  /** Of which the final sync. */
  syncSeconds: number;
  /** 1-minute load average when the run started (other work on the machine makes timings noisy). */
  loadAtStart: number;
  /** Share of all CPUs busy during the run, this benchmark's work included. */
  machineBusy: number | undefined;
}

/** Times `work` plus a `sync` after it, starting from clean (already synced) dirty pages. */
export async function timed<T>(work: () => Promise<T>): Promise<{ value: T; timing: Timing }> {
  syncDisks();
  const loadAtStart = loadavg()[0] ?? 0;
  const cpu0 = machineCpu();
  const t0 = performance.now();
  const value = await work();
  const t1 = performance.now();
  syncDisks();
  const t2 = performance.now();
  const cpu1 = machineCpu();
  const machineBusy = cpu0 !== undefined && cpu1 !== undefined && cpu1.total > cpu0.total ? (cpu1.busy - cpu0.busy) / (cpu1.total - cpu0.total) : undefined;
  return { value, timing: { seconds: (t2 - t0) / 1000, syncSeconds: (t2 - t1) / 1000, loadAtStart, machineBusy } };
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/** The stowage process itself: the node process running the script, not the npx launcher. */
export function stowageProcess(peaks: TreePeaks, script: string): ProcessPeak | undefined {
  return peaks.processes.find((p) => p.command.includes(script) && /(^|\/)node\s/.test(`${p.command} `) && !/\bnpm\b|npx-cli|npm-cli/.test(p.command));
}
