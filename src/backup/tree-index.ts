import { lstatSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { Readable } from 'node:stream';
import { command, type Command } from '../engine/command.js';
import { encodeHeader, END_OF_ARCHIVE, normalizeEntryName, walkTar, type Chunks, type TarEntry } from '../engine/tar-format.js';
import { parseMessage, type NodeLine } from '../engine/restic.js';
import { pushableReadable } from '../util/pushable.js';

/**
 * A volume stored as a restic directory snapshot ("tree"): restic keeps every
 * file once and reads only what changed, but restic 0.14's `dump` (the tar
 * stream restores consume) loses some of what a tar of the volume holds:
 * - times are rounded to the second (`restic ls` has them exactly);
 * - FIFOs come out as empty files (`restic ls` knows their type);
 * - hard links come out as copies, and a snapshot of `.` has no entry for
 *   the volume root itself;
 * - a symlink target that is not UTF-8 is stored with U+FFFD in it.
 * The last two are not in the snapshot at all, so the backup records them in
 * the set's manifest (this index), and `repairTreeDump` puts everything back
 * into the stream, so that a restore from a tree is as exact as from a tar.
 */

export interface TreeIndex {
  /** Owner, mode and time of the volume root. */
  root: { uid: number; gid: number; mode: number; mtime: number };
  /** Names (binary strings, normalized) of each file with several names in the volume. */
  links: string[][];
  /** Symlinks whose target is not UTF-8: [name, target], both binary strings. */
  targets: Array<[string, string]>;
}

/**
 * GNU find in the volume's directory: every hard-linked file (`h<dev>:<inode>`,
 * name) and every symlink (`l<name>`, target), NUL-separated so that any name
 * survives. Read-only; it runs in the same window as restic's read.
 */
export function treeIndexScan(directory: string): Command {
  return {
    ...command('find', ['.', '-mindepth', '1', '(', '-type', 'f', '-links', '+1', '-printf', 'h%D:%i\\0%p\\0', ')', '-o', '(', '-type', 'l', '-printf', 'l%p\\0%l\\0', ')'], `index hard links and symlinks of ${directory}`, false),
    cwd: directory,
    // 1: a file vanished while find looked (a writer that keeps running); restic's own read decides.
    okExitCodes: [1],
  };
}

function isUtf8(binary: string): boolean {
  const bytes = Buffer.from(binary, 'latin1');
  return Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes);
}

/** Builds the index from the scan's output (a binary string) and the root's own facts. */
export function parseTreeIndex(output: string, root: TreeIndex['root']): TreeIndex {
  const fields = output.split('\0');
  const groups = new Map<string, string[]>();
  const targets: Array<[string, string]> = [];
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const head = fields[i] ?? '';
    const second = fields[i + 1] ?? '';
    if (head.startsWith('h')) {
      const group = groups.get(head) ?? [];
      group.push(normalizeEntryName(second));
      groups.set(head, group);
    } else if (head.startsWith('l')) {
      if (!isUtf8(second)) targets.push([normalizeEntryName(head.slice(1)), second]);
    } else throw new Error(`unexpected output of the hard link and symlink scan: ${JSON.stringify(head.slice(0, 40))}`);
  }
  return { root, links: [...groups.values()].filter((g) => g.length > 1).map((g) => g.sort()), targets };
}

export function rootFacts(directory: string): TreeIndex['root'] {
  const st = lstatSync(directory);
  return { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) };
}

/** A name as restic's JSON shows it: invalid UTF-8 replaced (runs of U+FFFD count as one, as decoders differ in how many they write). */
function shown(name: string): string {
  return name.replace(/\uFFFD+/g, '\uFFFD');
}

/** `2026-11-30T11:07:12.30687997Z` (or with an offset) -> whole seconds and the exact PAX value. */
export function exactTime(rfc3339: string): { seconds: number; pax: string } | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(rfc3339);
  if (m === null) return undefined;
  const seconds = Date.parse(`${m[1] ?? ''}${m[3] ?? 'Z'}`) / 1000;
  if (!Number.isSafeInteger(seconds)) return undefined;
  const fraction = (m[2] ?? '').replace(/0+$/, '');
  return { seconds, pax: fraction === '' || seconds < 0 ? String(seconds) : `${seconds}.${fraction}` };
}

