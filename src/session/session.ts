import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { LABEL, type Model, type VolumeModel } from '../config/model.js';
import { stopStreamsMentioning, type Runner } from '../engine/command.js';
import { HELPER_LABEL, RUN_LABEL, docker, type HelperMount } from '../engine/docker.js';
import { engineIsLocal } from '../engine/endpoint.js';
import { imageExists, inspectContainers, inspectVolumes, type ContainerState } from '../engine/inspect.js';
import { SwapIncomplete, finishPendingRestore } from '../backup/pending-restore.js';
import { EngineLock, volumeRefText, type Leftovers, type VolumeRef } from './lock.js';
import { interrupts } from './signals.js';

/**
 * An engine session: the runner, the project lock and everything a run
 * changes on the engine. Operations that change volumes or containers get a
 * session and do those changes through it (stopping and starting writers,
 * creating and removing helpers), so that every change is journaled in the
 * lock and undone after a crash, and none can be forgotten.
 */

/** How long after stowage's `docker stop` a container may take to stop (its stop timeout, with margin). */
const STOP_WINDOW_MS = 60_000;

export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** The mount that gives a helper access to a volume's content. */
export function volumeMount(volume: VolumeModel, target: string, readOnly: boolean): HelperMount {
  return volume.kind === 'bind' ? { type: 'bind', source: volume.hostPath ?? '', target, readOnly } : { type: 'volume', source: volume.name, target, readOnly };
}

export function volumeRef(volume: VolumeModel): VolumeRef {
  return volume.kind === 'bind' ? { kind: 'bind', path: volume.hostPath ?? '' } : { kind: 'volume', name: volume.name };
}

function mountOfRef(ref: VolumeRef, target: string): HelperMount {
  return ref.kind === 'bind' ? { type: 'bind', source: ref.path, target, readOnly: false } : { type: 'volume', source: ref.name, target, readOnly: false };
}

function mountsRef(c: ContainerState, ref: VolumeRef): boolean {
  return c.Mounts.some((m) => (ref.kind === 'bind' ? m.Type === 'bind' && m.Source === ref.path : m.Name === ref.name));
}

/**
 * The image for helper containers: STOWAGE_HELPER_IMAGE, the stack's
 * helper.image, then the images of services that mount the volume (present on
 * the engine already), then any service's image. Scripts run by a helper need
 * a POSIX shell; busybox is enough.
 */
export async function helperImage(runner: Runner, model: Model, volumeKey: string | undefined): Promise<string> {
  const mounting = model.containers.filter((c) => volumeKey !== undefined && c.mounts.some((m) => m.volume === volumeKey)).map((c) => c.image);
  const candidates = [process.env['STOWAGE_HELPER_IMAGE'], model.helperImage, ...mounting, ...model.containers.map((c) => c.image)].filter((c): c is string => c !== undefined && c !== '');
  for (const image of [...new Set(candidates)]) {
    if (await imageExists(runner, image)) return image;
  }
  throw new Error(
    `no helper image available on the engine (tried ${[...new Set(candidates)].join(', ') || 'none'}); ` +
      'set helper.image in the stack file or STOWAGE_HELPER_IMAGE to an image with a POSIX shell (e.g. busybox) and pull or build it',
  );
}

export class EngineSession {
  /** What recovery did when the session opened (one line each), for the run's report. */
  readonly recovered: string[] = [];
  /** Containers that must stay stopped: a volume they mount is not whole yet. */
  private readonly held = new Set<string>();

  private constructor(
    readonly runner: Runner,
    readonly model: Model,
    private readonly lock: EngineLock | undefined,
    private readonly log: (line: string) => void,
  ) {}

  /**
   * Opens a session that holds the project's lock (none in a dry run) and
   * first undoes what earlier runs left: their helpers, their half-done
   * restores, the containers they stopped.
   */
  static async open(runner: Runner, model: Model, command: string, log: (line: string) => void): Promise<EngineSession> {
    if (runner.dryRun) return new EngineSession(runner, model, undefined, log);
    const lock = await EngineLock.acquire(runner, { project: model.project, command, log });
    const session = new EngineSession(runner, model, lock, log);
    interrupts.install();
    if (!lock.joined) interrupts.attach({ started: (names) => names.forEach((n) => lock.noteSync({ kind: 'started', container: n })), release: (leftOpen) => lock.releaseSync(leftOpen) });
    try {
      if (lock.inherited !== undefined) await session.recover(lock.inherited);
    } catch (err) {
      await session.close();
      throw err;
    }
    return session;
  }

  /** A session without a lock, for commands that only read (and for dry runs). */
  static unlocked(runner: Runner, model: Model, log: (line: string) => void = () => undefined): EngineSession {
    return new EngineSession(runner, model, undefined, log);
  }

