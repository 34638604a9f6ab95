import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Model, VolumeModel } from '../config/model.js';
import { killAllStreams, stopStreamsMentioning, type Runner } from '../engine/command.js';
import { docker, type HelperMount } from '../engine/docker.js';
import { imageExists, inspectContainers } from '../engine/inspect.js';
import type { EngineChange, Leftovers } from './backup-set.js';

/**
 * Helper containers and the promise that containers stopped for a consistent
 * copy are started again: after success, after failure, and on SIGINT/SIGTERM.
 */

const stoppedByUs = new Set<string>();
const helpersAlive = new Set<string>();
let handlersInstalled = false;
let criticalSections = 0;
let pendingSignal: NodeJS.Signals | undefined;
let journal: ((change: EngineChange, names: string[]) => void) | undefined;

/**
 * Writes every stop/start and helper create/remove of this process to `sink`
 * (the project lock's journal) until the returned function is called, so that
 * the next run can undo what a SIGKILLed one could not.
 */
export function journalEngineChanges(sink: (change: EngineChange, names: string[]) => void): () => void {
  journal = sink;
  return () => {
    if (journal === sink) journal = undefined;
  };
}

function cleanUpAndExit(signal: NodeJS.Signals): never {
  // Synchronous on purpose: the process is about to exit and must not leave services down.
  // Streams first: an in-flight docker cp would make the helper's removal wait for it.
  killAllStreams();
  if (helpersAlive.size > 0) {
    const removed = spawnSync('docker', ['rm', '--force', ...helpersAlive], { stdio: 'ignore', timeout: 60_000 });
    if (removed.status === 0) journal?.('removed', [...helpersAlive]); // best effort: ProjectLock.note never throws
  }
  if (stoppedByUs.size > 0) {
    process.stderr.write(`\n${signal}: starting ${[...stoppedByUs].join(', ')} again before exiting\n`);
    const started = spawnSync('docker', ['start', ...stoppedByUs], { stdio: 'inherit' });
    if (started.status === 0) journal?.('started', [...stoppedByUs]);
  }
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

function installSignalHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (criticalSections > 0) {
      if (pendingSignal === undefined) process.stderr.write(`\n${signal}: finishing the volume swap in progress first\n`);
      pendingSignal = signal;
      return;
    }
    cleanUpAndExit(signal);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}

/**
 * Work that must not be cut in half by Ctrl-C or SIGTERM (moving a volume's
 * content in place): a signal waits until it is over, then cleans up as usual.
 */
export async function uninterruptible<T>(work: () => Promise<T>): Promise<T> {
  installSignalHandlers();
  criticalSections++;
  try {
    return await work();
  } finally {
    criticalSections--;
    if (criticalSections === 0 && pendingSignal !== undefined) cleanUpAndExit(pendingSignal);
  }
}

/**
 * Stops the given running containers for the duration of `work`, then starts
 * them again whatever happens. `work` may call `resume` to start them as soon
 * as it no longer needs them stopped (the volume has been read, compression
 * still runs): the downtime is the read, not the whole backup.
 */
export async function withStopped<T>(runner: Runner, names: string[], work: (resume: () => Promise<void>) => Promise<T>): Promise<T> {
  if (names.length === 0) return work(() => Promise.resolve());
  installSignalHandlers();
  for (const name of names) stoppedByUs.add(name);
  let starting: Promise<void> | undefined;
  const resume = (): Promise<void> => {
    starting ??= (async () => {
      try {
        await runner.run(docker.start(names));
        journal?.('started', names);
      } finally {
        for (const name of names) stoppedByUs.delete(name);
      }
    })();
    return starting;
  };
  try {
    journal?.('stopped', names);
    await runner.run(docker.stop(names));
    return await work(resume);
  } finally {
    await resume();
  }
}

export function uniqueSuffix(): string {
  return `${Date.now().toString(36)}-${randomBytes(3).toString('hex')}`;
}

/** The mount that gives a helper access to a volume's content. */
export function volumeMount(volume: VolumeModel, target: string, readOnly: boolean): HelperMount {
  return volume.kind === 'bind'
    ? { type: 'bind', source: volume.hostPath ?? '', target, readOnly }
    : { type: 'volume', source: volume.name, target, readOnly };
}

