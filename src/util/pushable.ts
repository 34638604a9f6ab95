import { Readable } from 'node:stream';

/**
 * A Readable fed by an async producer that waits while the reader is full:
 * `push` resolves once the chunk may be followed by another, so a slow
 * consumer (tar writing to disk) holds the producer back instead of this
 * process buffering the archive.
 */
export function pushableReadable(): { output: Readable; push: (chunk: Buffer) => Promise<void> } {
  let waiting: (() => void) | undefined;
  const output = new Readable({
    // Enough to carry a producer through its reader's pauses (tar waiting on the disk): with the
    // 16 KiB default, restic dump (which decodes nothing ahead) stalled at every one of them.
    highWaterMark: 1 << 20,
    read: () => {
      const resume = waiting;
      waiting = undefined;
      resume?.();
    },
  });
  const push = async (chunk: Buffer): Promise<void> => {
    if (!output.push(chunk)) await new Promise<void>((resume) => (waiting = resume));
  };
  return { output, push };
}
