import { spawnSync } from 'node:child_process';
import { createHash, type Hash } from 'node:crypto';
import { close, closeSync, createReadStream, createWriteStream, fdatasync, fsync, openSync, readFileSync, type BigIntStats, type WriteStream } from 'node:fs';
import { promisify } from 'node:util';
import { open as openFile, rm } from 'node:fs/promises';

/**
 * Artifact pipelines of stock tools, process to process: a producer (docker
 * cp, tar) through compressors and age into a file, hashed as it is written;
 * and back, a file through its decoders into a consumer. Errors name the
 * process that failed first, not the broken pipe it caused.
 */

const fsyncFd = promisify(fsync);
const fdatasyncFd = promisify(fdatasync);
const closeFd = promisify(close);
import { PassThrough, Readable, Transform, type TransformCallback } from 'node:stream';
import { finished, pipeline } from 'node:stream/promises';
import { command, renderCommand, shellQuote, startStreaming, type Command, type StdinSource, type StreamingProcess } from './command.js';
import type { Chunks } from './archive.js';

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

/**
 * A file through filters into a consumer, as a shell pipeline a person can
 * paste: `age -d -i key < file | zstd -d -q -c | docker cp -a - helper:/v/x`.
 * --dry-run prints what decodeIntoProcess and readArtifact run, from the same
 * Commands.
 */
export function renderStream(path: string, steps: Command[], consumer: Command): string {
  const [first, ...rest] = steps;
  const head = first === undefined ? `cat ${shellQuote(path)}` : `${renderCommand(first)} < ${shellQuote(path)}`;
  return [head, ...rest.map(renderCommand), renderCommand(consumer)].join(' | ');
}

/** Whether a filter program runs here (zstd may be missing on a minimal host: gzip is always there). */
export function programAvailable(program: string, versionArgs: string[] = ['--version']): boolean {
  const probe = spawnSync(program, versionArgs, { stdio: 'ignore' });
  return probe.error === undefined && probe.status === 0;
}

export interface ByteCounter {
  (bytes: number): void;
}

/** A pass-through that counts (and optionally hashes) bytes, for native stream pipelines. */
export class Meter extends Transform {
  bytes = 0;
  private readonly hash: Hash | undefined;
  private readonly onBytes: ByteCounter | undefined;

  constructor(hash: Hash | undefined, onBytes: ByteCounter | undefined) {
    super({ highWaterMark: 1 << 20 });
    this.hash = hash;
    this.onBytes = onBytes;
  }

  override _transform(chunk: unknown, _encoding: BufferEncoding, done: TransformCallback): void {
    if (!(chunk instanceof Uint8Array)) {
      done(new Error('stream yielded a non-byte chunk'));
      return;
    }
    this.bytes += chunk.length;
    this.hash?.update(chunk);
    this.onBytes?.(chunk.length);
    done(null, chunk);
  }
}

/**
 * Chains filter processes after `source` with native pipes (async iteration
 * with an await per chunk costs more than the compression itself). Returns the
 * last output and everything that must succeed.
 */
function chain(source: Readable, steps: Command[]): { output: Readable; settled: Array<Promise<unknown>>; processes: StreamingProcess[] } {
  const processes: StreamingProcess[] = [];
  const settled: Array<Promise<unknown>> = [];
  let output = source;
  for (const step of steps) {
    const proc = startStreaming(step, { stdin: 'pipe', stdout: 'pipe' });
    const stdin = proc.child.stdin;
    const stdout = proc.child.stdout;
    if (stdin === null || stdout === null) throw new Error(`${step.purpose}: no pipes`);
    settled.push(pipeline(output, stdin), proc.done);
    processes.push(proc);
    output = stdout;
  }
  return { output, settled, processes };
}

/**
 * Messages of a process that failed because a neighbour in the pipeline did (it lost its reader or its input).
 * Node's stdio pipes are socket pairs, so a writer whose reader died sees a reset connection, not EPIPE.
 */
export const KNOCK_ON = /broken pipe|EPIPE|connection reset by peer|ECONNRESET|premature end|unexpected end|unexpected EOF|truncated/i;

/**
 * Awaits every part of a pipeline. On the first failure it kills the processes
 * and lets every part settle, then reports the process that failed first on
 * its own: the others only died of what it left behind (docker cp's broken
 * pipe when zstd fails, zstd's truncated input when age fails), and a
 * stream's "Premature close" says nothing. Failures that read like such a
 * knock-on effect rank last. Without a failed process, the first error seen
 * is reported.
 */
