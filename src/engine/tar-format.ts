/**
 * Byte-exact tar reading and writing.
 *
 * Volumes hold names that are not UTF-8, and extended headers (xattrs, exact
 * times) that a decode-and-re-encode library loses: tar-stream turns
 * non-UTF-8 PAX paths into U+FFFD and re-packs only what it understood. Here
 * entry names are binary strings (one char per byte, latin1), kept entries
 * pass through as the very blocks that came in, and new headers are written
 * with PAX records carrying the raw bytes.
 *
 * The parser follows the engine's (Go archive/tar) reading rules, so that what
 * a verification checks is what the engine extracts: PAX `path`/`linkpath`/
 * `size` override the header, GNU `L`/`K` long names, the ustar prefix only
 * with the POSIX magic, header-only types (links, devices, directories, FIFOs)
 * carry no data whatever their size field says, and a bad checksum is an error.
 */

export type EntryKind = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo' | 'unsupported';

export interface TarEntry {
  /** The path as raw bytes in a binary string (latin1), exactly as stored (`./a/b`). */
  name: string;
  /** Link target as raw bytes in a binary string; '' for other kinds. */
  linkname: string;
  kind: EntryKind;
  /** The typeflag character as stored. */
  typeflag: string;
  /** Content bytes that follow the header (0 for header-only kinds). */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Modification time in seconds since the epoch (fractional when a PAX record says so). */
  mtime: number;
  devmajor: number;
  devminor: number;
  /** Records of the entry's own PAX header (key -> raw value bytes). */
  pax: Map<string, Buffer>;
  /** Every block of the entry's headers (extension headers first), as they came. */
  headerBlocks: Buffer[];
}

export type Chunks = AsyncIterable<unknown> | Iterable<unknown>;

const BLOCK = 512;
/** Extension headers (PAX, GNU long names) are small; a huge one is an attack on memory. */
const MAX_EXTENSION = 1024 * 1024;

export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarFormatError';
  }
}

/** Raw bytes of a UTF-8 path (from a stack file or the command line) as an entry-name binary string. */
export function entryNameOf(utf8: string): string {
  return Buffer.from(utf8, 'utf8').toString('latin1');
}

/** An entry name for people: its bytes read as UTF-8 (invalid bytes show as U+FFFD). */
export function displayName(binary: string): string {
  return Buffer.from(binary, 'latin1').toString('utf8');
}

/** `./a/b/` -> `a/b`; the root entry becomes ''. Works on binary strings. */
export function normalizeEntryName(name: string): string {
  let n = name;
  while (n.startsWith('./')) n = n.slice(2);
  if (n === '.') return '';
  return n.replace(/\/+$/, '');
}

function kindOf(flag: string): EntryKind {
  switch (flag) {
    case '0':
    case '\0':
    case '7':
      return 'file';
    case '1':
      return 'link';
    case '2':
      return 'symlink';
    case '3':
      return 'character-device';
    case '4':
      return 'block-device';
    case '5':
      return 'directory';
    case '6':
      return 'fifo';
    default:
      return 'unsupported';
  }
}

/** Go's isHeaderOnlyType: these never carry data, whatever the size field says. */
function headerOnly(kind: EntryKind): boolean {
  return kind === 'link' || kind === 'symlink' || kind === 'character-device' || kind === 'block-device' || kind === 'directory' || kind === 'fifo';
}

function cString(block: Buffer, start: number, length: number): Buffer {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return end === -1 ? field : field.subarray(0, end);
}

/** Octal ASCII, or GNU base-256 when the high bit of the first byte is set. */
function numeric(block: Buffer, start: number, length: number, what: string): number {
  const field = block.subarray(start, start + length);
  const first = field[0] ?? 0;
  if ((first & 0x80) !== 0) {
    let value = first & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    if (!Number.isSafeInteger(value)) throw new TarFormatError(`tar header field ${what} is out of range`);
    return value;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text)) throw new TarFormatError(`tar header field ${what} is not a number: ${JSON.stringify(text)}`);
  return parseInt(text, 8);
}

function checksumMatches(block: Buffer): boolean {
  const stored = numeric(block, 148, 8, 'checksum');
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const byte = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += byte;
    signed += byte > 127 ? byte - 256 : byte;
  }
  return stored === unsigned || stored === signed;
}

