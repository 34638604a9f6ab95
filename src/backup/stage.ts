import { closeSync, linkSync, lstatSync, mkdirSync, openSync, readSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { addToLinkGroup, EntryGuard, engineRefusesSymlink, type ArchiveSummary, type HeldBackEntries, type FileConsumer } from '../engine/archive.js';
import { normalizeEntryName, walkTar, type Chunks, type TarEntry } from '../engine/tar-format.js';
import { pushableReadable } from '../util/pushable.js';

/**
 * The gate between a decoded artifact and the extraction into staging: one
 * pass that verifies while it stages. Every entry is checked (the same rules
 * as verify) before a byte of it is passed on, so nothing is ever written
 * outside staging; a check that fails stops the stream, and the restore
 * removes staging with the live content untouched. Whether the whole artifact
 * verified (its hash, the entry scan to the end) is known before anything is
 * swapped in.
 *
 * On the local path the gate also keeps what did not change: a file whose
 * owner, mode, size and time equal the live file's, and whose bytes equal
 * them as they stream by, is not passed to tar but hard-linked from the live
 * volume into staging. A rollback that changed 1% of the files writes 1%.
 */

export interface GateOptions {
  /** The archive endpoint refuses some symlinks: drop them and return them for a second pass. */
  holdBack: boolean;
  /** The live directory (local path) whose unchanged files are linked into `stagingDir`. */
  reuseFrom: string | undefined;
  stagingDir: string | undefined;
  /** SQLite files (normalized binary names) to copy out for integrity_check, and where. */
  databases: Map<string, FileConsumer>;
  /** Names the manifest says the archive holds: those it does not are reported in summary.missing. */
  expected: string[];
}

export interface GateResult {
  summary: ArchiveSummary;
  /** Files linked from the live volume instead of written, and their bytes. */
  reused: number;
  reusedBytes: number;
}

export class UnsafeArchive extends Error {
  constructor(readonly problems: ArchiveSummary['problems']) {
    super(`unsafe entries: ${problems.map((p) => `"${p.name}": ${p.reason}`).join('; ')}`);
    this.name = 'UnsafeArchive';
  }
}

/** A live file that may stand for an archive entry without being written again. */
function reusable(entry: TarEntry, live: string): boolean {
  if (entry.kind !== 'file' || [...entry.pax.keys()].some((k) => k.startsWith('SCHILY.') || k.startsWith('GNU.sparse') || k === 'LIBARCHIVE.xattr')) return false;
  let st;
  try {
    st = lstatSync(live, { bigint: true });
  } catch {
    return false;
  }
  if (!st.isFile() || st.nlink !== 1n || st.size !== BigInt(entry.size)) return false;
  if ((Number(st.mode) & 0o7777) !== (entry.mode & 0o7777) || Number(st.uid) !== entry.uid || Number(st.gid) !== entry.gid) return false;
  const paxTime = entry.pax.get('mtime')?.toString('latin1');
  if (paxTime !== undefined && /^\d+\.\d+$/.test(paxTime)) {
    const [s = '0', f = ''] = paxTime.split('.');
    return st.mtimeNs === BigInt(s) * 1_000_000_000n + BigInt(f.padEnd(9, '0').slice(0, 9));
  }
  return st.mtimeNs / 1_000_000_000n === BigInt(Math.floor(entry.mtime));
}

export function gate(source: Chunks, options: GateOptions): { output: Readable; result: Promise<GateResult> } {
  const { output, push } = pushableReadable();

  const guard = new EntryGuard();
  const summary: ArchiveSummary = { entries: 0, files: 0, bytes: 0, problems: guard.problems, root: undefined, heldBack: { names: new Set(), links: [], parents: [] }, linkGroups: new Map(), missing: [] };
  const held: HeldBackEntries = summary.heldBack;
  const missing = new Set(options.expected);
  const directories = new Map<string, TarEntry>();
  let reused = 0;
  let reusedBytes = 0;

  // The current entry: passed on, dropped (held back), or compared with its live file.
  let mode: 'pass' | 'drop' | 'compare' = 'pass';
  let current: { entry: TarEntry; name: string; live: string; fd: number; offset: number } | undefined;
  let consumer: FileConsumer | undefined;

  const stopComparing = async (forwardSoFar: boolean): Promise<void> => {
    const c = current;
    if (c === undefined) return;
    current = undefined;
    if (forwardSoFar) {
      // The bytes seen so far equal the live file's: send the header and those bytes from the live file.
      for (const block of c.entry.headerBlocks) await push(block);
      const buffer = Buffer.allocUnsafe(1 << 20);
      for (let at = 0; at < c.offset; ) {
        const n = readSync(c.fd, buffer, 0, Math.min(buffer.length, c.offset - at), at);
        if (n <= 0) throw new Error(`${c.live} became shorter while it was compared`);
        await push(Buffer.from(buffer.subarray(0, n)));
        at += n;
      }
    }
    closeSync(c.fd);
  };

  const run = async (): Promise<void> => {
    await walkTar(source, {
      async entry(entry) {
        summary.entries++;
        const before = guard.problems.length;
        guard.check(entry);
        if (guard.problems.length > before) throw new UnsafeArchive(guard.problems.slice(before));
        const name = normalizeEntryName(entry.name);
        missing.delete(name);
        if (name === '' && entry.kind === 'directory') summary.root = entry;
        if (entry.kind === 'directory' && name !== '') directories.set(name, entry);
        if (entry.kind === 'link') addToLinkGroup(summary.linkGroups, name, normalizeEntryName(entry.linkname));
        if (entry.kind === 'file') {
          summary.files++;
          summary.bytes += entry.size;
        }
        consumer = entry.kind === 'file' ? options.databases.get(name) : undefined;
        const holdIt = options.holdBack && ((entry.kind === 'symlink' && engineRefusesSymlink(name, entry.linkname)) || (entry.kind === 'link' && held.names.has(normalizeEntryName(entry.linkname))));
        if (holdIt) {
          held.names.add(name);
          held.links.push(entry);
          mode = 'drop';
          return;
        }
        if (options.reuseFrom !== undefined && options.stagingDir !== undefined && consumer === undefined && name !== '') {
          const live = join(options.reuseFrom, Buffer.from(name, 'latin1').toString());
          if (reusable(entry, live)) {
            mode = 'compare';
            current = { entry, name, live, fd: openSync(live, 'r'), offset: 0 };
            return;
          }
        }
        mode = 'pass';
      },
      async data(chunk) {
        await consumer?.write(chunk);
        const c = current;
        if (mode !== 'compare' || c === undefined) return;
        const mine = Buffer.allocUnsafe(chunk.length);
        const n = readSync(c.fd, mine, 0, chunk.length, c.offset);
        if (n === chunk.length && mine.equals(chunk)) {
          c.offset += n;
          return;
        }
        // Differs from here on: from now the entry goes to tar like any other.
        await stopComparing(true);
        mode = 'pass';
      },
      async entryEnd() {
        const finishing = consumer;
        consumer = undefined;
        await finishing?.end();
        const c = current;
        if (mode === 'compare' && c !== undefined && options.stagingDir !== undefined) {
          await stopComparing(false);
          const staged = join(options.stagingDir, Buffer.from(c.name, 'latin1').toString());
          mkdirSync(dirname(staged), { recursive: true });
          linkSync(c.live, staged);
          reused++;
          reusedBytes += c.entry.size;
        }
      },
      raw(chunk, part) {
        if (mode === 'pass') return push(chunk);
        if (part === 'end') return push(chunk);
        return undefined;
      },
    });
    guard.finish();
    if (guard.problems.length > 0) throw new UnsafeArchive(guard.problems);
    summary.missing = [...missing];
    if (held.names.size > 0) {
      const parents = new Set<string>();
      for (const n of held.names) {
        const segments = n.split('/');
        for (let i = 1; i < segments.length; i++) parents.add(segments.slice(0, i).join('/'));
      }
      held.parents = [...parents].sort((a, b) => a.split('/').length - b.split('/').length).map((p) => directories.get(p)).filter((e): e is TarEntry => e !== undefined);
    }
    output.push(null);
  };
  const result = run().then(
    (): GateResult => ({ summary, reused, reusedBytes }),
    async (err: unknown) => {
      await stopComparing(false).catch(() => undefined);
      output.destroy(err instanceof Error ? err : new Error(String(err)));
      if (source instanceof Readable) source.destroy();
      throw err;
    },
  );
  return { output, result };
}
