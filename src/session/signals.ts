import { spawnSync } from 'node:child_process';
import { killAllStreams } from '../engine/command.js';
import { currentEngine, dockerEnvironment, type EngineEndpoint } from '../engine/endpoint.js';

/**
 * What this process must undo if it is interrupted (Ctrl-C, SIGTERM):
 * helpers to remove and containers to start again. Signal handlers belong to
 * the process, so this registry does too; sessions fill it.
 *
 * Work that must not be cut in half (moving a volume's content into place)
 * runs as a critical section: a signal waits for it, then cleans up.
 */

export interface InterruptHooks {
  /** Journals that the containers were started again (synchronously). */
  started(names: string[]): void;
  /** Releases the lock (synchronously); `leftOpen` when containers could not be started. */
  release(leftOpen: boolean): void;
}

/**
 * Each name with the engine it lives on (the one in effect when it was
 * registered): a command that visits several stacks may have them on several.
 */
const stopped = new Map<string, EngineEndpoint>();
/** Containers that must stay stopped even on interrupt (a volume they mount is half swapped). */
const held = new Set<string>();
const helpers = new Map<string, EngineEndpoint>();
let hooks: InterruptHooks | undefined;
let installed = false;
let critical = 0;
let pending: NodeJS.Signals | undefined;

export const interrupts = {
  stopped(names: string[]): void {
    for (const n of names) stopped.set(n, currentEngine());
  },
  startedAgain(names: string[]): void {
    for (const n of names) stopped.delete(n);
  },
  hold(names: string[]): void {
    for (const n of names) held.add(n);
  },
  helperCreated(name: string): void {
    helpers.set(name, currentEngine());
  },
  helperRemoved(name: string): void {
    helpers.delete(name);
  },
  /** The lock's hooks while a session holds it. */
  attach(h: InterruptHooks | undefined): void {
    hooks = h;
  },
  install(): void {
    if (installed) return;
    installed = true;
    const onSignal = (signal: NodeJS.Signals): void => {
      if (critical > 0) {
        if (pending === undefined) process.stderr.write(`\n${signal}: finishing the volume swap in progress first\n`);
        pending = signal;
        return;
      }
      cleanUpAndExit(signal);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  },
};

function cleanUpAndExit(signal: NodeJS.Signals): never {
  // Synchronous on purpose: the process is about to exit and must not leave services down.
  // Streams first: an in-flight docker cp would make the helper's removal wait for it.
  killAllStreams();
  for (const [engine, names] of byEngine(helpers)) spawnSync('docker', ['rm', '--force', ...names], { env: dockerEnvironment(engine), stdio: 'ignore', timeout: 60_000 });
  const toStart = new Map([...stopped].filter(([n]) => !held.has(n)));
  let leftOpen = held.size > 0;
  if (toStart.size > 0) {
    process.stderr.write(`\n${signal}: starting ${[...toStart.keys()].join(', ')} again before exiting\n`);
    for (const [engine, names] of byEngine(toStart)) {
      const started = spawnSync('docker', ['start', ...names], { env: dockerEnvironment(engine), stdio: 'inherit', timeout: 120_000 });
      if (started.status === 0) hooks?.started(names);
      else leftOpen = true;
    }
  }
  if (held.size > 0) process.stderr.write(`${signal}: ${[...held].join(', ')} stay stopped: a volume they mount is not whole yet; run the restore again to finish it\n`);
  hooks?.release(leftOpen);
  process.exit(signal === 'SIGINT' ? 130 : 143);
}

function byEngine(names: ReadonlyMap<string, EngineEndpoint>): Map<EngineEndpoint, string[]> {
  const grouped = new Map<EngineEndpoint, string[]>();
  for (const [name, engine] of names) grouped.set(engine, [...(grouped.get(engine) ?? []), name]);
  return grouped;
}

/**
 * Work that must not be cut in half by Ctrl-C or SIGTERM: a signal waits
 * until it is over, then cleans up as usual.
 */
export async function uninterruptible<T>(work: () => Promise<T>): Promise<T> {
  interrupts.install();
  critical++;
  try {
    return await work();
  } finally {
    critical--;
    if (critical === 0 && pending !== undefined) cleanUpAndExit(pending);
  }
}