export async function settlePipeline(parts: Array<Promise<unknown>>, processesInOrder: StreamingProcess[]): Promise<void> {
  try {
    await Promise.all(parts);
  } catch (first) {
    for (const p of processesInOrder) p.child.kill('SIGKILL');
    await Promise.allSettled([...parts, ...processesInOrder.map((p) => p.done)]);
    const failed = await Promise.all(
      processesInOrder
        .filter((p) => p.child.signalCode === null && p.child.exitCode !== null && p.child.exitCode !== 0)
        .map(async (p) => ({ p, err: await p.done.then(() => first, (err: unknown) => err) })),
    );
    const rank = ({ p, err }: { p: StreamingProcess; err: unknown }): number => (KNOCK_ON.test(String(err)) ? 1e9 : 0) + (p.exitSeq ?? processesInOrder.indexOf(p));
    const culprit = failed.sort((a, b) => rank(a) - rank(b))[0];
    throw culprit === undefined ? first : culprit.err;
  }
}

function asReadable(source: Chunks): Readable {
  return source instanceof Readable ? source : Readable.from(source, { objectMode: false });
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
  const hash = createHash('sha256');
  const counter = new Meter(undefined, onSourceBytes);
  const stored = new Meter(hash, undefined);
  const upstream = asReadable(source);
  const file = new ArtifactFile(path);
  const { output, settled, processes } = chain(upstream.pipe(counter), steps);
  upstream.on('error', (err) => counter.destroy(err));
  try {
    await Promise.all([...settled, pipeline(output, stored, file.stream)]);
    await file.finish();
    return { bytes: stored.bytes, sha256: hash.digest('hex'), sourceBytes: counter.bytes };
  } catch (err) {
    for (const p of processes) p.child.kill('SIGKILL');
    await file.abandon(err);
    throw err;
  }
}

/** Bytes written between two background flushes of an artifact file. */
const FLUSH_EVERY = 32 * 1024 * 1024;

/**
 * An artifact file being written: new (mode 0600, never overwriting), flushed
 * to disk in the background as it grows, so that the fsync at the end waits
 * for the last stretch only. Compression leaves the disk idle; without this
 * the whole artifact would be written back at the end, while the writers start
 * again and queue their own small writes behind it.
 */
class ArtifactFile {
  readonly stream: WriteStream;
  private fd: number | undefined;
  private flushedUpTo = 0;
  private flushing: Promise<void> = Promise.resolve();
  private readonly watch: NodeJS.Timeout;

  constructor(private readonly path: string) {
    // autoClose off: the descriptor must stay open for fsync. (A FileHandle stream would make close() wait forever.)
    this.stream = createWriteStream(path, { flags: 'wx', mode: 0o600, autoClose: false, highWaterMark: 1 << 20 });
    this.stream.once('open', (opened: number) => {
      this.fd = opened;
    });
    this.watch = setInterval(() => this.flushIfGrown(), 50);
    this.watch.unref();
  }

  private flushIfGrown(): void {
    const fd = this.fd;
    const written = this.stream.bytesWritten;
    if (fd === undefined || written - this.flushedUpTo < FLUSH_EVERY) return;
    this.flushedUpTo = written;
    // One at a time; a failure here shows again in the final fsync, which decides.
    this.flushing = this.flushing.then(() => fdatasyncFd(fd)).catch(() => undefined);
  }

  /** Waits for the background flush, fsyncs and closes: the artifact is on disk. */
  async finish(): Promise<void> {
    clearInterval(this.watch);
    const fd = this.fd;
    if (fd === undefined) throw new Error(`${this.path} was not opened`);
    await this.flushing;
    await fsyncFd(fd);
    this.fd = undefined;
    await closeFd(fd);
  }

  /** Closes and removes the partial file (never a file this call did not create: wx failed because it exists). */
  async abandon(err: unknown): Promise<void> {
    clearInterval(this.watch);
    await this.flushing;
    const fd = this.fd;
    this.fd = undefined;
    if (fd !== undefined) await closeFd(fd).catch(() => undefined);
    if (!(err instanceof Error && 'code' in err && err.code === 'EEXIST')) await rm(this.path, { force: true });
  }
}

/**
 * Like writeArtifact for a source that is another process's stdout (docker
 * cp): the first filter reads it directly, so the uncompressed stream never
 * enters this process; only the stored bytes are hashed and written here.
 * The producer is awaited with the rest, so a failure names its real cause.
 */