  /** Runs `work` in a session that is always closed afterwards. */
  static async with<T>(runner: Runner, model: Model, command: string, log: (line: string) => void, work: (session: EngineSession) => Promise<T>): Promise<T> {
    const session = await EngineSession.open(runner, model, command, log);
    try {
      return await work(session);
    } finally {
      await session.close();
    }
  }

  /** Labels of everything this session creates: recovery finds a dead run's helpers by them. */
  labels(): Record<string, string> {
    return { [LABEL.project]: this.model.project, [LABEL.env]: this.model.env, ...(this.lock === undefined ? {} : { [RUN_LABEL]: this.lock.runId }) };
  }

  /** Environment for child processes that must work under this session's lock (runbook steps). */
  childEnvironment(): Record<string, string> {
    return this.lock?.childEnvironment() ?? {};
  }

  async close(): Promise<void> {
    if (this.lock !== undefined && !this.lock.joined) interrupts.attach(undefined);
    await this.lock?.release();
  }

  /** Journals that a restore begins to stage content in the volume (before anything is written there). */
  async restoring(volume: VolumeModel): Promise<void> {
    await this.lock?.note({ kind: 'restoring', volume: volumeRef(volume) });
  }

  /** Journals that the volume is whole again (swapped in, or the staged copy removed). */
  async restored(volume: VolumeModel): Promise<void> {
    await this.lock?.note({ kind: 'restored', volume: volumeRef(volume) });
  }

  /** These containers stay stopped, even when the work that stopped them ends: a volume they mount is not whole. */
  hold(names: string[]): void {
    for (const n of names) this.held.add(n);
    interrupts.hold(names);
  }

  /**
   * Stops the given running containers for the duration of `work`, then
   * starts them again whatever happens, except those held. `work` may call
   * `resume` to start them as soon as it no longer needs them stopped.
   */
  async withStopped<T>(names: string[], work: (resume: () => Promise<void>) => Promise<T>): Promise<T> {
    if (names.length === 0) return work(() => Promise.resolve());
    interrupts.install();
    interrupts.stopped(names);
    let starting: Promise<void> | undefined;
    const resume = (): Promise<void> => {
      starting ??= (async () => {
        const toStart = names.filter((n) => !this.held.has(n));
        try {
          if (toStart.length > 0) {
            await this.runner.run(docker.start(toStart));
            for (const n of toStart) await this.lock?.note({ kind: 'started', container: n });
          }
        } finally {
          interrupts.startedAgain(toStart);
        }
      })();
      return starting;
    };
    let failed = false;
    try {
      const at = Date.now();
      for (const n of names) await this.lock?.note({ kind: 'stopped', container: n, at });
      await this.runner.run(docker.stop(names, this.graceSeconds(names)));
      return await work(resume);
    } catch (err) {
      failed = true;
      throw err;
    } finally {
      try {
        await resume();
      } catch (err) {
        const message =
          `could not start ${names.join(', ')} again (${err instanceof Error ? err.message.split('\n')[0] ?? '' : String(err)}); ` +
          `the next stowage run for this stack starts ${names.length === 1 ? 'it' : 'them'} (or: docker start ${names.join(' ')})`;
        // The first failure is the one to report; this one is said on the side.
        if (failed) this.log(`warning: ${message}`);
        else throw new Error(message);
      }
    }
  }

  /**
   * How long `docker stop` waits before it kills: the longest grace period the
   * stack gives these containers (a database gets 30 s to shut down cleanly),
   * 10 s for containers the stack does not declare.
   */
  graceSeconds(names: string[]): number {
    return Math.max(10, ...names.map((n) => this.model.containers.find((c) => c.name === n)?.stopGraceSeconds ?? 10));
  }

  /** Creates a never-started helper for the duration of `work` and always removes it. */
  async withHelper<T>(image: string, mounts: HelperMount[], work: (name: string) => Promise<T>): Promise<T> {
    interrupts.install();
    const name = `${this.model.project}-stowage-helper-${uniqueSuffix()}`;
    await this.runner.run(docker.createHelper(name, image, mounts, this.labels()));
    interrupts.helperCreated(name);
    try {
      return await work(name);
    } finally {
      await stopStreamsMentioning(name);
      interrupts.helperRemoved(name);
      await this.runner.run(docker.removeContainer(name), { allowFailure: true });
    }
  }

  /** Finishes (or cleans up) a pending restore in the volume; throws SwapIncomplete when it cannot. */
  async finishPendingRestore(volume: VolumeModel, image: string): Promise<string> {
    const outcome = await finishPendingRestore(this.runner, image, volumeMount(volume, '/v', false), this.labels());
    await this.restored(volume);
    return outcome;
  }

