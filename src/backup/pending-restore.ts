import { randomBytes } from 'node:crypto';
import type { Runner } from '../engine/command.js';
import { docker, type HelperMount } from '../engine/docker.js';
import { readSmallFile } from '../engine/small-file.js';
import { CLEAN_STAGING, ROLLED_BACK, SWAP_MARKER, parseMarker, swapCommand } from './swap.js';

/**
 * Finishing what an interrupted restore left in a volume: with a swap marker
 * the swap runs again from where it stopped (the staged content was complete
 * and verified before the marker was written); without one the swap never
 * began, so the staged copy is removed and the live content is what it was.
 */

export type PendingOutcome = 'finished' | 'rolled back' | 'staging removed';

export class SwapIncomplete extends Error {
  constructor(
    message: string,
    /** The volume (its name or host path) whose swap is not done. */
    readonly volume: string,
  ) {
    super(message);
    this.name = 'SwapIncomplete';
  }
}

/**
 * Finishes or cleans up a pending restore of the volume behind `mount` (its
 * target must be /v). Throws SwapIncomplete when a swap marker is there but
 * the swap cannot be completed now.
 */
export async function finishPendingRestore(runner: Runner, image: string, mount: HelperMount, labels: Record<string, string>): Promise<PendingOutcome> {
  const where = `${mount.source}/${SWAP_MARKER}`;
  const reader = `stowage-marker-${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  let text: string | undefined;
  await runner.run(docker.createHelper(reader, image, [{ ...mount, readOnly: true }], labels));
  try {
    const read = await readSmallFile(reader, `/v/${SWAP_MARKER}`, 1024 * 1024);
    if (read.state === 'present') text = read.content.toString('utf8');
  } catch (err) {
    throw new SwapIncomplete(`cannot read ${where}: ${err instanceof Error ? err.message : String(err)}`, mount.source);
  } finally {
    await runner.run(docker.removeContainer(reader), { allowFailure: true });
  }
  if (text === undefined) {
    const cleaned = await runner.run(docker.runHelperScript(image, [mount], CLEAN_STAGING, [], labels), { allowFailure: true });
    if (cleaned.code !== 0) throw new SwapIncomplete(`cannot remove the staged copy in ${mount.source}: ${lastLine(cleaned.stderr)}`, mount.source);
    return 'staging removed';
  }
  const marker = parseMarker(text, where);
  const swap = await runner.run(swapCommand(image, mount, marker, labels), { allowFailure: true });
  if (swap.code === 0) return 'finished';
  if (swap.code === ROLLED_BACK) {
    await runner.run(docker.runHelperScript(image, [mount], CLEAN_STAGING, [], labels), { allowFailure: true });
    return 'rolled back';
  }
  throw new SwapIncomplete(`the swap in ${mount.source} could not be finished: ${lastLine(swap.stderr)}`, mount.source);
}

/** The line of a helper's stderr that says what failed (the script's own message, else docker's last words). */
export function lastLine(stderr: string): string {
  const lines = stderr.trim().split('\n').filter((l) => l.trim() !== '');
  return lines.find((l) => l.startsWith('stowage: ')) ?? lines[lines.length - 1] ?? 'no message';
}