export async function writeArtifactFromProcess(producer: StreamingProcess, steps: Command[], path: string, onStoredBytes?: ByteCounter): Promise<WrittenArtifact> {
  const source = producer.child.stdout;
  if (source === null) throw new Error('the producer has no output pipe');
  const [first, ...rest] = steps;
  if (first === undefined) {
    const [written] = await Promise.all([writeArtifact(source, [], path, onStoredBytes), producer.done]);
    return written;
  }
  const head = startStreaming(first, { stdin: source, stdout: 'pipe' });
  const headOut = head.child.stdout;
  if (headOut === null) throw new Error(`${first.purpose}: no output pipe`);
  const hash = createHash('sha256');
  const stored = new Meter(hash, onStoredBytes);
  const file = new ArtifactFile(path);
  const { output, settled, processes } = chain(headOut, rest);
  try {
    await settlePipeline([producer.done, head.done, ...settled, pipeline(output, stored, file.stream)], [producer, head, ...processes]);
    await file.finish();
    return { bytes: stored.bytes, sha256: hash.digest('hex'), sourceBytes: 0 };
  } catch (err) {
    for (const p of [producer, head, ...processes]) p.child.kill('SIGKILL');
    await file.abandon(err);
    throw err;
  }
}

export interface FedProcess {
  /** Bytes fed and their sha256. */
  bytes: number;
  sha256: string;
  /** What the consumer printed on stdout (restic's JSON summary). */
  stdout: string;
}

/**
 * Feeds a stream (or another process's output) into a consumer's stdin,
 * counting and hashing what goes in, and collects what the consumer prints:
 * `restic backup --stdin` stores the stream, and says what it stored. A
 * failure names the process that failed first (settlePipeline).
 */
export async function feedProcess(source: Readable | StreamingProcess, consumer: Command, onBytes?: ByteCounter): Promise<FedProcess> {
  const producer = source instanceof Readable ? undefined : source;
  const input = source instanceof Readable ? source : source.child.stdout;
  if (input === null) throw new Error('the producer has no output pipe');
  const hash = createHash('sha256');
  const meter = new Meter(hash, onBytes);
  const sink = startStreaming(consumer, { stdin: 'pipe', stdout: 'pipe' });
  const stdin = sink.child.stdin;
  const stdout = sink.child.stdout;
  if (stdin === null || stdout === null) throw new Error(`${consumer.purpose}: no pipes`);
  stdin.on('error', () => undefined);
  const printed: Buffer[] = [];
  stdout.on('data', (c: Buffer) => printed.push(c));
  const processes = producer === undefined ? [sink] : [producer, sink];
  await settlePipeline([...(producer === undefined ? [] : [producer.done]), pipeline(input, meter, stdin), sink.done, finished(stdout)], processes);
  return { bytes: meter.bytes, sha256: hash.digest('hex'), stdout: Buffer.concat(printed).toString('utf8') };
}

/**
 * Fingerprint of a file's content as the kernel sees it: device, inode, size,
 * modification and change times. Any write or replacement changes it, and a
 * change time cannot be set back: an unchanged identity means unchanged bytes.
 */
