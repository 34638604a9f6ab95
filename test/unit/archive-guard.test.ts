import { describe, expect, it } from 'vitest';
import { EntryGuard, normalizeEntryName, type TarHeader } from '../../src/engine/archive.js';

function header(name: string, type: TarHeader['type'], linkname = ''): TarHeader {
  return { name, type, linkname, size: 0, mode: 0o644, mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '', devmajor: 0, devminor: 0 };
}

function problemsOf(...headers: TarHeader[]): string[] {
  const guard = new EntryGuard();
  for (const h of headers) guard.check(h);
  return guard.problems.map((p) => `${p.name}: ${p.reason}`);
}

describe('entries a restore refuses', () => {
  it('accepts an ordinary tree with relative links that stay inside', () => {
    expect(problemsOf(header('./', 'directory'), header('./a/', 'directory'), header('./a/f', 'file'), header('./a/l', 'symlink', '../a/f'), header('./h', 'link', './a/f'))).toEqual([]);
  });

  it('refuses absolute paths', () => {
    expect(problemsOf(header('/etc/passwd', 'file'))).toEqual(['/etc/passwd: absolute path']);
  });

  it('refuses .. segments', () => {
    expect(problemsOf(header('./a/../../x', 'file'))[0]).toContain('".."');
  });

  it('refuses symlinks that climb out of the volume', () => {
    expect(problemsOf(header('./l', 'symlink', '../../etc'))[0]).toContain('escapes');
  });

  it('refuses symlinks to absolute paths', () => {
    expect(problemsOf(header('./l', 'symlink', '/etc'))[0]).toContain('absolute');
  });

  it('refuses writing through a symlink that came earlier in the archive', () => {
    expect(problemsOf(header('./l', 'symlink', 'sub'), header('./l/x', 'file'))).toEqual(['./l/x: path goes through symlink "l"']);
  });

  it('refuses hard links to paths that are not earlier entries', () => {
    expect(problemsOf(header('./h', 'link', './elsewhere'))[0]).toContain('not an earlier entry');
    expect(problemsOf(header('./h', 'link', '/etc/shadow'))[0]).toContain('outside the archive');
  });

  it('refuses device files', () => {
    expect(problemsOf(header('./null', 'character-device'))).toEqual(['./null: device file']);
    expect(problemsOf(header('./sda', 'block-device'))).toEqual(['./sda: device file']);
  });

  it('normalizes ./ prefixes and trailing slashes, the root becoming empty', () => {
    expect(normalizeEntryName('./')).toBe('');
    expect(normalizeEntryName('./a/b/')).toBe('a/b');
    expect(normalizeEntryName('a')).toBe('a');
  });
});

describe('escapes only the whole archive shows', () => {
  function finished(...headers: TarHeader[]): string[] {
    const guard = new EntryGuard();
    for (const h of headers) guard.check(h);
    guard.finish();
    return guard.problems.map((p) => `${p.name}: ${p.reason}`);
  }

  it('refuses a link that escapes through another link (sub/up -> .., l -> sub/up/..)', () => {
    expect(finished(header('./sub/', 'directory'), header('./sub/up', 'symlink', '..'), header('./l', 'symlink', 'sub/up/..'))).toEqual([
      './l: symlink to "sub/up/.." escapes the volume through other symlinks',
    ]);
  });

  it('refuses the same chain when the outer link comes first', () => {
    expect(finished(header('./l', 'symlink', 'sub/up/..'), header('./sub/', 'directory'), header('./sub/up', 'symlink', '..'))).toHaveLength(1);
  });

  it('refuses symlink loops', () => {
    expect(finished(header('./a', 'symlink', 'b'), header('./b', 'symlink', 'a'))).toHaveLength(2);
  });

  it('accepts chains that stay inside', () => {
    expect(finished(header('./releases/', 'directory'), header('./releases/v2/', 'directory'), header('./current', 'symlink', 'releases/v2'), header('./latest', 'symlink', 'current/..'))).toEqual([]);
  });

  it('refuses an entry below a symlink that appears later in the archive', () => {
    expect(finished(header('./l/x', 'file'), header('./l', 'symlink', 'sub'))).toContain('./l/x: path goes through symlink "l"');
  });
});
