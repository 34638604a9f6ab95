// Shared fixture for the real-engine tests: temporary stacks and backup roots,
// volumes and service containers created the way Compose would create them,
// the CLI run the way operators run it (npx zx scripts/X.mjs), and snapshots of
// a volume's tree that compare owners, modes, times, link counts and contents.
//
// Every test file makes its own project name (t<random>) and removes exactly the
// containers and volumes labelled with it in afterAll; nothing else is touched.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SWAP_PHASE_IN } from '../../src/backup/swap.js';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

export const BUSYBOX = 'stowage-test/busybox:1';
export const SQLITE_IMAGE = 'stowage-test/sqlite:1';
export const POSTGRES_IMAGE = 'stowage-test/postgres:15';

/** A service command that exits promptly on SIGTERM. */
export const IDLE_COMMAND = ['sh', '-c', "trap 'exit 0' TERM; while :; do sleep 1; done"];

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  input?: string | Buffer;
  /**
   * Hang detector, not a timing assertion: after this long the program and all
   * its descendants (the CLI runs its children in their own process groups) are
   * SIGKILLed and the result has code -1 and a note in stderr. Killing them
   * also ends engine requests they hold open (a `docker cp` stream holds its
   * container), so one hung run cannot block the cleanup of the whole file.
   */
  hangAfterMs?: number;
}