export function fileFingerprint(stats: BigIntStats): string {
  return `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
}

/**
 * Decodes a stored artifact straight into a consumer process (docker cp into
 * a helper): file -> filters -> consumer, all process to process, with no byte
 * passing through here. The artifact was verified (hashed) before; that these
 * are the same bytes is proven by the file's fingerprint before and after, and
 * every stored format checks itself while it is decoded (zstd's content
 * checksum, gzip's CRC, age's per-chunk MAC). Progress comes from the shared
 * file offset the first filter advances.
 */
export async function decodeIntoProcess(path: string, steps: Command[], consumer: Command, expected: { fingerprint: string; onStoredBytes?: ByteCounter }): Promise<void> {
  const file = await openFile(path, 'r');
  const started: StreamingProcess[] = [];
  let progress: OffsetFollower | undefined;
  try {
    const changed = async (): Promise<boolean> => fileFingerprint(await file.stat({ bigint: true })) !== expected.fingerprint;
    if (await changed()) throw new Error(`${path} changed since it was verified; nothing was swapped in`);
    let input: StdinSource = file.fd;
    for (const step of steps) {
      const proc = startStreaming(step, { stdin: input, stdout: 'pipe' });
      started.push(proc);
      if (proc.child.stdout === null) throw new Error(`${step.purpose}: no output pipe`);
      input = proc.child.stdout;
    }
    const sink = startStreaming(consumer, { stdin: input, stdout: 'ignore' });
    started.push(sink);
    progress = followOffset(file.fd, expected.onStoredBytes);
    await settlePipeline(started.map((p) => p.done), started);
    progress.stop();
    if (await changed()) throw new Error(`${path} changed while it was restored; nothing was swapped in`);
  } catch (err) {
    for (const p of started) p.child.kill('SIGKILL');
    throw err;
  } finally {
    progress?.stop();
    await file.close().catch(() => undefined);
  }
}

interface OffsetFollower {
  /** Reports what is left up to the current offset and stops following. */
  stop(): void;
}

/** Reports progress as another process reads `fd` (their shared offset advances), every 200 ms. */
function followOffset(fd: number, onBytes: ByteCounter | undefined): OffsetFollower {
  let reported = 0;
  const report = (): void => {
    const position = fileOffset(fd);
    if (onBytes !== undefined && position !== undefined && position > reported) {
      onBytes(position - reported);
      reported = position;
    }
  };
  const timer = onBytes === undefined ? undefined : setInterval(report, 200);
  let stopped = false;
  return {
    stop(): void {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) clearInterval(timer);
      report();
    },
  };
}

/** Where an open file description stands (Linux: /proc/self/fdinfo), for progress; undefined elsewhere. */
function fileOffset(fd: number): number | undefined {
  try {
    const m = /^pos:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return m === null ? undefined : Number(m[1]);
  } catch {
    return undefined;
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
  const [first, ...rest] = steps;
  if (first !== undefined) {
    // The first filter reads the file itself; the hash is a parallel read that the page cache serves.
    const fd = openSync(path, 'r');
    let head: StreamingProcess;
    try {
      head = startStreaming(first, { stdin: fd, stdout: 'pipe' });
    } finally {
      closeSync(fd);
    }
    const headOut = head.child.stdout;
    if (headOut === null) throw new Error(`${first.purpose}: no output pipe`);
    const { output, settled, processes } = chain(headOut, rest);
    const content = new PassThrough({ highWaterMark: 1 << 20 });
    void pipeline(output, content).catch(() => undefined);
    const digest = sha256OfFile(path, onStoredBytes);
    const done = settlePipeline([digest, head.done, ...settled], [head, ...processes]).then(() => digest);
    done.catch((err: unknown) => {
      head.child.kill('SIGKILL');
      content.destroy(err instanceof Error ? err : new Error(String(err)));
    });
    return { content, done };
  }
  const hash = createHash('sha256');
  const stored = new Meter(hash, onStoredBytes);
  const file = createReadStream(path, { highWaterMark: 1 << 20 });
  // Errors surface through `done`: pipeline destroys `stored`, which `finished` reports.
  void pipeline(file, stored).catch(() => undefined);
  const { output, settled } = chain(stored, steps);
  const content = new PassThrough({ highWaterMark: 1 << 20 });
  const delivered = pipeline(output, content);
  void delivered.catch(() => undefined);
  // The digest is taken only after the last stored byte went through the hash, however many filters follow.
  const done = Promise.all([finished(stored), ...settled]).then(() => ({ sha256: hash.digest('hex'), bytes: stored.bytes }));
  done.catch((err: unknown) => {
    content.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  return { content, done };
}

let opensslUsable: boolean | undefined;

/** openssl when installed (`openssl version`: it has no --version), else this process. */
export function preferredHasher(): 'openssl' | 'node' {
  opensslUsable ??= programAvailable('openssl', ['version']);
  return opensslUsable ? 'openssl' : 'node';
}

/**
 * sha256 of a file. `openssl dgst` when it is installed: it hashes on another
 * core while this process scans the decoded archive (in process, both share
 * one thread; a worker thread would cost ~50 MB of memory). Progress comes
 * from the offset of the descriptor openssl reads.
 */
export async function sha256OfFile(path: string, onBytes?: ByteCounter, hasher: 'openssl' | 'node' = preferredHasher()): Promise<{ sha256: string; bytes: number }> {
  if (hasher === 'node') return sha256File(path, onBytes);
  const file = await openFile(path, 'r');
  let progress: OffsetFollower | undefined;
  try {
    const size = (await file.stat()).size;
    const hashing = startStreaming(command('openssl', ['dgst', '-sha256', '-r'], `sha256 of ${path}`, false), { stdin: file.fd, stdout: 'pipe' });
    const out = hashing.child.stdout;
    if (out === null) throw new Error('openssl has no output pipe');
    progress = followOffset(file.fd, onBytes);
    const chunks: Buffer[] = [];
    out.on('data', (c: Buffer) => chunks.push(c));
    await settlePipeline([hashing.done, finished(out)], [hashing]);
    progress.stop();
    const digest = /^([0-9a-f]{64})\b/.exec(Buffer.concat(chunks).toString('utf8'));
    if (digest === null) throw new Error(`openssl dgst printed no sha256 for ${path}`);
    return { sha256: digest[1] ?? '', bytes: size };
  } finally {
    progress?.stop();
    await file.close().catch(() => undefined);
  }
}

/** sha256 of a file, streamed through this process. */
export async function sha256File(path: string, onBytes?: ByteCounter): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    if (!(chunk instanceof Uint8Array)) throw new Error('file yielded a non-byte chunk');
    hash.update(chunk);
    bytes += chunk.length;
    onBytes?.(chunk.length);
  }
  return { sha256: hash.digest('hex'), bytes };
}
