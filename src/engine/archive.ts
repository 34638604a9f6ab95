import { Readable } from 'node:stream';
import tar from 'tar-stream';

/**
 * Tar archives as the engine's archive endpoint writes them: entries named
 * `./path`. Restores refuse anything that could write outside the target.
 */

export type TarHeader = tar.Header;

/** Byte streams: Node Readables, streamx streams (tar-stream) and async generators alike. */
export type Chunks = AsyncIterable<unknown>;

/** `./a/b/` -> `a/b`; the root entry becomes ''. */
export function normalizeEntryName(name: string): string {
  let n = name;
  while (n.startsWith('./')) n = n.slice(2);
  if (n === '.') return '';
  return n.replace(/\/+$/, '');
}

export interface UnsafeEntry {
  name: string;
  reason: string;
}

/**
 * Checks entries one by one, remembering what came before (hard link targets
 * must be earlier entries; nothing may be written through a symlink).
 */
export class EntryGuard {
  private readonly seen = new Set<string>();
  private readonly symlinks = new Map<string, string>();
  readonly problems: UnsafeEntry[] = [];

  /**
   * Checks what only the whole archive shows: links that stay inside one at a
   * time but escape when followed through each other (sub/up -> .., l ->
   * sub/up/..), in whatever order they came, and entries below a symlink that
   * came later.
   */
  finish(): void {
    for (const [name, target] of this.symlinks) {
      const dir = name.split('/').slice(0, -1);
      if (this.resolve([...dir, ...target.split('/')], 0) === undefined) {
        this.problems.push({ name: `./${name}`, reason: `symlink to "${target}" escapes the volume through other symlinks` });
      }
    }
    for (const name of this.seen) {
      const segments = name.split('/');
      for (let i = 1; i < segments.length; i++) {
        const prefix = segments.slice(0, i).join('/');
        if (this.symlinks.has(prefix)) {
          this.problems.push({ name: `./${name}`, reason: `path goes through symlink "${prefix}"` });
          break;
        }
      }
    }
  }

  /** Resolves a path inside the root the way the kernel would, following the archive's symlinks; undefined when it leaves the root. */
  private resolve(parts: string[], depth: number): string[] | undefined {
    if (depth > 40) return undefined;
    const out: string[] = [];
    for (const part of parts) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (out.length === 0) return undefined;
        out.pop();
        continue;
      }
      out.push(part);
      const target = this.symlinks.get(out.join('/'));
      if (target !== undefined) {
        if (target.startsWith('/')) return undefined;
        const resolved = this.resolve([...out.slice(0, -1), ...target.split('/')], depth + 1);
        if (resolved === undefined) return undefined;
        out.splice(0, out.length, ...resolved);
      }
    }
    return out;
  }

  check(header: TarHeader): void {
    const raw = header.name;
    const reject = (reason: string): void => {
      this.problems.push({ name: raw, reason });
    };
    if (raw.startsWith('/')) return reject('absolute path');
    const name = normalizeEntryName(raw);
    const segments = name.split('/');
    if (segments.includes('..')) return reject('path contains ".."');
    if (raw.includes('\0')) return reject('path contains a NUL byte');
    for (let i = 1; i < segments.length; i++) {
      const prefix = segments.slice(0, i).join('/');
      if (this.symlinks.has(prefix)) return reject(`path goes through symlink "${prefix}"`);
    }
    if (this.seen.has(name) && header.type !== 'directory') {
      // A later entry replacing an earlier one could swap a checked file for a link: refuse duplicates.
      if (this.symlinks.has(name) || header.type === 'symlink') return reject('appears twice in the archive');
    }
    switch (header.type) {
      case 'character-device':
      case 'block-device':
        return reject('device file');
      case 'symlink': {
        const target = header.linkname ?? '';
        if (target.startsWith('/')) return reject(`symlink to absolute path "${target}" escapes the volume`);
        if (escapes(segments.slice(0, -1), target)) return reject(`symlink to "${target}" escapes the volume`);
        this.symlinks.set(name, target);
        break;
      }
      case 'link': {
        const target = normalizeEntryName(header.linkname ?? '');
        if ((header.linkname ?? '').startsWith('/') || target.split('/').includes('..')) return reject(`hard link to "${header.linkname ?? ''}" outside the archive`);
        if (!this.seen.has(target)) return reject(`hard link to "${header.linkname ?? ''}", which is not an earlier entry of the archive`);
        break;
      }
      default:
        break;
    }
    this.seen.add(name);
  }
}

