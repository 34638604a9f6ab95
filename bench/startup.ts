import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { median, run } from './measure.js';

/**
 * Start-up: what a script costs before it does anything, measured as `npx zx`
 * starts it (the command-line contract), for the compiled modules in dist/
 * and for src/ through tsx (STOWAGE_FROM_SOURCE=1, how every script started
 * before the compile step). npx and zx themselves are the same for both: an
 * empty script shows what they cost, and stowage's own share is what a
 * script's --help costs above it. Wall time is noisy on a shared machine;
 * CPU time (user + system of the whole process tree) much less so.
 */

export interface StartupRow {
  id: string;
  name: string;
  /** Runs src/ through tsx instead of dist/. */
  fromSource: boolean;
  wallSeconds: number[];
  cpuSeconds: number[];
  medianWall: number;
  medianCpu: number;
}

export interface StartupComparison {
  /** e.g. "verify" (--help) or "compose-check". */
  script: string;
  label: string;
  /** Only the scripts' fixed cost (--help) has a target; a real command's figure also holds its work. */
  target: boolean;
  /** Median above `npx zx` of an empty script: stowage's own start-up, compiled and from source. */
  ownCpu: { compiled: number; source: number };
  ownWall: { compiled: number; source: number };
  /** source / compiled of the own CPU share: 2 means halved. */
  cpuRatio: number | null;
  wallRatio: number | null;
}

export interface StartupReport {
  reps: number;
  rows: StartupRow[];
  comparisons: StartupComparison[];
  /** Whether the "compiled" rows really ran dist/ (they run src/ when dist/ is stale: npm run build). */
  compiledCurrent: boolean;
}

/**
 * What is started: two scripts' --help (their fixed cost: load, parse, print), and a real command
 * that reads and validates both reference stack files and touches no engine (its figure also holds that work).
 */
const COMMANDS = [
  { id: 'verify', label: 'scripts/verify.mjs --help', args: ['scripts/verify.mjs', '--help'], target: true },
  { id: 'backup', label: 'scripts/backup.mjs --help', args: ['scripts/backup.mjs', '--help'], target: true },
  { id: 'compose-check', label: 'scripts/compose.mjs --check', args: ['scripts/compose.mjs', '--check'], target: false },
] as const;

interface Probe {
  id: string;
  name: string;
  argv: string[];
  fromSource: boolean;
}

/** `times` of a POSIX shell: user and system time of the shell, then of its children. */
function childCpu(stdout: string): number | undefined {
  const times = [...stdout.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
  if (times.length < 4) return undefined;
  return (times[2] ?? 0) + (times[3] ?? 0);
}

async function once(repo: string, probe: Probe): Promise<{ wall: number; cpu: number }> {
  const env = { ...process.env, STOWAGE_DEBUG: undefined, STOWAGE_FROM_SOURCE: probe.fromSource ? '1' : undefined };
  const t0 = performance.now();
  // The shell reports the CPU time of everything below it (npx, sh, node, its children) once they exit.
  const r = await run('sh', ['-c', '"$@" >/dev/null 2>&1; rc=$?; times; exit $rc', 'sh', ...probe.argv], { cwd: repo, env });
  const wall = (performance.now() - t0) / 1000;
  if (r.code !== 0) throw new Error(`${probe.argv.join(' ')} failed (exit ${r.code}): ${r.stderr.trim()}`);
  const cpu = childCpu(r.stdout);
  if (cpu === undefined) throw new Error(`no CPU times from the shell for ${probe.argv.join(' ')}: ${r.stdout.trim()}`);
  return { wall, cpu };
}

/** Whether a script run now takes dist/ (STOWAGE_DEBUG=1 says which one ran). */
async function runsCompiled(repo: string): Promise<boolean> {
  const r = await run(process.execPath, ['scripts/verify.mjs', '--help'], { cwd: repo, env: { ...process.env, STOWAGE_DEBUG: '1', STOWAGE_FROM_SOURCE: undefined } });
  return r.stderr.includes('stowage: running dist/');
}

export async function measureStartup(repo: string, work: string, reps: number, log: (line: string) => void): Promise<StartupReport> {
  const empty = join(work, 'empty.mjs');
  writeFileSync(empty, '');
  const probes: Probe[] = [
    { id: 'node', name: 'node of an empty script (node alone)', argv: [process.execPath, empty], fromSource: false },
    { id: 'zx', name: 'npx zx of an empty script (npx + zx: the contract, no stowage code)', argv: ['npx', 'zx', empty], fromSource: false },
  ];
  for (const c of COMMANDS) {
    for (const fromSource of [false, true]) {
      probes.push({
        id: `${c.id}${fromSource ? '-source' : ''}`,
        name: `npx zx ${c.label}, ${fromSource ? 'src/ through tsx (before)' : 'compiled dist/'}`,
        argv: ['npx', 'zx', ...c.args],
        fromSource,
      });
    }
  }
  const compiledCurrent = await runsCompiled(repo);
  const samples = new Map<string, Array<{ wall: number; cpu: number }>>();
  // One warm-up of each (file cache), then interleaved repetitions, rotating the order.
  for (const probe of probes) await once(repo, probe);
  for (let rep = 0; rep < reps; rep++) {
    log(`  start-up round ${rep + 1}/${reps}`);
    const k = rep % probes.length;
    for (const probe of [...probes.slice(k), ...probes.slice(0, k)]) {
      samples.set(probe.id, [...(samples.get(probe.id) ?? []), await once(repo, probe)]);
    }
  }
  const rows: StartupRow[] = probes.map((p) => {
    const s = samples.get(p.id) ?? [];
    const wallSeconds = s.map((x) => x.wall);
    const cpuSeconds = s.map((x) => x.cpu);
    return { id: p.id, name: p.name, fromSource: p.fromSource, wallSeconds, cpuSeconds, medianWall: median(wallSeconds), medianCpu: median(cpuSeconds) };
  });
  return { reps, rows, comparisons: compareStartup(rows), compiledCurrent };
}

/** stowage's own share of each script's start-up (above npx zx of an empty script), compiled against from source. */
export function compareStartup(rows: StartupRow[]): StartupComparison[] {
  const byId = new Map(rows.map((r) => [r.id, r]));
  const base = byId.get('zx');
  if (base === undefined) return [];
  const out: StartupComparison[] = [];
  for (const c of COMMANDS) {
    const compiled = byId.get(c.id);
    const source = byId.get(`${c.id}-source`);
    if (compiled === undefined || source === undefined) continue;
    const ownCpu = { compiled: compiled.medianCpu - base.medianCpu, source: source.medianCpu - base.medianCpu };
    const ownWall = { compiled: compiled.medianWall - base.medianWall, source: source.medianWall - base.medianWall };
    const ratio = (a: number, b: number): number | null => (b > 0 && a > 0 ? a / b : null);
    out.push({ script: c.id, label: c.label, target: c.target, ownCpu, ownWall, cpuRatio: ratio(ownCpu.source, ownCpu.compiled), wallRatio: ratio(ownWall.source, ownWall.compiled) });
  }
  return out;
}
