import { randomBytes } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { LABEL } from '../config/model.js';
import { CommandFailed, startStreaming, type Runner } from '../engine/command.js';
import { HELPER_LABEL, RUN_LABEL, docker } from '../engine/docker.js';
import { currentEngine, dockerEnvironment, type EngineEndpoint } from '../engine/endpoint.js';
import { imageExists, inspectContainers, type ContainerState } from '../engine/inspect.js';
import { END_OF_ARCHIVE, encodeHeader, walkTar } from '../engine/tar-format.js';
import { currentProcess, ownerGone, type ProcessOwner } from './process-owner.js';

/**
 * The project lock: one per project and engine, held on the engine itself as
 * a never-started container named `<project>-stowage-lock`. Container names
 * are unique per engine, so creating it is atomic, and every operator, cron
 * job and machine that talks to the engine sees the same lock whatever
 * backup root it uses.
 *
 * The container also keeps the lock's recovery journal: one empty file per
 * change, in /stowage-journal, each written before the change is made, so
 * that the next run can undo what a SIGKILLed one could not. A file appears
 * whole or not at all (its name is the entry). The owner refreshes a
 * heartbeat file while it runs, which lets a machine that cannot check the
 * owner's pid see that the owner is gone.
 */

const LOCK_LABEL = 'stowage.lock';
const OWNER = { host: 'stowage.lock.host', pid: 'stowage.lock.pid', started: 'stowage.lock.started', command: 'stowage.lock.command', since: 'stowage.lock.since' } as const;
const JOURNAL_DIR = 'stowage-journal';
/** Environment variable by which a parent run (a runbook) hands its lock to the commands it runs. */
export const LOCK_ENV = 'STOWAGE_LOCK_RUN';
const HEARTBEAT_MS = 30_000;
/** A lock whose owner cannot be checked (another host) is stale after this long without a heartbeat. */
const LEASE_MS = 150_000;

export function lockName(project: string): string {
  return `${project}-stowage-lock`;
}

/** A volume as the journal names it: a named volume, or a host directory (bind). */
export type VolumeRef = { kind: 'volume'; name: string } | { kind: 'bind'; path: string };

export function volumeRefText(ref: VolumeRef): string {
  return ref.kind === 'volume' ? `volume:${ref.name}` : `bind:${encodeURIComponent(ref.path)}`;
}