/** Creates a never-started helper for the duration of `work` and always removes it. */
export async function withHelper<T>(
  runner: Runner,
  model: Model,
  image: string,
  mounts: HelperMount[],
  work: (name: string) => Promise<T>,
): Promise<T> {
  installSignalHandlers();
  const name = `${model.project}-stowage-helper-${uniqueSuffix()}`;
  journal?.('helper', [name]);
  await runner.run(docker.createHelper(name, image, mounts, { 'stowage.project': model.project, 'stowage.env': model.env }));
  helpersAlive.add(name);
  try {
    return await work(name);
  } finally {
    await stopStreamsMentioning(name);
    helpersAlive.delete(name);
    const removed = await runner.run(docker.removeContainer(name), { allowFailure: true });
    if (removed.code === 0) journal?.('removed', [name]);
  }
}

/** How long after stowage's `docker stop` a container may take to stop (its stop timeout, with margin). */
const STOP_WINDOW_MS = 60_000;

/**
 * Undoes what earlier runs left on the engine (SIGKILL, power loss, a start
 * that failed): removes their helpers and starts the containers they stopped
 * that are still stopped, unless the container stopped again later than
 * stowage stopped it (then someone else stopped it: it is left alone, and
 * said so). Every step goes into this run's journal; a start that fails only
 * warns and stays open for the next run. Returns one line per action.
 */
export async function recoverLeftovers(runner: Runner, leftovers: Leftovers): Promise<string[]> {
  const done: string[] = [];
  const helpers = (await inspectContainers(runner, leftovers.helpers)).map((c) => c.Name);
  for (const helper of helpers) {
    const removed = await runner.run(docker.removeContainer(helper), { allowFailure: true });
    if (removed.code === 0) journal?.('removed', [helper]);
  }
  const gone = leftovers.helpers.filter((h) => !helpers.includes(h));
  if (gone.length > 0) journal?.('removed', gone);
  if (helpers.length > 0) done.push(`removed helper container${helpers.length > 1 ? 's' : ''} ${helpers.join(', ')} left by an interrupted run (${leftovers.owner})`);

  const states = await inspectContainers(runner, leftovers.stopped.map((s) => s.name));
  for (const { name, at } of leftovers.stopped) {
    const state = states.find((c) => c.Name === name);
    if (state === undefined || state.State.Running) {
      journal?.('forgotten', [name]); // removed, or running again: nothing left to undo
      continue;
    }
    const finished = Date.parse(state.State.FinishedAt ?? '');
    // Times compare only on a local engine: a remote one's clock may differ from ours.
    const localEngine = (process.env['DOCKER_HOST'] ?? 'unix://').startsWith('unix://');
    if (localEngine && at !== undefined && Number.isFinite(finished) && finished > at + STOP_WINDOW_MS) {
      journal?.('forgotten', [name]);
      done.push(`left ${name} stopped: an interrupted run (${leftovers.owner}) had stopped it at ${new Date(at).toISOString()}, but it stopped again at ${state.State.FinishedAt ?? '?'}, so someone else stopped it since`);
      continue;
    }
    const started = await runner.run(docker.start([name]), { allowFailure: true });
    if (started.code === 0) {
      journal?.('started', [name]);
      done.push(`started ${name} again: an interrupted run (${leftovers.owner}) had stopped it`);
    } else {
      done.push(`warning: could not start ${name}, which an interrupted run (${leftovers.owner}) had stopped: ${started.stderr.trim()}; start it by hand (docker start ${name})`);
    }
  }
  return done;
}

/**
 * The image for helper containers: STOWAGE_HELPER_IMAGE, the stack's
 * helper.image, then the images of services that mount the volume (present on
 * the engine already), then any service's image. Scripts run by a helper need
 * a POSIX shell; busybox is enough.
 */
export async function helperImage(runner: Runner, model: Model, volumeKey: string | undefined): Promise<string> {
  const mounting = model.containers.filter((c) => volumeKey !== undefined && c.mounts.some((m) => m.volume === volumeKey)).map((c) => c.image);
  const candidates = [process.env['STOWAGE_HELPER_IMAGE'], model.helperImage, ...mounting, ...model.containers.map((c) => c.image)].filter(
    (c): c is string => c !== undefined && c !== '',
  );
  for (const image of [...new Set(candidates)]) {
    if (await imageExists(runner, image)) return image;
  }
  throw new Error(
    `no helper image available on the engine (tried ${[...new Set(candidates)].join(', ') || 'none'}); ` +
      'set helper.image in the stack file or STOWAGE_HELPER_IMAGE to an image with a POSIX shell (e.g. busybox) and pull or build it',
  );
}
