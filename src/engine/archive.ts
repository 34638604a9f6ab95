import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { END_OF_ARCHIVE, contentPadding, displayName, encodeHeader, normalizeEntryName, walkTar, type Chunks, type TarEntry } from './tar-format.js';
import { pushableReadable } from '../util/pushable.js';

/**
 * Tar archives as the engine's archive endpoint writes them: entries named
 * `./path`. Restores refuse anything that could write outside the target.
 * Names are binary strings (see tar-format.ts): raw bytes, one char each.
 */

export { normalizeEntryName, type Chunks, type TarEntry };

export interface UnsafeEntry {
  /** The entry's name for people (UTF-8 where the bytes are). */
  name: string;
  reason: string;
}

/**
 * Checks entries one by one, remembering what came before (hard link targets
 * must be earlier entries; nothing may be written through a symlink or replace
 * one). A symlink's target is data: whatever it points to (relative, absolute,
 * dangling, outside the volume) it is accepted, because stowage never follows
 * one; only the names entries are written at are checked.
 */
export class EntryGuard {
  private readonly seen = new Set<string>();
  private readonly symlinks = new Set<string>();
  readonly problems: UnsafeEntry[] = [];

  /** Checks what only the whole archive shows: entries below a symlink that came later. */
  finish(): void {
    for (const name of this.seen) {
      const prefix = symlinkPrefix(name, this.symlinks);
      if (prefix !== undefined) this.problems.push({ name: displayName(`./${name}`), reason: `path goes through symlink "${displayName(prefix)}"` });
    }
  }

  check(entry: Pick<TarEntry, 'name' | 'kind' | 'linkname' | 'typeflag'>): void {
    const raw = entry.name;
    const reject = (reason: string): void => {
      this.problems.push({ name: displayName(raw), reason });
    };
    if (raw.startsWith('/')) return reject('absolute path');
    const name = normalizeEntryName(raw);
    const segments = name.split('/');
    if (segments.includes('..')) return reject('path contains ".."');
    if (raw.includes('\0')) return reject('path contains a NUL byte');
    const through = symlinkPrefix(name, this.symlinks);
    if (through !== undefined) return reject(`path goes through symlink "${displayName(through)}"`);
    // A later entry of the same name would be written over the earlier one: over a symlink it
    // could replace a checked link, as a symlink it could replace a checked file or directory.
    if (this.symlinks.has(name)) return reject('replaces a symlink that came earlier in the archive');
    if (this.seen.has(name) && entry.kind === 'symlink') return reject('a symlink that replaces an earlier entry of the same name');
    switch (entry.kind) {
      case 'character-device':
      case 'block-device':
        return reject('device file');
      case 'unsupported':
        return reject(`unsupported entry type ${JSON.stringify(entry.typeflag)}`);
      case 'symlink':
        this.symlinks.add(name);
        break;
      case 'link': {
        const target = normalizeEntryName(entry.linkname);
        if (entry.linkname.startsWith('/') || target.split('/').includes('..')) return reject(`hard link to "${displayName(entry.linkname)}" outside the archive`);
        if (!this.seen.has(target)) return reject(`hard link to "${displayName(entry.linkname)}", which is not an earlier entry of the archive`);
        break;
      }
      default:
        break;
    }
    this.seen.add(name);
  }
}

/** The first proper ancestor of `name` that is a symlink, if any. */
function symlinkPrefix(name: string, symlinks: Set<string>): string | undefined {
  if (symlinks.size === 0) return undefined;
  let at = name.indexOf('/');
  while (at !== -1) {
    const prefix = name.slice(0, at);
    if (symlinks.has(prefix)) return prefix;
    at = name.indexOf('/', at + 1);
  }
  return undefined;
}

/**
 * Whether the engine's archive endpoint refuses to extract this symlink: it
 * checks relative targets lexically against the extraction directory (engine
 * 20.10: `invalid symlink "/v/up" -> "../../etc/x"`) and accepts absolute ones.
 */
