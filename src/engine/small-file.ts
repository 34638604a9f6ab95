import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { feed } from './archive.js';
import { CommandFailed, startStreaming, type Runner } from './command.js';
import { docker } from './docker.js';

/**
 * One small file (a secrets file, a config file) read or written through the
 * engine's archive endpoint of a never-started helper. Content travels only in
 * tar streams between this process and the engine: never in arguments, never
 * through a container's stdout, never in an error message.
 */

export type SmallFileRead =
  | { state: 'missing' }
  | { state: 'present'; type: string; mode: number; uid: number; gid: number; size: number; content: Buffer };

// Docker 20+ says "Could not find the file P in container C"; older CLIs say "No such container:path: C:P".
const MISSING = /Could not find the file|No such container:path/;

/** Reads `path` of `container`; `missing` only when the engine says the path does not exist. */
export async function readSmallFile(container: string, path: string, limitBytes: number): Promise<SmallFileRead> {
  const proc = startStreaming(docker.archiveReadPath(container, path), { stdin: 'ignore', stdout: 'pipe' });
  const stdout = proc.child.stdout;
  if (stdout === null) throw new Error(`read ${path} of ${container}: no pipe from docker cp`);
  const chunks: Buffer[] = [];
  let total = 0;
  let tooLarge = false;
  const collecting = (async (): Promise<void> => {
    for await (const chunk of stdout) {
      if (!(chunk instanceof Buffer)) throw new Error('docker cp yielded a non-byte chunk');
      total += chunk.length;
      // Headers and padding add a few KiB to the content; anything far beyond the limit is not the file we expect.
      if (total > limitBytes + 64 * 1024) {
        tooLarge = true;
        proc.child.kill();
        break;
      }
      chunks.push(chunk);
    }
  })();
  try {
    await proc.done;
  } catch (err) {
    await collecting.catch(() => undefined);
    if (tooLarge) throw new Error(`${path} in ${container} is larger than ${limitBytes} bytes: not the small file expected; look at it by hand`);
    if (err instanceof CommandFailed && MISSING.test(err.result.stderr)) return { state: 'missing' };
    throw err;
  }
  await collecting;
  return firstEntry(Buffer.concat(chunks), `${path} in ${container}`, limitBytes);
}

async function firstEntry(archive: Buffer, what: string, limitBytes: number): Promise<SmallFileRead> {
  const extract = tar.extract();
  let found: SmallFileRead | undefined;
  const consume = async (): Promise<void> => {
    for await (const entry of extract) {
      const parts: Buffer[] = [];
      for await (const chunk of entry) if (chunk instanceof Buffer) parts.push(chunk);
      if (found !== undefined) continue;
      const h = entry.header;
      if (h.size !== undefined && h.size > limitBytes) throw new Error(`${what} is ${h.size} bytes, larger than ${limitBytes}: not the small file expected`);
      found = { state: 'present', type: h.type ?? 'file', mode: h.mode ?? 0, uid: h.uid ?? 0, gid: h.gid ?? 0, size: h.size ?? 0, content: Buffer.concat(parts) };
    }
  };
  await Promise.all([feed(Readable.from([archive]), extract), consume()]);
  if (found === undefined) throw new Error(`${what}: the engine returned an empty archive; is the docker CLI working?`);
  return found;
}

/** A one-entry tar holding `name` with the given owner and mode (kept by `docker cp --archive`). */
export async function ownedFileArchive(name: string, content: Buffer, mode: number, owner: { uid: number; gid: number }, mtime: Date): Promise<Buffer> {
  const pack = tar.pack();
  const parts: Buffer[] = [];
  const collecting = (async (): Promise<void> => {
    for await (const chunk of pack) if (chunk instanceof Buffer) parts.push(chunk);
  })();
  await new Promise<void>((done, fail) => {
    pack.entry({ name, type: 'file', size: content.length, mode, uid: owner.uid, gid: owner.gid, mtime }, content, (err) => (err ? fail(err) : done()));
  });
  pack.finalize();
  await collecting;
  return Buffer.concat(parts);
}

/**
 * Writes `name` into `directory` of `container` with its owner and mode. The
 * content goes to docker's stdin, so a dry run prints the command and nothing else.
 */
export async function writeSmallFile(
  runner: Runner,
  container: string,
  directory: string,
  name: string,
  content: Buffer,
  mode: number,
  owner: { uid: number; gid: number },
): Promise<void> {
  const archive = await ownedFileArchive(name, content, mode, owner, new Date());
  await runner.run(docker.archiveWrite(container, directory), { input: archive });
}