/** Runs a program without a shell and resolves with what it printed (never rejects on a non-zero exit). */
export function exec(program: string, args: readonly string[], options: ExecOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, ...options.env },
      stdio: [options.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let hung = false;
    const timer =
      options.hangAfterMs === undefined
        ? undefined
        : setTimeout(() => {
            hung = true;
            if (child.pid !== undefined) void killTree(child.pid);
          }, options.hangAfterMs);
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const note = hung ? `\n[test harness: ${program} ${args.slice(0, 2).join(' ')} still running after ${options.hangAfterMs ?? 0} ms: hung; killed it and its descendants]\n` : '';
      resolve({ code: hung ? -1 : (code ?? (signal === null ? -1 : 128)), stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') + note });
    });
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** How long a CLI run may take before the harness calls it hung (normal runs here take seconds). */
export const CLI_HANG_MS = 75_000;

/** Runs a program and returns its stdout; a non-zero exit throws with everything it printed. */
export async function must(program: string, args: readonly string[], options: ExecOptions = {}): Promise<string> {
  const r = await exec(program, args, options);
  if (r.code !== 0) throw new Error(`${program} ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout;
}

export const docker = (...args: string[]): Promise<string> => must('docker', args);

/** sh -c SCRIPT on the host (for pipelines of stock tools: age | zstd | tar). */
export const hostShell = (script: string, ...args: string[]): Promise<string> => must('sh', ['-c', script, 'sh', ...args]);

// ---------------------------------------------------------------- projects

export function uniqueProject(tag: string): string {
  return `t${randomBytes(3).toString('hex')}${tag}`;
}

/**
 * One test file's world: a project name, a temporary stacks directory and a
 * backup root. `stack` writes `<app>.yaml`; `cli` runs a script against them.
 */
export class Sandbox {
  private made: string | undefined;

  constructor(readonly project: string) {}

  /** The temporary directory, made on first use (a describe skipped by -t never makes one). */
  get root(): string {
    if (this.made === undefined) {
      this.made = mkdtempSync(join(tmpdir(), `stowage-engine-${this.project}-`));
      mkdirSync(join(this.made, 'stacks'));
    }
    return this.made;
  }

  get stacksDir(): string {
    return join(this.root, 'stacks');
  }

  get to(): string {
    return join(this.root, 'backups');
  }

  /** Writes the stack file of app `project` (the stack name is `<project>-dev`). */
  writeStack(yaml: string): string {
    writeFileSync(join(this.stacksDir, `${this.project}.yaml`), yaml);
    return `${this.project}-dev`;
  }

  get stack(): string {
    return `${this.project}-dev`;
  }

  /** Runs `npx zx scripts/<script>.mjs --stack <project>-dev --stacks-dir <dir> ...args`. */
  cli(script: 'backup' | 'verify' | 'restore' | 'copy' | 'status', args: string[], options: ExecOptions = {}): Promise<RunResult> {
    return exec('npx', ['zx', `scripts/${script}.mjs`, '--stack', this.stack, '--stacks-dir', this.stacksDir, ...args], {
      hangAfterMs: CLI_HANG_MS,
      ...options,
      env: { NO_COLOR: '1', ...options.env },
    });
  }

  /**
   * Starts the CLI in its own process group (for signal tests); the caller
   * collects the result. `direct` runs node_modules/.bin/zx itself instead of
   * `npx zx`, so the group leader is the node process running the script and its
   * exit code is the script's own (npm exits at once on a signal).
   */
  spawnCli(script: 'backup' | 'verify' | 'restore' | 'copy', args: string[], options: { env?: Record<string, string>; direct?: boolean } = {}): { child: ChildProcess; result: Promise<RunResult> } {
    const argv = [`scripts/${script}.mjs`, '--stack', this.stack, '--stacks-dir', this.stacksDir, ...args];
    const [program, programArgs] = options.direct === true ? [join(repoRoot, 'node_modules/.bin/zx'), argv] : ['npx', ['zx', ...argv]];
    const child = spawn(program, programArgs, {
      cwd: repoRoot,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr?.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const result = new Promise<RunResult>((resolve, reject) => {
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code: code ?? (signal === null ? -1 : 128), stdout, stderr }));
    });
    return { child, result };
  }

  volume(key: string): string {
    return `${this.project}_${key}`;
  }

  container(service: string): string {
    return `${this.project}-${service}`;
  }

  /** The project's backup directory, `<to>/<project>`. */
  get setsDir(): string {
    return join(this.to, this.project);
  }

  /** Set directories (YYYYMMDDTHHMMSSZ) under the project's backup directory, oldest first. */
  sets(): string[] {
    if (!existsSync(this.setsDir)) return [];
    return readdirSync(this.setsDir)
      .filter((n) => /^\d{8}T\d{6}Z$/.test(n))
      .sort()
      .map((n) => join(this.setsDir, n));
  }

  /** Removes this project's containers and volumes from the engine, and the temporary files. */
  async cleanup(): Promise<void> {
    await removeProject(this.project);
    if (this.made !== undefined) rmSync(this.made, { recursive: true, force: true });
  }
}

/** Removes every container and volume labelled stowage.project=<project> (and only those). */
export async function removeProject(project: string): Promise<void> {
  const label = `label=stowage.project=${project}`;
  const bounded = { hangAfterMs: 60_000 };
  const containers = (await exec('docker', ['ps', '--all', '--quiet', '--filter', label], bounded)).stdout.split('\n').filter((s) => s !== '');
  if (containers.length > 0) await exec('docker', ['rm', '--force', '--volumes', ...containers], bounded);
  const volumes = (await exec('docker', ['volume', 'ls', '--quiet', '--filter', label], bounded)).stdout.split('\n').filter((s) => s !== '');
  if (volumes.length > 0) await exec('docker', ['volume', 'rm', '--force', ...volumes], bounded);
}

// ---------------------------------------------------------------- engine objects

export function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}

/** `docker volume create` with the labels the stack gives its volumes. */
export async function createVolume(project: string, key: string, env = 'dev'): Promise<string> {
  const name = `${project}_${key}`;
  await docker('volume', 'create', ...labelArgs({ 'stowage.project': project, 'stowage.env': env, 'stowage.volume': key }), name);
  return name;
}

export interface ServiceOptions {
  image?: string;
  /** [volume key, target] pairs. */
  mounts: Array<[string, string]>;
  env?: Record<string, string>;
  user?: string;
  /** The container's command; IDLE_COMMAND when absent, the image's own with null. */
  command?: string[] | null;
  envName?: string;
}

/** `docker run -d` of `<project>-<service>` as Compose would create it. */
export async function runService(project: string, service: string, options: ServiceOptions): Promise<string> {
  const name = `${project}-${service}`;
  await docker(
    'run', '-d',
    '--name', name,
    ...labelArgs({ 'stowage.project': project, 'stowage.env': options.envName ?? 'dev', 'stowage.service': service }),
    ...options.mounts.flatMap(([key, target]) => ['-v', `${project}_${key}:${target}`]),
    ...Object.entries(options.env ?? {}).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
    ...(options.user === undefined ? [] : ['--user', options.user]),
    options.image ?? BUSYBOX,
    ...(options.command === null ? [] : (options.command ?? IDLE_COMMAND)),
  );
  return name;
}

export interface ContainerFacts {
  running: boolean;
  startedAt: string;
}

export async function containerState(name: string): Promise<ContainerFacts> {
  const [running, startedAt] = (await docker('inspect', '--format', '{{.State.Running}} {{.State.StartedAt}}', name)).trim().split(' ');
  return { running: running === 'true', startedAt: startedAt ?? '' };
}

export async function volumeExists(name: string): Promise<boolean> {
  return (await exec('docker', ['volume', 'inspect', name])).code === 0;
}

export async function volumeLabels(name: string): Promise<Record<string, string>> {
  return JSON.parse(await docker('volume', 'inspect', '--format', '{{json .Labels}}', name)) as Record<string, string>;
}

/** Containers of the project, running or not (helpers included). */
export async function projectContainers(project: string): Promise<string[]> {
  return (await docker('ps', '--all', '--format', '{{.Names}}', '--filter', `label=stowage.project=${project}`)).split('\n').filter((s) => s !== '').sort();
}

/** Runs a shell script as root in a throwaway busybox container with the volume at /d. */
export function inVolume(volume: string, script: string, ...args: string[]): Promise<string> {
  return docker('run', '--rm', '--network', 'none', '-v', `${volume}:/d`, BUSYBOX, 'sh', '-c', script, 'sh', ...args);
}

const SNAPSHOT_SCRIPT = `set -e
cd /d
find . | sort | while IFS= read -r f; do
  line=$(stat -c '%n %u:%g %a %Y %h %F %s' "$f")
  if [ -L "$f" ]; then line="$line -> $(readlink "$f")"
  elif [ -f "$f" ]; then line="$line sha256=$(sha256sum < "$f" | cut -d' ' -f1)"; fi
  printf '%s\\n' "$line"
done
`;

/**
 * Every entry of the volume, one line each: name, owner, mode (with setuid,
 * setgid, sticky), mtime (seconds), link count, type, size, and the sha256 of a
 * file or the target of a symlink. The root is the `.` line.
 */
export async function snapshot(volume: string): Promise<string[]> {
  const out = await docker('run', '--rm', '--network', 'none', '-v', `${volume}:/d:ro`, BUSYBOX, 'sh', '-c', SNAPSHOT_SCRIPT);
  return out.split('\n').filter((l) => l !== '');
}

/** The snapshot line of one entry (by its `./path` name). */
export function entry(lines: string[], path: string): string | undefined {
  return lines.find((l) => l.startsWith(`${path} `));
}

// ---------------------------------------------------------------- backup sets

export interface ManifestArtifact {
  volume: string;
  file: string;
  method: string;
  bytes: number;
  sha256: string;
  encrypted?: boolean;
  [key: string]: unknown;
}

export interface ManifestDoc {
  format: number;
  project: string;
  env: string;
  created: string;
  artifacts: ManifestArtifact[];
  [key: string]: unknown;
}

export function readManifestFile(setDir: string): ManifestDoc {
  return JSON.parse(readFileSync(join(setDir, 'manifest.json'), 'utf8')) as ManifestDoc;
}

export function writeManifestFile(setDir: string, manifest: ManifestDoc): void {
  writeFileSync(join(setDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`, { mode: 0o600 });
}

export function sha256Of(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The single JSON document a --json run printed; fails loudly when stdout holds anything else. */
export function parseJsonDocument<T>(stdout: string): T {
  try {
    return JSON.parse(stdout) as T;
  } catch (err) {
    throw new Error(`stdout is not exactly one JSON document (${err instanceof Error ? err.message : String(err)}):\n${stdout}`);
  }
}

/** A fresh set directory name under `<to>/<project>/`, as the contract names them. */
export function setDirName(date: Date): string {
  return date.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

// ---------------------------------------------------------------- PATH seams

/**
 * A directory holding a `zstd` that waits for `gate` to exist before it runs
 * the real zstd (or fails at once with `mode: 'fail'`). Put first on PATH, it
 * holds a backup in the middle of its copy without any timing assumption.
 * Probes (`zstd --version`, `-V`) pass straight through; only a real
 * compression or decompression touches `started` and waits. The wait is
 * bounded (60 s), so a forgotten gate never leaves a process behind for long.
 */
/**
 * A zstd on PATH for seams: 'gate' waits for open() before compressing, 'fail'
 * exits 1, 'hold' reads its whole input first (touching `inputRead`), then waits
 * for open() (at most 60 s, then touches `released`) before it compresses what it held.
 */
export function fakeZstd(dir: string, mode: 'gate' | 'fail' | 'hold'): { binDir: string; gate: string; started: string; inputRead: string; released: string; open: () => void } {
  const binDir = join(dir, 'bin');
  mkdirSync(binDir, { recursive: true });
  const gate = join(dir, 'open');
  const started = join(dir, 'zstd-started');
  const real = '/usr/bin/zstd';
  const probe = `for a in "$@"; do case "$a" in --version|-V|-h|--help) exec ${real} "$@";; esac; done\n`;
  const inputRead = join(dir, 'input-read');
  const held = join(dir, 'held-input');
  const released = join(dir, 'released');
  const waitForGate = `i=0\nwhile [ ! -e '${gate}' ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done\n`;
  const script =
    mode === 'fail'
      ? `#!/bin/sh\n${probe}touch '${started}'\necho 'zstd: simulated failure (test seam)' >&2\nexit 1\n`
      : mode === 'hold'
        ? `#!/bin/sh\n${probe}touch '${started}'\ncat > '${held}'\ntouch '${inputRead}'\n${waitForGate}touch '${released}'\nexec ${real} "$@" < '${held}'\n`
        : `#!/bin/sh\n${probe}touch '${started}'\n${waitForGate}exec ${real} "$@"\n`;
  writeFileSync(join(binDir, 'zstd'), script);
  chmodSync(join(binDir, 'zstd'), 0o755);
  const open = (): void => {
    if (existsSync(dir)) writeFileSync(gate, '');
  };
  return { binDir, gate, started, inputRead, released, open };
}

/** Whether any process of the group is still alive. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs a process and every descendant (found through their parent ids), for cleaning up after a hung run. */
export async function killTree(pid: number): Promise<number[]> {
  const table = (await exec('ps', ['-eo', 'pid=,ppid='])).stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((p): p is [number, number] => p.length === 2 && Number.isInteger(p[0]) && Number.isInteger(p[1]));
  const found = [pid];
  for (let i = 0; i < found.length; i++) for (const [child, parent] of table) if (parent === found[i] && !found.includes(child)) found.push(child);
  for (const p of found) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return found;
}

/** Resolves with the promise's value, or with undefined when it has not settled after `ms` (a hang detector, not a timing assertion). */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------- waiting

/** Polls `probe` until it returns a value other than undefined/false, at most `tries` times. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined | false> | T | undefined | false, tries = 600, intervalMs = 100): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Output of a CLI run, for assertion messages. */
export function show(r: RunResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** The stack most engine tests need: one volume `data` mounted by one busybox service. */
export function oneVolumeStack(project: string, environments: string[] = ['dev']): string {
  return `app: ${project}
helper: { image: ${BUSYBOX} }
volumes:
  data: {}
services:
  app:
    image: ${BUSYBOX}
    mounts: [data:/data]
environments:
${environments.map((e) => `  ${e}: {}`).join('\n')}
`;
}

// ---------------------------------------------------------------- exact trees

/** The directory a local engine keeps a named volume in (tests run beside the engine). */
export async function mountpointOf(volume: string): Promise<string> {
  return (await docker('volume', 'inspect', '--format', '{{.Mountpoint}}', volume)).trim();
}

/**
 * Every entry below `root`, read on the host without following any symlink:
 * name (hex of its raw bytes), type, owner, mode, mtime in seconds, size and
 * sha256 of files, link target bytes, and the hard link group (the first name
 * of the same inode). Directory times are included: a restore must give them
 * back too. Capabilities (security.capability) come from getcap.
 */
export async function exactTree(root: string, extras: { xattrs?: boolean; blocks?: boolean } = {}): Promise<string[]> {
  const { lstatSync, readdirSync: readdir, readlinkSync, readFileSync: read } = await import('node:fs');
  const lines: string[] = [];
  const firstNameOfInode = new Map<string, string>();
  const visit = (dir: Buffer, rel: Buffer): void => {
    const path = rel.length === 0 ? dir : Buffer.concat([dir, Buffer.from('/'), rel]);
    const st = lstatSync(path, { bigint: true });
    const name = rel.length === 0 ? '.' : `./${rel.toString('latin1')}`;
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : st.isFIFO() ? 'fifo' : st.isSocket() ? 'socket' : 'device';
    const facts = [Buffer.from(name, 'latin1').toString('hex'), type, `${st.uid}:${st.gid}`, (Number(st.mode) & 0o7777).toString(8), `mtime=${st.mtimeMs / 1000n}`];
    if (type === 'file') {
      const key = `${st.dev}:${st.ino}`;
      const first = firstNameOfInode.get(key);
      if (first === undefined) {
        firstNameOfInode.set(key, name);
        facts.push(`size=${st.size}`, `sha256=${createHash('sha256').update(read(path)).digest('hex')}`, `links=${st.nlink}`);
        // Allocated 512-byte blocks, to the nearest 10%: a sparse file that came back full differs.
        if (extras.blocks === true) facts.push(`blocks~${Math.round((Number(st.blocks) / Math.max(1, Number(st.size) / 512)) * 10)}`);
      } else facts.push(`hardlink-of=${Buffer.from(first, 'latin1').toString('hex')}`);
    }
    if (type === 'symlink') facts.push(`target=${(readlinkSync(path, { encoding: 'buffer' }) as Buffer).toString('hex')}`);
    lines.push(facts.join(' '));
    if (type === 'dir') {
      for (const child of (readdir(path, { encoding: 'buffer' }) as Buffer[]).sort(Buffer.compare)) {
        visit(dir, rel.length === 0 ? child : Buffer.concat([rel, Buffer.from('/'), child]));
      }
    }
  };
  visit(Buffer.from(root), Buffer.alloc(0));
  const caps = await exec('getcap', ['-r', root]);
  for (const line of caps.stdout.split('\n').filter((l) => l !== '')) lines.push(`capability ${line.slice(root.length)}`);
  if (extras.xattrs === true) {
    // Every extended attribute but the capabilities listed above, names and values, never following links.
    const dump = await exec('getfattr', ['--recursive', '--physical', '--no-dereference', '--dump', '--match=^user\\.', '--absolute-names', root]);
    for (const line of dump.stdout.split('\n').filter((l) => l !== '')) lines.push(`xattr ${line.startsWith('# file: ') ? `file ${line.slice(8 + root.length)}` : line}`);
  }
  return lines;
}

/** Adds an entry to the journal of the project's lock container, as a later run would have written it. */
export async function appendJournal(project: string, entry: string): Promise<void> {
  const script = 'import io, sys, tarfile\nout = tarfile.open(fileobj=sys.stdout.buffer, mode="w|", format=tarfile.PAX_FORMAT)\ninfo = tarfile.TarInfo("stowage-journal/" + sys.argv[1])\nout.addfile(info, io.BytesIO(b""))\nout.close()\n';
  const made = await exec('sh', ['-c', 'python3 -c "$1" "$2" | docker cp - "$3":/', 'sh', script, `99999999999999-1-000001 ${entry}`, `${project}-stowage-lock`]);
  if (made.code !== 0) throw new Error(`cannot write the lock journal: ${made.stderr}`);
}

/**
 * A zstd on PATH whose first `passes` decompressions run as usual and whose
 * next one waits for open() (at most 120 s). A restore decompresses each tree
 * artifact once (it verifies while it stages), so `passes: 0` holds a restore
 * after it took the lock, mid-stream into staging.
 */
export function countingZstd(dir: string, passes: number): { binDir: string; gated: string; open: () => void } {
  const binDir = join(dir, 'bin');
  mkdirSync(binDir, { recursive: true });
  const gate = join(dir, 'open');
  const gated = join(dir, 'gated');
  const count = join(dir, 'count');
  const real = '/usr/bin/zstd';
  writeFileSync(
    join(binDir, 'zstd'),
    `#!/bin/sh
for a in "$@"; do case "$a" in --version|-V|-h|--help) exec ${real} "$@";; esac; done
n=$(cat '${count}' 2>/dev/null || echo 0); n=$((n + 1)); echo $n > '${count}'
if [ $n -gt ${passes} ]; then
  touch '${gated}'
  i=0; while [ ! -e '${gate}' ] && [ $i -lt 1200 ]; do sleep 0.1; i=$((i+1)); done
fi
exec ${real} "$@"
`,
  );
  chmodSync(join(binDir, 'zstd'), 0o755);
  return { binDir, gated, open: () => existsSync(dir) && writeFileSync(gate, '') };
}

/**
 * Stops (SIGSTOP) every process on this machine that runs a stowage swap
 * script, at once and without asking the engine: a swap caught mid-way stays
 * mid-way until its helper is killed, however busy the machine is (a `docker
 * ps` first could come after the swap finished). Returns the pids stopped.
 */
export function freezeSwaps(): number[] {
  const frozen: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmdline: string;
    try {
      cmdline = readFileSync(`/proc/${entry}/cmdline`, 'latin1');
    } catch {
      continue; // gone meanwhile
    }
    // The helper's own shell (sh -c SCRIPT inside the container), not the docker CLI that started it.
    if (!cmdline.startsWith('sh\0-c\0') || !cmdline.includes(SWAP_PHASE_IN)) continue;
    try {
      process.kill(Number(entry), 'SIGSTOP');
      frozen.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return frozen;
}

/** Running stowage helper containers of a project (a swap in progress, a stream). */
export async function runningHelpers(project: string): Promise<string[]> {
  return (await docker('ps', '--quiet', '--filter', `label=stowage.project=${project}`, '--filter', 'label=stowage.helper=1', '--filter', 'status=running')).split('\n').filter((s) => s !== '');
}

/** A deployed one-volume stack, its volume filled on the host by `populate` (sh, $1 = the volume's directory), and a first backup. */
export async function deployedWithBackup(sb: Sandbox, populate: string, environments: string[] = ['dev']): Promise<{ mountpoint: string; setPath: string; atBackup: string[] }> {
  sb.writeStack(oneVolumeStack(sb.project, environments));
  await createVolume(sb.project, 'data');
  const mountpoint = await mountpointOf(sb.volume('data'));
  await hostShell(populate, mountpoint);
  await runService(sb.project, 'app', { mounts: [['data', '/data']] });
  const r = await sb.cli('backup', ['--to', sb.to, '--json']);
  if (r.code !== 0) throw new Error(`the first backup failed: ${show(r)}`);
  return { mountpoint, setPath: parseJsonDocument<{ path: string }>(r.stdout).path, atBackup: await exactTree(mountpoint) };
}