/**
 * Node lines of `restic ls --json` (the snapshot line and anything unreadable
 * skipped). The reader attaches at once: a process's output left unread until
 * the first line is wanted can be gone by then.
 */
export function nodeLines(stdout: Readable): AsyncIterator<NodeLine> {
  const lines = createInterface({ input: stdout, crlfDelay: Infinity })[Symbol.asyncIterator]();
  return {
    async next(): Promise<IteratorResult<NodeLine>> {
      for (;;) {
        const line = await lines.next();
        if (line.done === true) return { done: true, value: undefined };
        const m = parseMessage(line.value);
        if (m !== undefined && 'struct_type' in m && m.struct_type === 'node') return { done: false, value: m };
      }
    },
    async return(): Promise<IteratorResult<NodeLine>> {
      await lines.return?.();
      return { done: true, value: undefined };
    },
  };
}

/**
 * The exact tar stream of a tree snapshot: `restic dump <snapshot> /` with
 * each entry's exact time and type from `restic ls --json` (both walk the
 * tree in the same order), the root entry, hard links and non-UTF-8 symlink
 * targets from the index. Contents pass through untouched.
 */
export function repairTreeDump(dump: Chunks, nodes: AsyncIterator<NodeLine>, index: TreeIndex): Readable {
  const { output, push } = pushableReadable();
  const groupOf = new Map<string, number>();
  index.links.forEach((group, k) => group.forEach((name) => groupOf.set(name, k)));
  const firstOfGroup = new Map<number, string>();
  const targets = new Map(index.targets);

  const nodeFor = async (name: string): Promise<NodeLine> => {
    const wanted = shown(Buffer.from(name, 'latin1').toString('utf8'));
    // restic ls may list what dump leaves out (a socket): skip to the entry's own line.
    for (;;) {
      const next = await nodes.next();
      if (next.done === true) throw new Error(`restic ls ended before the entry ${wanted} of restic dump; the snapshot cannot be read exactly`);
      if (shown(next.value.path.replace(/^\/+/, '')) === wanted) return next.value;
    }
  };

  const run = async (): Promise<void> => {
    const r = index.root;
    await push(encodeHeader({ name: './', linkname: '', typeflag: '5', size: 0, mode: r.mode, uid: r.uid, gid: r.gid, mtime: r.mtime, devmajor: 0, devminor: 0, pax: new Map() }));
    let passing = true;
    await walkTar(dump, {
      async entry(entry: TarEntry) {
        const name = normalizeEntryName(entry.name);
        const node = await nodeFor(name);
        const time = exactTime(node.mtime);
        const pax = new Map(entry.pax);
        if (time !== undefined) pax.set('mtime', Buffer.from(time.pax, 'latin1'));
        const out: Parameters<typeof encodeHeader>[0] = { ...entry, name: `./${name}${entry.kind === 'directory' ? '/' : ''}`, mtime: time?.seconds ?? entry.mtime, pax };
        passing = true;
        if (node.type === 'fifo') {
          out.typeflag = '6';
          out.size = 0;
          passing = false;
        } else if (node.type === 'dev' || node.type === 'chardev') {
          // Backups leave device files out; should one be here, the restore's check refuses it by its type.
          out.typeflag = node.type === 'dev' ? '4' : '3';
          out.size = 0;
          passing = false;
        } else if (entry.kind === 'file' && groupOf.has(name)) {
          const group = groupOf.get(name) ?? -1;
          const first = firstOfGroup.get(group);
          if (first === undefined) firstOfGroup.set(group, name);
          else {
            out.typeflag = '1';
            out.linkname = `./${first}`;
            out.size = 0;
            passing = false;
          }
        } else if (entry.kind === 'symlink' && targets.has(name)) {
          out.linkname = targets.get(name) ?? entry.linkname;
        }
        await push(encodeHeader(out));
      },
      // Content and its padding; an entry turned into a header-only one (a link, a FIFO) drops both.
      raw(chunk, part) {
        return part === 'content' && passing ? push(chunk) : undefined;
      },
    });
    // What restic ls lists after the last entry (a socket dump leaves out) is read to its end, so that ls can exit.
    for (let next = await nodes.next(); next.done !== true; next = await nodes.next()) void next;
    output.push(END_OF_ARCHIVE);
    output.push(null);
  };
  run().catch((err: unknown) => {
    void nodes.return?.();
    output.destroy(err instanceof Error ? err : new Error(String(err)));
  });
  return output;
}