export function engineRefusesSymlink(name: string, target: string): boolean {
  if (target.startsWith('/')) return false;
  const depth = name.split('/').slice(0, -1).filter((s) => s !== '' && s !== '.');
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (depth.length === 0) return true;
      depth.pop();
    } else depth.push(part);
  }
  return false;
}

/**
 * Symlinks the archive endpoint refuses, hard links to them, and the
 * directories that hold them. The engine checks a link only against the
 * directory it extracts into, so the same entries extracted into `/` of the
 * helper, named below the mount point, are created exactly; the directories
 * come after the links so their times are set again once the links are in.
 */
export interface HeldBackEntries {
  /** Normalized names of every held-back entry. */
  names: Set<string>;
  /** The held-back entries in archive order. */
  links: TarEntry[];
  /** The directories holding them (not the root), parents before children. */
  parents: TarEntry[];
}

export const NOTHING_HELD_BACK: HeldBackEntries = { names: new Set(), links: [], parents: [] };

class HeldBackTracker {
  private readonly directories = new Map<string, TarEntry>();
  private readonly names = new Set<string>();
  private readonly links: TarEntry[] = [];

  see(name: string, entry: TarEntry): void {
    if (entry.kind === 'directory') {
      if (name !== '') this.directories.set(name, entry);
    } else if (entry.kind === 'symlink' && engineRefusesSymlink(name, entry.linkname)) {
      this.hold(name, entry);
    } else if (entry.kind === 'link' && this.names.has(normalizeEntryName(entry.linkname))) {
      this.hold(name, entry);
    }
  }

  private hold(name: string, entry: TarEntry): void {
    this.names.add(name);
    this.links.push(entry);
  }

  result(): HeldBackEntries {
    if (this.names.size === 0) return NOTHING_HELD_BACK;
    const parents = new Set<string>();
    for (const name of this.names) {
      const segments = name.split('/');
      for (let i = 1; i < segments.length; i++) parents.add(segments.slice(0, i).join('/'));
    }
    const ordered = [...parents].sort((a, b) => a.split('/').length - b.split('/').length);
    return { names: this.names, links: this.links, parents: ordered.map((p) => this.directories.get(p)).filter((e): e is TarEntry => e !== undefined) };
  }
}

/** Only the held-back entries at or below `paths` (all when empty), for a restore of some paths. */
export function heldBackWithin(held: HeldBackEntries, paths: string[]): HeldBackEntries {
  if (paths.length === 0 || held.names.size === 0) return held;
  const inside = (name: string): boolean => paths.some((p) => under(name, p));
  const links = held.links.filter((e) => inside(normalizeEntryName(e.name)));
  const names = new Set(links.map((e) => normalizeEntryName(e.name)));
  const parents = held.parents.filter((e) => [...names].some((n) => n.startsWith(`${normalizeEntryName(e.name)}/`)));
  return { names, links, parents };
}

/**
 * The second pass: the held-back entries and their directories, named
 * `<below>/<name>` (e.g. `v/.stowage-restore-x/up`), for extraction into `/`.
 */
export function heldBackArchive(below: string, held: HeldBackEntries): Readable {
  const prefix = below.replace(/^\/+|\/+$/g, '');
  const blocks: Buffer[] = [];
  for (const entry of [...held.links, ...held.parents]) {
    const name = `${prefix}/${normalizeEntryName(entry.name)}`;
    const linkname = entry.kind === 'link' ? `${prefix}/${normalizeEntryName(entry.linkname)}` : entry.linkname;
    blocks.push(encodeHeader({ ...entry, name, linkname, size: 0 }));
  }
  blocks.push(END_OF_ARCHIVE);
  return Readable.from(blocks);
}

