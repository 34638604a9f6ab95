import type { Model } from '../config/model.js';
import type { Runner } from '../engine/command.js';
import type { HelperMount } from '../engine/docker.js';
import { EngineSession } from '../session/session.js';

/**
 * Helper containers for commands that only read (inspect, secrets check,
 * drills): they take no lock. Commands that change volumes or containers use
 * an EngineSession (src/session/session.ts) that holds the project lock.
 */

export { helperImage, uniqueSuffix, volumeMount } from '../session/session.js';
export { uninterruptible } from '../session/signals.js';

/** Creates a never-started helper for the duration of `work` and always removes it. */
export function withHelper<T>(runner: Runner, model: Model, image: string, mounts: HelperMount[], work: (name: string) => Promise<T>): Promise<T> {
  return EngineSession.unlocked(runner, model).withHelper(image, mounts, work);
}