function isZeroBlock(block: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (block[i] !== 0) return false;
  return true;
}

/** PAX records: `<length> <key>=<value>\n`, values kept as raw bytes. */
export function parsePax(data: Buffer): Map<string, Buffer> {
  const records = new Map<string, Buffer>();
  let at = 0;
  while (at < data.length) {
    const space = data.indexOf(0x20, at);
    if (space === -1) throw new TarFormatError('malformed PAX record (no length)');
    const length = Number(data.subarray(at, space).toString('latin1'));
    if (!Number.isInteger(length) || length <= space - at || at + length > data.length || data[at + length - 1] !== 0x0a) {
      throw new TarFormatError('malformed PAX record (bad length)');
    }
    const record = data.subarray(space + 1, at + length - 1);
    const equals = record.indexOf(0x3d);
    if (equals === -1) throw new TarFormatError('malformed PAX record (no "=")');
    records.set(record.subarray(0, equals).toString('latin1'), Buffer.from(record.subarray(equals + 1)));
    at += length;
  }
  return records;
}

function paxNumber(value: Buffer | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value.toString('latin1'));
  if (!Number.isFinite(n)) throw new TarFormatError(`malformed PAX number ${JSON.stringify(value.toString('latin1'))}`);
  return n;
}

function paddingOf(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/** What a visitor sees of one entry's content. */
export interface TarVisitor {
  /** A new entry; its content follows through `data`. */
  entry(entry: TarEntry): void | Promise<void>;
  /** The next piece of the current entry's content (no padding). */
  data?(chunk: Buffer): void | Promise<void>;
  /** The current entry's content is complete. */
  entryEnd?(): void | Promise<void>;
  /** Raw bytes as they came, for byte-exact copies: every header block, content and padding, and the end marker. */
  raw?(chunk: Buffer, part: 'header' | 'content' | 'end'): void | Promise<void>;
}

function asBuffer(chunk: unknown): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  throw new TarFormatError('the archive stream yielded a non-byte chunk');
}

/**
 * Reads a tar stream to its end-of-archive marker, calling the visitor for
 * every entry. A stream that ends before the marker, a bad checksum or a
 * malformed extension header throws. Anything after the marker is read and
 * must be zeros (docker pads archives).
 */