export interface ArchiveSummary {
  entries: number;
  files: number;
  bytes: number;
  problems: UnsafeEntry[];
  root: TarEntry | undefined;
  /** Entries the archive endpoint would refuse to extract, to be created in a second pass. */
  heldBack: HeldBackEntries;
  /** Hard link groups: each member's name -> every name of the group (the file first). */
  linkGroups: Map<string, string[]>;
  /** Of the names the caller expected (normalized), those the archive does not hold. */
  missing: string[];
}

/** Records that `name` is another name of `target` (a hard link entry): each member maps to the whole group. */
export function addToLinkGroup(groups: Map<string, string[]>, name: string, target: string): void {
  const group = groups.get(target) ?? [target];
  group.push(name);
  groups.set(target, group);
  groups.set(name, group);
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

/** Receives one file's content during a scan; `end` runs after its last byte. */
export interface FileConsumer {
  write(chunk: Buffer): void | Promise<void>;
  end(): Promise<void>;
}

/**
 * Reads a tar stream to its end (a truncated or corrupt archive throws) and
 * checks every entry. `onFile` sees every entry and may return a consumer for a
 * regular file's content (e.g. to extract a SQLite copy for an integrity check). Names given
 * to `onFile` are normalized binary strings.
 */
export async function scanArchive(source: Chunks, onFile?: (name: string, entry: TarEntry) => FileConsumer | undefined, expected: string[] = []): Promise<ArchiveSummary> {
  const missing = new Set(expected);
  const guard = new EntryGuard();
  const held = new HeldBackTracker();
  const summary: ArchiveSummary = { entries: 0, files: 0, bytes: 0, problems: guard.problems, root: undefined, heldBack: NOTHING_HELD_BACK, linkGroups: new Map(), missing: [] };
  let consumer: FileConsumer | undefined;
  try {
    await walkTar(source, {
      entry(entry) {
        summary.entries++;
        guard.check(entry);
        const name = normalizeEntryName(entry.name);
        if (missing.size > 0) missing.delete(name);
        held.see(name, entry);
        if (name === '' && entry.kind === 'directory') summary.root = entry;
        if (entry.kind === 'link') addToLinkGroup(summary.linkGroups, name, normalizeEntryName(entry.linkname));
        if (entry.kind === 'file') {
          summary.files++;
          summary.bytes += entry.size;
        }
        // Called for every entry; only a file has content for the consumer it may return.
        consumer = onFile?.(name, entry);
      },
      data(chunk) {
        return consumer?.write(chunk);
      },
      async entryEnd() {
        const finishing = consumer;
        consumer = undefined;
        await finishing?.end();
      },
    });
  } catch (err) {
    // Stop the source, or the decoder feeding it would block forever and the caller wait with it.
    if (source instanceof Readable) source.destroy();
    throw err;
  }
  guard.finish();
  summary.heldBack = held.result();
  summary.missing = [...missing];
  return summary;
}

export interface SpliceFile {
  /** Entry name in the output (normalized binary string, e.g. `database.sqlite`). */
  name: string;
  /** Produces a tar stream holding exactly one file: the replacement content. */
  open: () => Promise<Chunks>;
}

export interface TransformOptions {
  /** Keep only these paths (and everything below them); all when empty. Normalized binary strings. */
  include: string[];
  /** Drop these paths and everything below them. */
  exclude: string[];
  /** Entries replaced by content from elsewhere (SQLite online-backup copies). */
  splice: SpliceFile[];
  /** Extra entries dropped (WAL files a splice supersedes, held-back links); called with normalized names. */
  dropWith: (name: string) => boolean;
  /**
   * Hard link groups (normalized name -> every name sharing its inode), so that
   * a selection keeps a link whose file it leaves out: the file is written
   * under a kept name instead.
   */
  linkGroups?: Map<string, string[]>;
  /** Called with the normalized name of every entry the transform keeps. */
  onKept?: (name: string) => void;
  /** Called with the normalized name of every entry the transform leaves out, spliced ones excepted. */
  onDropped?: (name: string, entry: TarEntry) => void;
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
 * spliced files. Kept entries pass through as the bytes that came in (names,
 * owners, modes, times, links and extended headers exactly as they were).
 */
export function transformArchive(source: Chunks, options: TransformOptions): Readable {
  const { output, push } = pushableReadable();
  const spliceNames = new Set(options.splice.map((s) => s.name));
  const originals = new Map<string, TarEntry>();
  const keep = (name: string): boolean => {
    if (options.exclude.some((p) => under(name, p))) return false;
    if (options.include.length === 0) return true;
    return options.include.some((p) => under(name, p) || ancestorOf(name, p));
  };
  const run = async (): Promise<void> => {
    let passing = false;
    // A selection that leaves out the file a kept hard link points to: the first kept name
    // of the group becomes the file (content and all), the other kept names link to it.
    const promoted = new Map<string, string>();
    let headerReplaced = false;
    const renamed = (entry: TarEntry, name: string): string => (entry.name.startsWith('./') ? `./${name}` : name);
    await walkTar(source, {
      async entry(entry) {
        const name = normalizeEntryName(entry.name);
        headerReplaced = false;
        if (spliceNames.has(name)) originals.set(name, entry);
        passing = !spliceNames.has(name) && keep(name) && !options.dropWith(name);
        if (!passing && entry.kind === 'file' && !spliceNames.has(name)) {
          const heir = (options.linkGroups?.get(name) ?? []).filter((m) => m !== name && keep(m) && !options.dropWith(m)).sort()[0];
          if (heir !== undefined) {
            promoted.set(name, heir);
            options.onKept?.(heir);
            passing = true;
            headerReplaced = true;
            await push(encodeHeader({ ...entry, name: renamed(entry, heir) }));
            return;
          }
        }
        if (passing && entry.kind === 'link') {
          const heir = promoted.get(normalizeEntryName(entry.linkname));
          if (heir === name) passing = false;
          else if (heir !== undefined) {
            headerReplaced = true;
            await push(encodeHeader({ ...entry, linkname: renamed(entry, heir) }));
          }
        }
        if (!passing && !spliceNames.has(name)) options.onDropped?.(name, entry);
        if (passing) options.onKept?.(name);
      },
      raw(chunk, part) {
        if (part === 'end') return undefined; // the end marker comes after the spliced files
        if (part === 'header' && headerReplaced) return undefined;
        return passing ? push(chunk) : undefined;
      },
    });
    for (const splice of options.splice) {
      if (!keep(splice.name)) continue;
      const original = originals.get(splice.name);
      let size = 0;
      await walkTar(await splice.open(), {
        async entry(entry) {
          passing = entry.kind === 'file';
          size = entry.size;
          if (!passing) return;
          // The copy takes the live file's name, owner, mode and time, so a restore puts back what was there.
          const base = original ?? { ...entry, name: `./${splice.name}`, pax: new Map<string, Buffer>() };
          await push(encodeHeader({ ...base, linkname: '', typeflag: '0', size: entry.size }));
        },
        async data(chunk) {
          if (passing) await push(chunk);
        },
        async entryEnd() {
          if (passing) await push(contentPadding(size));
          passing = false;
        },
      });
    }
    output.push(END_OF_ARCHIVE);
    output.push(null);
  };
  run().catch((err: unknown) => output.destroy(err instanceof Error ? err : new Error(String(err))));
  return output;
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
  let size = -1;
  let copying = false;
  await walkTar(source, {
    entry(entry) {
      copying = entry.kind === 'file' && size === -1;
      if (copying) size = entry.size;
    },
    async data(chunk) {
      if (copying && !sink.write(chunk)) await new Promise<void>((resume) => sink.once('drain', resume));
    },
  });
  sink.end(undefined);
  if (size === -1) throw new Error('the archive holds no file');
  return size;
}