function parseVolumeRef(text: string): VolumeRef | undefined {
  if (text.startsWith('volume:') && text.length > 7) return { kind: 'volume', name: text.slice(7) };
  if (text.startsWith('bind:') && text.length > 5) {
    try {
      return { kind: 'bind', path: decodeURIComponent(text.slice(5)) };
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * What a run changed on the engine that it must undo:
 * `stopped NAME AT` / `started NAME` / `forgotten NAME` (no longer ours to
 * undo), `restoring VOLUME` (a restore staged content in it, perhaps began to
 * swap it in) / `restored VOLUME`, and `released` (the run ended, leaving open
 * entries for the next one).
 */
export type JournalEntry =
  | { kind: 'stopped'; container: string; at: number }
  | { kind: 'started' | 'forgotten'; container: string }
  | { kind: 'restoring' | 'restored'; volume: VolumeRef }
  | { kind: 'released' };

function entryText(entry: JournalEntry): string {
  switch (entry.kind) {
    case 'stopped':
      return `stopped ${entry.container} ${entry.at}`;
    case 'started':
    case 'forgotten':
      return `${entry.kind} ${entry.container}`;
    case 'restoring':
    case 'restored':
      return `${entry.kind} ${volumeRefText(entry.volume)}`;
    case 'released':
      return 'released';
  }
}

export function parseEntry(text: string): JournalEntry | undefined {
  const [kind, arg, at] = text.split(' ');
  switch (kind) {
    case 'stopped':
      return arg !== undefined && at !== undefined && /^\d+$/.test(at) ? { kind, container: arg, at: Number(at) } : undefined;
    case 'started':
    case 'forgotten':
      return arg !== undefined && arg !== '' ? { kind, container: arg } : undefined;
    case 'restoring':
    case 'restored': {
      const volume = parseVolumeRef(arg ?? '');
      return volume === undefined ? undefined : { kind, volume };
    }
    case 'released':
      return { kind };
    default:
      return undefined;
  }
}

/** What earlier runs left undone: containers they stopped, volumes they were restoring. */
export interface Leftovers {
  /** Who left them, for messages. */
  owner: string;
  stopped: Array<{ container: string; at: number }>;
  restoring: VolumeRef[];
  /** Run ids whose helper containers may still exist. */
  runs: string[];
}

/** Replays journal entries in order. */
export function leftoversOf(owner: string, runs: string[], entries: JournalEntry[]): Leftovers {
  const stopped = new Map<string, number>();
  const restoring = new Map<string, VolumeRef>();
  for (const e of entries) {
    if (e.kind === 'stopped') stopped.set(e.container, e.at);
    else if (e.kind === 'started' || e.kind === 'forgotten') stopped.delete(e.container);
    else if (e.kind === 'restoring') restoring.set(volumeRefText(e.volume), e.volume);
    else if (e.kind === 'restored') restoring.delete(volumeRefText(e.volume));
  }
  return { owner, stopped: [...stopped].map(([container, at]) => ({ container, at })), restoring: [...restoring.values()], runs };
}

export function hasWork(l: Leftovers): boolean {
  return l.stopped.length > 0 || l.restoring.length > 0 || l.runs.length > 0;
}

function openEntries(l: Leftovers): JournalEntry[] {
  return [...l.stopped.map((s): JournalEntry => ({ kind: 'stopped', container: s.container, at: s.at })), ...l.restoring.map((v): JournalEntry => ({ kind: 'restoring', volume: v }))];
}

interface LockState {
  id: string;
  runId: string | undefined;
  owner: ProcessOwner | undefined;
  command: string;
  since: string;
}

function lockStateOf(c: ContainerState): LockState {
  const labels = c.Config.Labels ?? {};
  const pid = Number(labels[OWNER.pid]);
  const host = labels[OWNER.host];
  const owner = host !== undefined && host !== '' && Number.isInteger(pid) && pid > 0 ? { host, pid, started: labels[OWNER.started] ?? '' } : undefined;
  return { id: c.Id, runId: labels[RUN_LABEL], owner, command: labels[OWNER.command] ?? '?', since: labels[OWNER.since] ?? '?' };
}

interface JournalRead {
  entries: JournalEntry[];
  heartbeat: number | undefined;
  unreadable: string | undefined;
}

/** Journal file names sort in the order they were written: `<epoch ms>-<pid>-<n> <entry>`. */
function journalFileName(entry: JournalEntry, counter: number): string {
  return `${String(Date.now()).padStart(14, '0')}-${process.pid}-${String(counter).padStart(6, '0')} ${entryText(entry)}`;
}

function journalArchive(files: Array<{ name: string; mtime: number }>): Buffer {
  return Buffer.concat([
    ...files.map((f) => encodeHeader({ name: `${JOURNAL_DIR}/${f.name}`, linkname: '', typeflag: '0', size: 0, mode: 0o600, uid: 0, gid: 0, mtime: f.mtime, devmajor: 0, devminor: 0, pax: new Map() })),
    END_OF_ARCHIVE,
  ]);
}

async function readJournal(container: string, engine: EngineEndpoint = currentEngine()): Promise<JournalRead> {
  const proc = startStreaming(docker.archiveReadPath(container, `/${JOURNAL_DIR}`), { stdin: 'ignore', stdout: 'pipe' }, engine);
  const stdout = proc.child.stdout;
  if (stdout === null) throw new Error('docker cp produced no stream');
  const files: Array<{ name: string; mtime: number }> = [];
  try {
    await Promise.all([
      walkTar(stdout, {
        entry(e) {
          const slash = e.name.indexOf('/');
          if (e.kind === 'file' && slash !== -1) files.push({ name: Buffer.from(e.name.slice(slash + 1), 'latin1').toString('utf8'), mtime: e.mtime });
        },
      }),
      proc.done,
    ]);
  } catch (err) {
    if (err instanceof CommandFailed && /Could not find the file|No such container:path/.test(err.result.stderr)) return { entries: [], heartbeat: undefined, unreadable: undefined };
    return { entries: [], heartbeat: undefined, unreadable: err instanceof Error ? err.message.split('\n')[0] ?? err.message : String(err) };
  }
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  let heartbeat: number | undefined;
  const entries: JournalEntry[] = [];
  for (const f of files) {
    if (f.name === 'heartbeat') {
      heartbeat = f.mtime * 1000;
      continue;
    }
    const space = f.name.indexOf(' ');
    const parsed = space === -1 ? undefined : parseEntry(f.name.slice(space + 1));
    if (parsed !== undefined) entries.push(parsed);
  }
  return { entries, heartbeat, unreadable: undefined };
}

export class LockBusy extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LockBusy';
  }
}

/** The lock container's image: empty, made here on first use (no registry), never run. */
export const LOCK_IMAGE = 'stowage/lock:1';

async function ensureLockImage(runner: Runner): Promise<void> {
  if (await imageExists(runner, LOCK_IMAGE)) return;
  // An empty tar: two zero blocks.
  const made = await runner.run(docker.importImage(LOCK_IMAGE), { allowFailure: true, input: Buffer.alloc(1024) });
  if (made.code !== 0 && !(await imageExists(runner, LOCK_IMAGE))) throw new Error(`cannot make the lock image ${LOCK_IMAGE}: ${made.stderr.trim()}`);
}

export interface AcquireOptions {
  project: string;
  /** What takes the lock, for messages to whoever waits: `backup`, `restore`, ... */
  command: string;
  log: (line: string) => void;
}

export class EngineLock {
  private counter = 0;
  private heartbeat: NodeJS.Timeout | undefined;
  private warned = false;
  private released = false;
  /** Every entry this run wrote (inherited ones included), in order: what the journal holds, unless a child process wrote too. */
  private readonly written: JournalEntry[] = [];
  /** `started` entries not written yet: written with the next entry, or never when the lock goes right after. */
  private pending: JournalEntry[] = [];
  /** Set once a child process (a runbook step) may write into this journal: then only reading it tells what is open. */
  private shared = false;

  /** The engine the lock lives on: its journal, heartbeat and release go there, even from a signal handler. */
  private readonly engine: EngineEndpoint = currentEngine();

  private constructor(
    private readonly runner: Runner,
    readonly name: string,
    readonly runId: string,
    /** True when this process joined a lock its parent holds (a runbook step): it must not release it. */
    readonly joined: boolean,
    /** What earlier runs left undone, when there is anything. */
    readonly inherited: Leftovers | undefined,
  ) {}

  /**
   * Takes the project's lock on the engine. A lock whose owner is gone (same
   * host: pid dead or reused; other host: no heartbeat for a while), a lock
   * without an owner, and a released one are stale: their journal is handed to
   * this run (and copied into its own journal at once), the stale container is
   * removed by its id (never a newer lock of the same name) and a new one made.
   */
  static async acquire(runner: Runner, options: AcquireOptions): Promise<EngineLock> {
    const name = lockName(options.project);
    const parentRun = process.env[LOCK_ENV];
    let inherited: Leftovers | undefined;
    for (let attempt = 0; attempt < 5; attempt++) {
      // The first attempt just creates the lock (most runs find none); only a conflict makes us look at the holder.
      const [existing] = attempt === 0 ? [] : await inspectContainers(runner, [name]);
      if (existing !== undefined) {
        const state = lockStateOf(existing);
        // A runbook's steps (child processes) and an operation inside another (clean-start's backup) work under the lock they are part of.
        if (parentRun !== undefined && state.runId === parentRun) return new EngineLock(runner, name, parentRun, true, undefined);
        const me = currentProcess();
        if (state.runId !== undefined && state.owner !== undefined && state.owner.host === me.host && state.owner.pid === me.pid && state.owner.started === me.started) {
          return new EngineLock(runner, name, state.runId, true, undefined);
        }
        const journal = await readJournal(name);
        const stale = staleness(state, journal);
        if (stale === undefined) {
          const who = state.owner === undefined ? 'an unknown owner' : `pid ${state.owner.pid} on ${state.owner.host}`;
          throw new LockBusy(
            `another stowage run holds the lock of project ${options.project} on this engine (${state.command}, ${who}, since ${state.since}); ` +
              `wait for it to finish. If that process is gone for good, remove the lock with: docker rm ${name}`,
          );
        }
        options.log(`taking over the lock of project ${options.project}: ${stale}`);
        const left = leftoversOf(`a ${state.command} run (${state.owner === undefined ? 'owner unknown' : `pid ${state.owner.pid} on ${state.owner.host}`}, since ${state.since})`, state.runId === undefined ? [] : [state.runId], journal.entries);
        inherited = inherited === undefined ? left : mergeLeftovers(inherited, left);
        await runner.run(docker.removeContainer(state.id), { allowFailure: true });
        continue;
      }
      const runId = `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
      const me = currentProcess();
      const labels = {
        [LOCK_LABEL]: '1',
        [HELPER_LABEL]: '1',
        [LABEL.project]: options.project,
        [RUN_LABEL]: runId,
        [OWNER.host]: me.host,
        [OWNER.pid]: String(me.pid),
        [OWNER.started]: me.started,
        [OWNER.command]: options.command,
        [OWNER.since]: new Date().toISOString(),
      };
      let created = await runner.run(docker.createLock(name, LOCK_IMAGE, labels), { allowFailure: true });
      if (created.code !== 0 && /No such image/i.test(created.stderr)) {
        await ensureLockImage(runner);
        created = await runner.run(docker.createLock(name, LOCK_IMAGE, labels), { allowFailure: true });
      }
      if (created.code !== 0) {
        if (/Conflict|already in use/.test(created.stderr)) continue; // someone else was faster: look again
        throw new Error(`cannot create the lock container ${name}: ${created.stderr.trim()}`);
      }
      const open = inherited !== undefined && hasWork(inherited) ? inherited : undefined;
      const lock = new EngineLock(runner, name, runId, false, open);
      if (open !== undefined) await lock.write(openEntries(open));
      lock.startHeartbeat();
      return lock;
    }
    throw new LockBusy(`cannot take the lock of project ${options.project}: it keeps changing hands; try again`);
  }

  /** Environment for child processes (runbook steps) that must work under this lock. */
  childEnvironment(): Record<string, string> {
    this.shared = true;
    return { [LOCK_ENV]: this.runId };
  }

  /**
   * Records a change before it is made. Best effort: an engine that cannot take
   * the write must not keep a writer from being started again, so a failure only warns.
   */
  async note(entry: JournalEntry): Promise<void> {
    // A container started again closes its `stopped` entry. Should this run die before that
    // reaches the journal, the next run starts an already running container: a no-op. So it
    // waits for the next write, and costs nothing when the lock is removed right after.
    if (entry.kind === 'started' && !this.shared) {
      this.pending.push(entry);
      return;
    }
    const entries = [...this.pending, entry];
    this.pending = [];
    await this.write(entries);
  }

  /** The same, from a signal handler that cannot wait for promises. */
  noteSync(entry: JournalEntry): void {
    const write = docker.archiveWrite(this.name, '/');
    const result = spawnSync(write.program, write.args, {
      input: journalArchive([{ name: journalFileName(entry, ++this.counter), mtime: Date.now() / 1000 }]),
      env: dockerEnvironment(this.engine),
      stdio: ['pipe', 'ignore', 'pipe'],
      timeout: 30_000,
    });
    if (result.status !== 0) this.warn(result.stderr.toString().trim());
  }

  private async write(entries: JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    this.written.push(...entries);
    const archive = journalArchive(entries.map((e) => ({ name: journalFileName(e, ++this.counter), mtime: Date.now() / 1000 })));
    const result = await this.runner.run(docker.archiveWrite(this.name, '/'), { allowFailure: true, input: archive, engine: this.engine });
    if (result.code !== 0) this.warn(result.stderr.trim());
  }

  private warn(detail: string): void {
    if (!this.warned) process.stderr.write(`warning: cannot write the lock journal in ${this.name} (${detail}); if this run is killed, start its stopped containers by hand\n`);
    this.warned = true;
  }

  private startHeartbeat(): void {
    const beat = (): void => {
      const proc = startStreaming(docker.archiveWrite(this.name, '/'), { stdin: 'pipe', stdout: 'ignore' }, this.engine);
      proc.done.catch(() => undefined);
      proc.child.stdin?.on('error', () => undefined);
      proc.child.stdin?.end(journalArchive([{ name: 'heartbeat', mtime: Date.now() / 1000 }]));
    };
    this.heartbeat = setInterval(beat, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** What is still open in this lock's journal (this run's and what it inherited). */
  async open(): Promise<Leftovers> {
    const journal = await readJournal(this.name, this.engine);
    return leftoversOf('this run', [], journal.entries);
  }

  /**
   * Removes the lock. When the journal still holds open entries (a container
   * that could not be started), the lock stays, marked released: the next run
   * takes it over at once and finishes the work.
   */
  async release(): Promise<void> {
    if (this.released || this.joined) return;
    this.released = true;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    // Only this run wrote the journal: what it remembers is what the journal holds, no need to read it back.
    const left = this.shared ? await this.open().catch(() => undefined) : leftoversOf('this run', [], [...this.written, ...this.pending]);
    if (left !== undefined && hasWork({ ...left, runs: [] })) {
      await this.note({ kind: 'released' });
      return;
    }
    await this.runner.run(docker.removeContainer(this.name), { allowFailure: true, engine: this.engine });
  }

  /** Synchronous release for a signal handler: the lock goes, unless something is left open. */
  releaseSync(leftOpen: boolean): void {
    if (this.released || this.joined) return;
    this.released = true;
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    if (leftOpen) this.noteSync({ kind: 'released' });
    else spawnSync('docker', ['rm', '--force', this.name], { env: dockerEnvironment(this.engine), stdio: 'ignore', timeout: 30_000 });
  }
}

function mergeLeftovers(a: Leftovers, b: Leftovers): Leftovers {
  const stopped = [...a.stopped, ...b.stopped.filter((s) => !a.stopped.some((t) => t.container === s.container))];
  const restoring = [...a.restoring, ...b.restoring.filter((v) => !a.restoring.some((w) => volumeRefText(w) === volumeRefText(v)))];
  return { owner: `${a.owner}; ${b.owner}`, stopped, restoring, runs: [...new Set([...a.runs, ...b.runs])] };
}

/** Why a lock is stale, or undefined when its owner may still be working. */
export function staleness(state: Pick<LockState, 'owner' | 'since'>, journal: Pick<JournalRead, 'entries' | 'heartbeat' | 'unreadable'>, now = Date.now()): string | undefined {
  if (state.owner === undefined) return 'the lock names no owner (an empty or foreign lock)';
  if (journal.entries.some((e) => e.kind === 'released')) return 'its run ended and left work for the next one';
  if (ownerGone(state.owner)) return `its owner, pid ${state.owner.pid} on this host, is gone`;
  if (state.owner.host !== currentProcess().host) {
    const last = journal.heartbeat ?? Date.parse(state.since);
    if (Number.isFinite(last) && now - last > LEASE_MS) return `its owner on ${state.owner.host} has not been heard of for ${Math.round((now - last) / 1000)} s`;
    if (journal.unreadable !== undefined && !Number.isFinite(last)) return `its journal is unreadable (${journal.unreadable})`;
  }
  return undefined;
}