export async function walkTar(source: Chunks, visitor: TarVisitor): Promise<void> {
  let header = Buffer.alloc(BLOCK);
  let headerFill = 0;
  let pendingBlocks: Buffer[] = [];
  let extension: { flag: string; data: Buffer; fill: number } | undefined;
  let localPax: Map<string, Buffer> | undefined;
  let globalPax = new Map<string, Buffer>();
  let longName: Buffer | undefined;
  let longLink: Buffer | undefined;
  let content = 0;
  let padding = 0;
  let inEntry = false;
  let ended = false;

  const startEntry = async (block: Buffer): Promise<void> => {
    const flag = String.fromCharCode(block[156] ?? 0);
    const magic = block.subarray(257, 263).toString('latin1');
    const posix = magic === 'ustar\0';
    const pax = localPax ?? new Map<string, Buffer>();
    const merged = new Map([...globalPax, ...pax]);
    let name: Buffer = cString(block, 0, 100);
    if (posix) {
      const prefix = cString(block, 345, 155);
      if (prefix.length > 0) name = Buffer.concat([prefix, Buffer.from('/'), name]);
    }
    if (longName !== undefined) name = longName;
    const paxPath = merged.get('path');
    if (paxPath !== undefined) name = paxPath;
    // PAX sparse files (GNU tar --sparse --format=posix) carry their real name here, as Go's reader reads it.
    const sparseName = merged.get('GNU.sparse.name');
    if (sparseName !== undefined) name = sparseName;
    let linkname: Buffer = cString(block, 157, 100);
    if (longLink !== undefined) linkname = longLink;
    const paxLink = merged.get('linkpath');
    if (paxLink !== undefined) linkname = paxLink;
    const kind = kindOf(flag);
    const size = paxNumber(merged.get('size')) ?? numeric(block, 124, 12, 'size');
    if (!Number.isSafeInteger(size) || size < 0) throw new TarFormatError('tar header size is out of range');
    const entry: TarEntry = {
      name: name.toString('latin1'),
      linkname: kind === 'link' || kind === 'symlink' ? linkname.toString('latin1') : '',
      kind,
      typeflag: flag,
      size: headerOnly(kind) ? 0 : size,
      mode: numeric(block, 100, 8, 'mode'),
      uid: paxNumber(merged.get('uid')) ?? numeric(block, 108, 8, 'uid'),
      gid: paxNumber(merged.get('gid')) ?? numeric(block, 116, 8, 'gid'),
      mtime: paxNumber(merged.get('mtime')) ?? numeric(block, 136, 12, 'mtime'),
      devmajor: posix || magic === 'ustar ' ? numeric(block, 329, 8, 'devmajor') : 0,
      devminor: posix || magic === 'ustar ' ? numeric(block, 337, 8, 'devminor') : 0,
      pax,
      headerBlocks: [...pendingBlocks, Buffer.from(block)],
    };
    pendingBlocks = [];
    localPax = undefined;
    longName = undefined;
    longLink = undefined;
    content = entry.size;
    padding = paddingOf(entry.size);
    inEntry = true;
    await visitor.entry(entry);
    if (visitor.raw !== undefined) for (const b of entry.headerBlocks) await visitor.raw(b, 'header');
    if (content === 0) await finishEntry();
  };

  const finishEntry = async (): Promise<void> => {
    inEntry = false;
    await visitor.entryEnd?.();
  };

  const onHeaderBlock = async (block: Buffer): Promise<void> => {
    if (isZeroBlock(block)) {
      if (pendingBlocks.length > 0) throw new TarFormatError('the archive ends inside an extension header');
      ended = true;
      await visitor.raw?.(Buffer.from(block), 'end');
      return;
    }
    if (!checksumMatches(block)) throw new TarFormatError('tar header checksum mismatch: the archive is damaged');
    const flag = String.fromCharCode(block[156] ?? 0);
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      const size = numeric(block, 124, 12, 'size');
      if (size > MAX_EXTENSION) throw new TarFormatError(`extension header of ${size} bytes is too large`);
      pendingBlocks.push(Buffer.from(block));
      extension = { flag, data: Buffer.alloc(size), fill: 0 };
      content = size;
      padding = paddingOf(size);
      if (size === 0) await endExtension();
      return;
    }
    await startEntry(block);
  };

  const endExtension = async (): Promise<void> => {
    const ext = extension;
    extension = undefined;
    if (ext === undefined) return;
    if (ext.flag === 'x') localPax = parsePax(ext.data);
    else if (ext.flag === 'g') globalPax = new Map([...globalPax, ...parsePax(ext.data)]);
    else if (ext.flag === 'L') longName = cString(ext.data, 0, ext.data.length);
    else longLink = cString(ext.data, 0, ext.data.length);
  };

  for await (const piece of source) {
    let chunk = asBuffer(piece);
    while (chunk.length > 0) {
      if (ended) {
        for (let i = 0; i < chunk.length; i++) if (chunk[i] !== 0) throw new TarFormatError('data after the end of the archive');
        await visitor.raw?.(chunk, 'end');
        break;
      }
      if (content > 0) {
        const n = Math.min(content, chunk.length);
        const part = chunk.subarray(0, n);
        chunk = chunk.subarray(n);
        content -= n;
        if (extension !== undefined) {
          part.copy(extension.data, extension.fill);
          extension.fill += n;
          pendingBlocks.push(Buffer.from(part));
          if (content === 0 && padding === 0) await endExtension();
        } else {
          await visitor.data?.(part);
          await visitor.raw?.(part, 'content');
          if (content === 0 && padding === 0) await finishEntry();
        }
        continue;
      }
      if (padding > 0) {
        const n = Math.min(padding, chunk.length);
        const part = chunk.subarray(0, n);
        chunk = chunk.subarray(n);
        padding -= n;
        if (extension !== undefined) {
          pendingBlocks.push(Buffer.from(part));
          if (padding === 0) await endExtension();
        } else {
          await visitor.raw?.(part, 'content');
          if (padding === 0 && inEntry) await finishEntry();
        }
        continue;
      }
      const n = Math.min(BLOCK - headerFill, chunk.length);
      chunk.copy(header, headerFill, 0, n);
      headerFill += n;
      chunk = chunk.subarray(n);
      if (headerFill === BLOCK) {
        const block = header;
        header = Buffer.alloc(BLOCK);
        headerFill = 0;
        await onHeaderBlock(block);
      }
    }
  }
  if (!ended) throw new TarFormatError('the archive is truncated: it ends before its end-of-archive marker');
}

