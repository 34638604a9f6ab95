import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { PassThrough, Readable } from 'node:stream';
import { command, startStreaming, type Command, type StreamingProcess } from './command.js';
import { feed, type Chunks } from './archive.js';

/**
 * Byte pipelines between the engine and backup files. Compression and
 * encryption run as separate processes (zstd uses every core); this process
 * only counts, hashes and writes, so memory stays flat whatever the size.
 */

export type Compression = 'zstd' | 'gzip';

export const filters = {
  compress(kind: Compression, level: number): Command {
    return kind === 'zstd'
      ? command('zstd', ['-T0', `-${level}`, '-q', '-c'], 'compress with zstd', false)
      : command('gzip', ['-c', '-6'], 'compress with gzip', false);
  },
  decompress(kind: Compression): Command {
    return kind === 'zstd' ? command('zstd', ['-d', '-q', '-c'], 'decompress with zstd', false) : command('gzip', ['-d', '-c'], 'decompress with gzip', false);
  },
  encrypt(recipients: string[]): Command {
    return command('age', recipients.flatMap((r) => ['-r', r]), 'encrypt with age', false);
  },
  decrypt(identityFile: string): Command {
    return command('age', ['-d', '-i', identityFile], 'decrypt with age', false);
  },
};

/** Whether a filter program runs here (zstd may be missing on a minimal host: gzip is always there). */
export function programAvailable(program: string): boolean {
  const probe = spawnSync(program, ['--version'], { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0;
}

export interface ByteCounter {
  (bytes: number): void;
}

/** Passes chunks through while counting them. */
async function* counted(source: Chunks, onBytes: ByteCounter | undefined): AsyncGenerator<Uint8Array> {
  for await (const chunk of source) {
    if (!(chunk instanceof Uint8Array)) throw new Error('stream yielded a non-byte chunk');
    onBytes?.(chunk.length);
    yield chunk;
  }
}

/** Chains filter processes: returns the last stdout and the processes to await. */
function chain(source: Chunks, steps: Command[], onSourceBytes: ByteCounter | undefined): { output: Readable; processes: StreamingProcess[]; fed: Promise<void> } {
  const processes: StreamingProcess[] = [];
  let output: Readable = Readable.from(counted(source, onSourceBytes));
  let fed: Promise<void> = Promise.resolve();
  for (const [index, step] of steps.entries()) {
    const proc = startStreaming(step, { stdin: 'pipe', stdout: 'pipe' });
    const stdin = proc.child.stdin;
    const stdout = proc.child.stdout;
    if (stdin === null || stdout === null) throw new Error(`${step.purpose}: no pipes`);
    stdin.on('error', () => undefined); // a dying filter reports through its exit status
    const upstream = output;
    const feeding = feed(upstream, stdin);
    if (index === 0) fed = feeding;
    else feeding.catch(() => undefined);
    processes.push(proc);
    output = stdout;
  }
  return { output, processes, fed };
}

export interface WrittenArtifact {
  bytes: number;
  sha256: string;
  sourceBytes: number;
}

/**
 * Streams `source` through the filters into a new file (mode 0600, never
 * overwriting), hashing what is stored; fsyncs before returning. On any failure
 * the partial file is removed.
 */
export async function writeArtifact(source: Chunks, steps: Command[], path: string, onSourceBytes?: ByteCounter): Promise<WrittenArtifact> {
  const file = await open(path, 'wx', 0o600);
  const hash = createHash('sha256');
  let bytes = 0;
  let sourceBytes = 0;
  const { output, processes, fed } = chain(source, steps, (n) => {
    sourceBytes += n;
    onSourceBytes?.(n);
  });
  try {
    const writing = (async () => {
      for await (const chunk of output) {
        if (!(chunk instanceof Uint8Array)) throw new Error('pipeline yielded a non-byte chunk');
        hash.update(chunk);
        bytes += chunk.length;
        await file.write(chunk);
      }
    })();
    await Promise.all([fed, writing, ...processes.map((p) => p.done)]);
    await file.sync();
    await file.close();
    return { bytes, sha256: hash.digest('hex'), sourceBytes };
  } catch (err) {
    for (const p of processes) p.child.kill('SIGKILL');
    await file.close().catch(() => undefined);
    await rm(path, { force: true });
    throw err;
  }
}

export interface ArtifactReader {
  /** The decoded content (decrypted and decompressed). */
  content: Readable;
  /** Resolves with the hash and size of the stored file once everything was read and every filter exited cleanly. */
  done: Promise<{ sha256: string; bytes: number }>;
}

/** Reads a stored artifact through the decoding filters, hashing the stored bytes on the way. */
export function readArtifact(path: string, steps: Command[], onStoredBytes?: ByteCounter): ArtifactReader {
  const hash = createHash('sha256');
  let bytes = 0;
  let finishHashing: () => void = () => undefined;
  // The digest is taken only after the last stored byte went through the hash, however many filters follow.
  const hashedAll = new Promise<void>((resolve) => {
    finishHashing = resolve;
  });
  const hashed = (async function* () {
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
      if (!(chunk instanceof Uint8Array)) throw new Error('file yielded a non-byte chunk');
      hash.update(chunk);
      bytes += chunk.length;
      onStoredBytes?.(chunk.length);
      yield chunk;
    }
    finishHashing();
  })();
  const { output, processes, fed } = chain(hashed, steps, undefined);
  const content = new PassThrough({ highWaterMark: 1 << 20 });
  output.on('error', (err) => content.destroy(err));
  output.pipe(content);
  const done = Promise.all([fed, hashedAll, ...processes.map((p) => p.done)]).then(() => ({ sha256: hash.digest('hex'), bytes }));
  done.catch((err: unknown) => {
    content.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  return { content, done };
}

/** sha256 of a file, streamed. */
export async function sha256File(path: string): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    if (!(chunk instanceof Uint8Array)) throw new Error('file yielded a non-byte chunk');
    hash.update(chunk);
    bytes += chunk.length;
  }
  return { sha256: hash.digest('hex'), bytes };
}
