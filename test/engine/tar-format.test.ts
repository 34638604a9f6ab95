// The tar reader and writer keep every byte of names and extended headers:
// checked against GNU tar, which writes and reads the archives on the other side.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { transformArchive } from '../../src/engine/archive.js';
import { END_OF_ARCHIVE, encodeHeader, entryNameOf, walkTar, type TarEntry } from '../../src/engine/tar-format.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-tar-format-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** GNU tar (POSIX format) of a tree made by `script` in a fresh directory. */
function gnuTar(script: string): Buffer {
  const root = mkdtempSync(join(dir, 'tree-'));
  execFileSync('sh', ['-c', script], { cwd: root });
  return execFileSync('tar', ['--format=posix', '--numeric-owner', '-C', root, '-cf', '-', '.'], { maxBuffer: 64 * 1024 * 1024 });
}

async function entriesOf(data: Buffer | Readable): Promise<TarEntry[]> {
  const found: TarEntry[] = [];
  await walkTar(data instanceof Readable ? data : [data], { entry: (e) => void found.push(e) });
  return found;
}

async function collect(stream: Readable): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of stream) parts.push(chunk as Buffer);
  return Buffer.concat(parts);
}

function listing(archive: Buffer): string {
  const file = join(dir, `list-${Math.random().toString(36).slice(2)}.tar`);
  writeFileSync(file, archive);
  return execFileSync('tar', ['--numeric-owner', '-tvf', file], { encoding: 'latin1' });
}

describe('reading', () => {
  it('reads names that are not UTF-8 as their raw bytes', async () => {
    const archive = gnuTar("printf x > \"$(printf 'caf\\351')\"");
    const names = (await entriesOf(archive)).map((e) => e.name);
    expect(names).toContain('./caf\xe9');
  });

  it('reads names with newlines and tabs', async () => {
    const archive = gnuTar("printf x > \"$(printf 'a\\nb\\tc')\"");
    expect((await entriesOf(archive)).map((e) => e.name)).toContain('./a\nb\tc');
  });

  it('reads long names and link targets from PAX headers', async () => {
    const long = 'd'.repeat(120);
    const archive = gnuTar(`mkdir ${long} && ln -s /${'t'.repeat(150)} ${long}/l`);
    const link = (await entriesOf(archive)).find((e) => e.kind === 'symlink');
    expect(link?.name).toBe(`./${long}/l`);
    expect(link?.linkname).toBe(`/${'t'.repeat(150)}`);
  });

  it('throws on a truncated archive', async () => {
    const archive = gnuTar('head -c 5000 /dev/zero > f');
    await expect(entriesOf(archive.subarray(0, 2048))).rejects.toThrow(/truncated/);
  });

  it('throws on a damaged header', async () => {
    const archive = Buffer.from(gnuTar('printf x > f'));
    archive[1536 + 3] = (archive[1536 + 3] ?? 0) ^ 0xff;
    await expect(entriesOf(archive)).rejects.toThrow(/checksum|PAX|damaged/);
  });

  it('reads no content after a symlink header even when its size field says so, as the engine does', async () => {
    const link = encodeHeader({ name: './l', linkname: '/etc', typeflag: '2', size: 0, mode: 0o777, uid: 0, gid: 0, mtime: 0, devmajor: 0, devminor: 0, pax: new Map() });
    const fixed = Buffer.from(link);
    // Put a size of 512 into the ustar header (the last block) and fix its checksum.
    const main = fixed.subarray(fixed.length - 512);
    main.write('00000001000\0', 124, 'latin1');
    main.fill(0x20, 148, 156);
    let sum = 0;
    for (const b of main) sum += b;
    main.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    const hidden = encodeHeader({ name: './hidden', linkname: '', typeflag: '0', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: 0, devmajor: 0, devminor: 0, pax: new Map() });
    const names = (await entriesOf(Buffer.concat([fixed.subarray(0, fixed.length - 512), main, hidden, END_OF_ARCHIVE]))).map((e) => e.name);
    expect(names).toEqual(['./l', './hidden']);
  });
});

describe('rewriting', () => {
  it('passes kept entries through byte for byte, including non-UTF-8 names and xattrs', async () => {
    const archive = gnuTar("printf a > \"$(printf 'caf\\351')\" && printf b > drop && printf c > keep");
    const out = await collect(transformArchive([archive], { include: [], exclude: ['drop'], splice: [], dropWith: () => false }));
    const before = listing(archive).split('\n').filter((l) => !l.endsWith('./drop'));
    expect(listing(out).split('\n')).toEqual(before);
    // Every kept entry is the same bytes.
    const kept = (await entriesOf(out)).map((e) => Buffer.concat(e.headerBlocks).toString('hex'));
    const original = (await entriesOf(archive)).filter((e) => e.name !== './drop').map((e) => Buffer.concat(e.headerBlocks).toString('hex'));
    expect(kept).toEqual(original);
  });

  it('keeps a hard link whose file the selection leaves out: the first kept name becomes the file', async () => {
    const archive = gnuTar('printf shared > a && mkdir sub && ln a sub/x && ln a sub/y && printf other > b');
    const groups = new Map<string, string[]>([['a', ['a', 'sub/x', 'sub/y']], ['sub/x', ['a', 'sub/x', 'sub/y']], ['sub/y', ['a', 'sub/x', 'sub/y']]]);
    const out = await collect(transformArchive([archive], { include: ['sub'], exclude: [], splice: [], dropWith: () => false, linkGroups: groups }));
    const extracted = mkdtempSync(join(dir, 'sel-'));
    const file = join(dir, 'sel.tar');
    writeFileSync(file, out);
    execFileSync('tar', ['-C', extracted, '-xf', file]);
    expect(readFileSync(join(extracted, 'sub/x'), 'utf8')).toBe('shared');
    const inodes = execFileSync('stat', ['-c', '%i %h', join(extracted, 'sub/x'), join(extracted, 'sub/y')], { encoding: 'utf8' }).trim().split('\n');
    expect(inodes[0]).toBe(inodes[1]);
    expect(inodes[0]).toMatch(/ 2$/);
  });

  it('writes headers GNU tar reads back with the exact raw name and target', () => {
    const name = `./caf\xe9/${'x'.repeat(200)}\nend`;
    const header = encodeHeader({ name, linkname: '../../\xff', typeflag: '2', size: 0, mode: 0o777, uid: 1234, gid: 5678, mtime: 1_000_000_000, devmajor: 0, devminor: 0, pax: new Map() });
    const file = join(dir, 'written.tar');
    writeFileSync(file, Buffer.concat([header, END_OF_ARCHIVE]));
    const extracted = mkdtempSync(join(dir, 'x-'));
    execFileSync('tar', ['-C', extracted, '-xf', file]);
    const listed = execFileSync('sh', ['-c', 'cd "$1" && find . -type l -exec readlink {} \\;', 'sh', extracted], { encoding: 'latin1' });
    expect(listed).toBe('../../\xff\n');
    expect(readFileSync(file).includes(Buffer.from(entryNameOf('café'), 'latin1'))).toBe(false);
  });
});