// ---------------------------------------------------------------- writing

function octal(value: number, length: number): string {
  return `${Math.floor(value).toString(8).padStart(length - 1, '0')}\0`;
}

function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`, 'latin1'), value, Buffer.from('\n')]);
  // The length counts its own digits.
  let length = body.length + 1;
  while (String(length).length + body.length !== length) length = String(length).length + body.length;
  return Buffer.concat([Buffer.from(String(length), 'latin1'), body]);
}

function headerBlock(fields: { name: string; flag: string; size: number; mode: number; uid: number; gid: number; mtime: number; linkname: string; devmajor: number; devminor: number }): Buffer {
  const block = Buffer.alloc(BLOCK);
  block.write(fields.name.slice(0, 100), 0, 'latin1');
  block.write(octal(fields.mode & 0o7777777, 8), 100, 'latin1');
  block.write(octal(Math.min(fields.uid, 0o7777777), 8), 108, 'latin1');
  block.write(octal(Math.min(fields.gid, 0o7777777), 8), 116, 'latin1');
  block.write(octal(Math.min(fields.size, 0o77777777777), 12), 124, 'latin1');
  block.write(octal(Math.max(0, Math.min(fields.mtime, 0o77777777777)), 12), 136, 'latin1');
  block.write(fields.flag, 156, 'latin1');
  block.write(fields.linkname.slice(0, 100), 157, 'latin1');
  block.write('ustar\x0000', 257, 'latin1');
  block.write(octal(fields.devmajor, 8), 329, 'latin1');
  block.write(octal(fields.devminor, 8), 337, 'latin1');
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += block[i] ?? 0;
  block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
  return block;
}

/**
 * The header blocks of an entry written anew: a PAX header carrying the exact
 * path, link target, size and ids (and the entry's other PAX records, such as
 * xattrs and sub-second times), then a ustar header.
 */
export function encodeHeader(entry: Pick<TarEntry, 'name' | 'linkname' | 'typeflag' | 'size' | 'mode' | 'uid' | 'gid' | 'mtime' | 'devmajor' | 'devminor' | 'pax'>): Buffer {
  const records = new Map(entry.pax);
  records.set('path', Buffer.from(entry.name, 'latin1'));
  if (entry.linkname !== '') records.set('linkpath', Buffer.from(entry.linkname, 'latin1'));
  else records.delete('linkpath');
  records.set('size', Buffer.from(String(entry.size), 'latin1'));
  records.set('uid', Buffer.from(String(entry.uid), 'latin1'));
  records.set('gid', Buffer.from(String(entry.gid), 'latin1'));
  if (!records.has('mtime')) records.set('mtime', Buffer.from(String(entry.mtime), 'latin1'));
  const data = Buffer.concat([...records].map(([k, v]) => paxRecord(k, v)));
  const pax = headerBlock({ name: 'PaxHeader', flag: 'x', size: data.length, mode: 0o644, uid: 0, gid: 0, mtime: Math.floor(entry.mtime), linkname: '', devmajor: 0, devminor: 0 });
  const plainName = /^[\x20-\x7e]*$/.test(entry.name) ? entry.name : 'non-ascii-name';
  const plainLink = /^[\x20-\x7e]*$/.test(entry.linkname) ? entry.linkname : 'non-ascii-name';
  const main = headerBlock({ name: plainName, flag: entry.typeflag, size: entry.size, mode: entry.mode, uid: entry.uid, gid: entry.gid, mtime: entry.mtime, linkname: plainLink, devmajor: entry.devmajor, devminor: entry.devminor });
  return Buffer.concat([pax, data, Buffer.alloc(paddingOf(data.length)), main]);
}

/** Zero padding after `size` bytes of content. */
export function contentPadding(size: number): Buffer {
  return Buffer.alloc(paddingOf(size));
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