/** Whether a relative symlink target, resolved from `dir` (segments below the root), leaves the root. */
function escapes(dir: string[], target: string): boolean {
  const depth = [...dir.filter((s) => s !== '' && s !== '.')];
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (depth.length === 0) return true;
      depth.pop();
    } else depth.push(part);
  }
  return false;
}

export interface ArchiveSummary {
  entries: number;
  files: number;
  bytes: number;
  problems: UnsafeEntry[];
  root: TarHeader | undefined;
}

export interface ByteSink {
  write(chunk: Uint8Array): boolean;
  end(data?: undefined): unknown;
  once(event: 'drain', listener: () => void): unknown;
}

/** Copies chunks into a (streamx or Node) writable, honouring backpressure. */
export async function feed(source: Chunks, sink: ByteSink): Promise<void> {
  for await (const chunk of source) {
    if (!(chunk instanceof Uint8Array)) throw new Error('archive stream yielded a non-byte chunk');
    if (!sink.write(chunk)) await new Promise<void>((resume) => sink.once('drain', resume));
  }
  sink.end(undefined);
}

async function drain(content: Chunks): Promise<void> {
  for await (const chunk of content) void chunk;
}

/**
 * Reads a tar stream to its end (a truncated or corrupt archive throws) and
 * checks every entry. `onFile` may consume a file's content (e.g. to extract a
 * SQLite copy for an integrity check) and returns true when it did.
 */
export async function scanArchive(
  source: Chunks,
  onFile?: (name: string, header: TarHeader, content: Chunks) => Promise<boolean>,
): Promise<ArchiveSummary> {
  const guard = new EntryGuard();
  const summary: ArchiveSummary = { entries: 0, files: 0, bytes: 0, problems: guard.problems, root: undefined };
  const extract = tar.extract();
  // Entry events, not async iteration: a verification reads every byte of the archive, and a promise per chunk costs a third of it.
  const consumed = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, content, next) => {
      // A truncated archive destroys the entry too; the extractor reports it.
      content.on('error', () => undefined);
      summary.entries++;
      guard.check(header);
      const name = normalizeEntryName(header.name);
      if (name === '' && header.type === 'directory') summary.root = header;
      if (header.type === 'file' || header.type === 'contiguous-file') {
        summary.files++;
        summary.bytes += header.size;
      }
      const skip = (): void => {
        content.on('end', () => next());
        content.resume();
      };
      if (onFile === undefined) skip();
      else {
        onFile(name, header, content).then(
          (used) => (used ? next() : skip()),
          (err: unknown) => next(err instanceof Error ? err : new Error(String(err))),
        );
      }
    });
    let finishedCleanly = false;
    extract.on('finish', () => {
      finishedCleanly = true;
      resolve();
    });
    extract.on('error', reject);
    extract.on('close', () => {
      if (!finishedCleanly) reject(new Error('the archive reader stopped before the end of the archive'));
    });
  });
  try {
    await Promise.all([feed(source, extract), consumed]);
  } catch (err) {
    // A failed extractor takes no more writes and never drains: stop the source too,
    // or the decoder feeding it would block forever and the caller wait with it.
    extract.destroy();
    if (source instanceof Readable) source.destroy();
    throw err;
  }
  guard.finish();
  return summary;
}

export interface SpliceFile {
  /** Entry name in the output (normalized, e.g. `database.sqlite`). */
  name: string;
  /** Produces a tar stream holding exactly one file: the replacement content. */
  open: () => Promise<Chunks>;
}

export interface TransformOptions {
  /** Keep only these paths (and everything below them); all when empty. */
  include: string[];
  /** Drop these paths and everything below them. */
  exclude: string[];
  /** Entries replaced by content from elsewhere (SQLite online-backup copies). */
  splice: SpliceFile[];
  /** Extra entries dropped because a splice supersedes them (WAL and journal files). */
  dropWith: (name: string) => boolean;
}