  private async stillThere(ref: VolumeRef): Promise<boolean> {
    if (ref.kind === 'volume') return (await inspectVolumes(this.runner, [ref.name])).length > 0;
    return !engineIsLocal() || existsSync(ref.path);
  }

  /**
   * Undoes what earlier runs left on the engine: removes their helpers,
   * finishes or cleans up their restores, and starts the containers they
   * stopped that are still stopped, unless the container stopped again later
   * than stowage stopped it (someone else stopped it since: left alone, and
   * said so) or a volume it mounts could not be made whole.
   */
  private async recover(left: Leftovers): Promise<void> {
    const say = (line: string): void => {
      this.recovered.push(line);
      this.log(line);
    };
    for (const run of left.runs) {
      const ids = (await this.runner.output(docker.listByLabels({ [RUN_LABEL]: run, [HELPER_LABEL]: '1' }))).split('\n').filter((id) => id !== '');
      if (ids.length === 0) continue;
      await this.runner.run(docker.removeContainers(ids), { allowFailure: true });
      say(`removed ${ids.length} helper container${ids.length > 1 ? 's' : ''} left by an interrupted run (${left.owner})`);
    }
    const blocked: VolumeRef[] = [];
    const image = left.restoring.length > 0 ? await helperImage(this.runner, this.model, undefined) : '';
    for (const ref of left.restoring) {
      const where = ref.kind === 'volume' ? `volume ${ref.name}` : `directory ${ref.path}`;
      // A volume removed since has nothing left to finish; mounting it would create it anew.
      if (!(await this.stillThere(ref))) {
        await this.lock?.note({ kind: 'restored', volume: ref });
        continue;
      }
      try {
        const outcome = await finishPendingRestore(this.runner, image, mountOfRef(ref, '/v'), this.labels());
        await this.lock?.note({ kind: 'restored', volume: ref });
        say(
          outcome === 'finished'
            ? `finished the restore an interrupted run (${left.owner}) had begun to swap into ${where}`
            : outcome === 'rolled back'
              ? `put the previous content of ${where} back: an interrupted run's swap could not be finished`
              : `removed the staged copy an interrupted restore (${left.owner}) left in ${where}; its content is as it was`,
        );
      } catch (err) {
        if (!(err instanceof SwapIncomplete)) throw err;
        blocked.push(ref);
        say(`warning: ${err.message}; containers that mount ${where} stay stopped until it is finished`);
      }
    }
    const states = await inspectContainers(this.runner, left.stopped.map((s) => s.container));
    for (const { container, at } of left.stopped) {
      const state = states.find((c) => c.Name === container);
      if (state === undefined || state.State.Running) {
        await this.lock?.note({ kind: 'forgotten', container }); // removed, or running again: nothing left to undo
        continue;
      }
      const waiting = blocked.filter((ref) => mountsRef(state, ref));
      if (waiting.length > 0) {
        this.hold([container]);
        say(`left ${container} stopped: ${waiting.map(volumeRefText).join(', ')} is not whole yet`);
        continue;
      }
      const finished = Date.parse(state.State.FinishedAt ?? '');
      // Times compare only on a local engine: a remote one's clock may differ from ours.
      if (engineIsLocal() && Number.isFinite(finished) && finished > at + STOP_WINDOW_MS) {
        await this.lock?.note({ kind: 'forgotten', container });
        say(`left ${container} stopped: an interrupted run (${left.owner}) had stopped it at ${new Date(at).toISOString()}, but it stopped again at ${state.State.FinishedAt ?? '?'}, so someone else stopped it since`);
        continue;
      }
      const started = await this.runner.run(docker.start([container]), { allowFailure: true });
      if (started.code === 0) {
        await this.lock?.note({ kind: 'started', container });
        say(`started ${container} again: an interrupted run (${left.owner}) had stopped it`);
      } else {
        say(`warning: could not start ${container}, which an interrupted run (${left.owner}) had stopped: ${started.stderr.trim()}; start it by hand (docker start ${container})`);
      }
    }
  }
}

/** A helper for one change to a volume (a secrets file written), under the project lock. */
export function withLockedHelper<T>(runner: Runner, model: Model, command: string, image: string, mounts: HelperMount[], work: (name: string) => Promise<T>): Promise<T> {
  return EngineSession.with(runner, model, command, (line) => process.stderr.write(`${line}\n`), (session) => session.withHelper(image, mounts, work));
}

/** A helper for reading a volume (inspect, a secrets check, a drill's comparison): no lock, nothing changes. */
export function withReadingHelper<T>(runner: Runner, model: Model, image: string, mounts: HelperMount[], work: (name: string) => Promise<T>): Promise<T> {
  return EngineSession.unlocked(runner, model).withHelper(image, mounts, work);
}
