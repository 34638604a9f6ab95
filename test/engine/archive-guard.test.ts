import { describe, expect, it } from 'vitest';
import { EntryGuard, engineRefusesSymlink, heldBackWithin, normalizeEntryName, scanArchive } from '../../src/engine/archive.js';
import { END_OF_ARCHIVE, encodeHeader, type TarEntry } from '../../src/engine/tar-format.js';

type Kind = TarEntry['kind'];

function entry(name: string, kind: Kind, linkname = ''): TarEntry {
  const flags: Record<Kind, string> = { file: '0', link: '1', symlink: '2', 'character-device': '3', 'block-device': '4', directory: '5', fifo: '6', unsupported: 'S' };
  return { name, kind, typeflag: flags[kind], linkname, size: 0, mode: 0o644, mtime: 0, uid: 0, gid: 0, devmajor: 0, devminor: 0, pax: new Map(), headerBlocks: [] };
}

function problemsOf(...entries: TarEntry[]): string[] {
  const guard = new EntryGuard();
  for (const e of entries) guard.check(e);
  guard.finish();
  return guard.problems.map((p) => `${p.name}: ${p.reason}`);
}

describe('a symlink target is data', () => {
  it.each([
    ['relative inside', '../a/f'],
    ['absolute', '/etc/hostname'],
    ['dangling', 'does-not-exist'],
    ['leaving the volume', '../../etc/x'],
    ['a chain that leaves only through another link', 'sub/up/..'],
  ])('accepts a symlink whose target is %s', (_what, target) => {
    expect(problemsOf(entry('./', 'directory'), entry('./sub/', 'directory'), entry('./sub/up', 'symlink', '..'), entry('./l', 'symlink', target))).toEqual([]);
  });

  it('accepts a hard link to a symlink that came earlier', () => {
    expect(problemsOf(entry('./l', 'symlink', '/etc'), entry('./h', 'link', './l'))).toEqual([]);
  });
});

describe('entries a restore refuses', () => {
  it('accepts an ordinary tree', () => {
    expect(problemsOf(entry('./', 'directory'), entry('./a/', 'directory'), entry('./a/f', 'file'), entry('./a/l', 'symlink', '../a/f'), entry('./h', 'link', './a/f'), entry('./p', 'fifo'))).toEqual([]);
  });

  it('refuses absolute names', () => {
    expect(problemsOf(entry('/etc/passwd', 'file'))).toEqual(['/etc/passwd: absolute path']);
  });

  it('refuses .. segments in names', () => {
    expect(problemsOf(entry('./a/../../x', 'file'))[0]).toContain('".."');
  });

  it('refuses writing through a symlink that came earlier in the archive', () => {
    expect(problemsOf(entry('./l', 'symlink', 'sub'), entry('./l/x', 'file'))).toEqual(['./l/x: path goes through symlink "l"']);
  });

  it('refuses writing through a symlink several levels up', () => {
    expect(problemsOf(entry('./a/', 'directory'), entry('./a/l', 'symlink', '/etc'), entry('./a/l/b/c', 'file'))).toEqual(['./a/l/b/c: path goes through symlink "a/l"']);
  });

  it('refuses an entry below a symlink that appears later in the archive', () => {
    expect(problemsOf(entry('./l/x', 'file'), entry('./l', 'symlink', 'sub'))).toContain('./l/x: path goes through symlink "l"');
  });

  it('refuses an entry that replaces a symlink', () => {
    expect(problemsOf(entry('./l', 'symlink', '/etc'), entry('./l', 'file'))).toEqual(['./l: replaces a symlink that came earlier in the archive']);
    expect(problemsOf(entry('./l', 'symlink', '/etc'), entry('./l/', 'directory'))).toEqual(['./l/: replaces a symlink that came earlier in the archive']);
  });

  it('refuses a symlink that replaces an earlier entry', () => {
    expect(problemsOf(entry('./d/', 'directory'), entry('./d', 'symlink', '/etc'))).toEqual(['./d: a symlink that replaces an earlier entry of the same name']);
  });

  it('refuses hard links to anything that is not an earlier entry', () => {
    expect(problemsOf(entry('./h', 'link', './elsewhere'))[0]).toContain('not an earlier entry');
    expect(problemsOf(entry('./h', 'link', '/etc/shadow'))[0]).toContain('outside the archive');
    expect(problemsOf(entry('./h', 'link', '../x'))[0]).toContain('outside the archive');
  });

  it('refuses device files and entry types the engine cannot extract', () => {
    expect(problemsOf(entry('./null', 'character-device'))).toEqual(['./null: device file']);
    expect(problemsOf(entry('./sda', 'block-device'))).toEqual(['./sda: device file']);
    expect(problemsOf(entry('./sparse', 'unsupported'))).toEqual(['./sparse: unsupported entry type "S"']);
  });

  it('normalizes ./ prefixes and trailing slashes, the root becoming empty', () => {
    expect(normalizeEntryName('./')).toBe('');
    expect(normalizeEntryName('./a/b/')).toBe('a/b');
    expect(normalizeEntryName('a')).toBe('a');
  });
});

describe('symlinks the archive endpoint refuses to extract', () => {
  it.each([
    ['up', '../../etc/x', true],
    ['up', '..', true],
    ['sub/up', '..', false],
    ['sub/up', '../..', true],
    ['a/b/l', '../../c', false],
    ['l', '/etc', false],
    ['l', 'dangling', false],
    ['l', '.', false],
  ])('%s -> %s: %s', (name, target, refused) => {
    expect(engineRefusesSymlink(name, target)).toBe(refused);
  });
});

function archive(...entries: TarEntry[]): Buffer {
  return Buffer.concat([...entries.map((e) => encodeHeader(e)), END_OF_ARCHIVE]);
}

describe('held-back entries found by a scan', () => {
  it('holds back refused links, hard links to them, and the directories that hold them', async () => {
    const summary = await scanArchive([
      archive(entry('./', 'directory'), entry('./a/', 'directory'), entry('./a/b/', 'directory'), entry('./a/b/up', 'symlink', '../../../x'), entry('./a/b/h', 'link', './a/b/up'), entry('./abs', 'symlink', '/etc'), entry('./in', 'symlink', 'a')),
    ]);
    expect(summary.problems).toEqual([]);
    expect([...summary.heldBack.names]).toEqual(['a/b/up', 'a/b/h']);
    expect(summary.heldBack.parents.map((p) => normalizeEntryName(p.name))).toEqual(['a', 'a/b']);
  });

  it('holds back nothing when every link extracts in place', async () => {
    const summary = await scanArchive([archive(entry('./', 'directory'), entry('./abs', 'symlink', '/etc/hostname'), entry('./d', 'symlink', 'nowhere'))]);
    expect(summary.heldBack.names.size).toBe(0);
  });

  it('keeps only the held-back entries inside the restored paths', async () => {
    const summary = await scanArchive([archive(entry('./', 'directory'), entry('./a/', 'directory'), entry('./a/up', 'symlink', '../../x'), entry('./b/', 'directory'), entry('./b/up', 'symlink', '../../y'))]);
    const within = heldBackWithin(summary.heldBack, ['b']);
    expect([...within.names]).toEqual(['b/up']);
    expect(within.parents.map((p) => normalizeEntryName(p.name))).toEqual(['b']);
  });
});