function under(name: string, path: string): boolean {
  return name === path || name.startsWith(`${path}/`);
}

/** Ancestor directories of a selected path are kept so the selection keeps its parents' owners and modes. */
function ancestorOf(name: string, path: string): boolean {
  return name === '' || path.startsWith(`${name}/`);
}

/**
 * Rewrites an archive stream: selects paths, drops excluded ones and replaces
 * spliced files, keeping every other header (owners, modes, times, links) as is.
 */
export function transformArchive(source: Chunks, options: TransformOptions): Readable {
  const pack = tar.pack();
  const extract = tar.extract();
  const spliceNames = new Set(options.splice.map((s) => s.name));
  const originals = new Map<string, TarHeader>();
  const keep = (name: string): boolean => {
    if (options.exclude.some((p) => under(name, p))) return false;
    if (options.include.length === 0) return true;
    return options.include.some((p) => under(name, p) || ancestorOf(name, p));
  };

  const rewrite = async (): Promise<void> => {
    for await (const entry of extract) {
      const name = normalizeEntryName(entry.header.name);
      if (spliceNames.has(name)) originals.set(name, entry.header);
      if (spliceNames.has(name) || !keep(name) || options.dropWith(name)) {
        await drain(entry);
        continue;
      }
      await writeEntry(pack, entry.header, entry);
    }
    for (const splice of options.splice) {
      if (!keep(splice.name)) continue;
      const single = tar.extract();
      const copy = async (): Promise<void> => {
        for await (const entry of single) {
          if (entry.header.type !== 'file') {
            await drain(entry);
            continue;
          }
          // The copy takes the live file's owner, mode and time, so a restore puts back what was there.
          const original = originals.get(splice.name) ?? entry.header;
          await writeEntry(pack, { ...original, name: `./${splice.name}`, size: entry.header.size, type: 'file', linkname: '' }, entry);
        }
      };
      await Promise.all([feed(await splice.open(), single), copy()]);
    }
    pack.finalize();
  };
  const output = Readable.from(pack);
  Promise.all([feed(source, extract), rewrite()]).catch((err: unknown) => {
    const error = err instanceof Error ? err : new Error(String(err));
    pack.destroy(error);
    output.destroy(error);
  });
  return output;
}

async function writeEntry(pack: tar.Pack, header: TarHeader, content: Chunks): Promise<void> {
  const written = new Promise<void>((done, fail) => {
    const sink = pack.entry(header, (err) => (err ? fail(err) : done()));
    if (header.type === 'file' || header.type === 'contiguous-file') feed(content, sink).catch(fail);
    else {
      sink.end(undefined);
      drain(content).catch(fail);
    }
  });
  await written;
}

/** A tar stream holding one directory entry: creates a staging directory through the archive endpoint. */
export function directoryArchive(name: string, mode: number): Readable {
  const pack = tar.pack();
  pack.entry({ name: `${name}/`, type: 'directory', mode, uid: 0, gid: 0, mtime: new Date() });
  pack.finalize();
  return Readable.from(pack);
}

/** A tar stream holding one file, for copying a dump into a container through the archive endpoint. */
export function singleFileArchive(name: string, size: number, mode: number, content: Chunks): Readable {
  const pack = tar.pack();
  const sink = pack.entry({ name, type: 'file', size, mode, uid: 0, gid: 0, mtime: new Date() }, (err) => {
    if (err) pack.destroy(err);
    else pack.finalize();
  });
  feed(content, sink).catch((err: unknown) => pack.destroy(err instanceof Error ? err : new Error(String(err))));
  return Readable.from(pack);
}

/** Extracts the single file of a one-file tar stream (what `docker cp CONTAINER:/file -` returns). */
export async function singleFileContent(source: Chunks, sink: ByteSink): Promise<number> {
  const extract = tar.extract();
  let size = -1;
  const consume = async (): Promise<void> => {
    for await (const entry of extract) {
      if (entry.header.type === 'file' && size === -1) {
        size = entry.header.size;
        await feed(entry, sink);
      } else await drain(entry);
    }
  };
  await Promise.all([feed(source, extract), consume()]);
  if (size === -1) throw new Error('the archive holds no file');
  return size;
}
