// The swap marker is read back from a volume: untrusted input. The paths a
// restore swaps are normalized and checked before anything moves.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync, mkdirSync, symlinkSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SWAP_ALL, SWAP_PATHS, parseMarker, isSwapPath, markerText, type SwapMarker } from '../../src/backup/swap.js';
import { collapsePaths } from '../../src/backup/restore.js';
import { parseLinkGroups, parseOwnEntries, parseSpecialFiles } from '../../src/engine/special-files.js';

describe('a swap marker read back from a volume', () => {
  const good: SwapMarker = { format: 1, mode: 'all', staging: '.stowage-restore-abc-123', old: '.stowage-old-abc-123', args: ['1000:1000', '750', '@1700000000'] };

  it('round-trips', () => {
    expect(parseMarker(markerText(good), 'v')).toEqual(good);
  });

  it.each([
    ['a staging directory that is not ours', { ...good, staging: '../etc' }],
    ['an old directory that is not ours', { ...good, old: 'data' }],
    ['root arguments that are not an owner, mode and time', { ...good, args: ['root', '750', '@1'] }],
    ['paths that leave the volume', { ...good, mode: 'paths', args: ['0', '../a'] }],
    ['an absolute path', { ...good, mode: 'paths', args: ['0', '/etc/passwd'] }],
    ['more companions than paths', { ...good, mode: 'paths', args: ['3', 'a'] }],
    ['an unknown key', { ...good, run: 'rm -rf /' }],
  ])('is refused when it holds %s', (_what, marker) => {
    expect(() => parseMarker(JSON.stringify(marker), 'v')).toThrow(/swap marker/);
  });

  it('is refused when it is not JSON', () => {
    expect(() => parseMarker('{"format":', 'v')).toThrow(/not JSON/);
  });
});

describe('paths a restore swaps', () => {
  it('are normalized, made distinct, and a path inside another is left out', () => {
    expect(collapsePaths(['./a/', 'a/b', 'c', 'c', 'd/e'])).toEqual(['a', 'c', 'd/e']);
  });

  it.each(['.', './', '../x', 'a/../../x', '/etc', 'a/./b'])('refuse %s', (p) => {
    expect(() => collapsePaths([p])).toThrow();
  });

  it('isSwapPath accepts names with dots and spaces inside', () => {
    expect(isSwapPath('.hidden/a b.txt')).toBe(true);
    expect(isSwapPath('a//b')).toBe(false);
  });
});

describe('the special-file scan output', () => {
  const hex = (s: string): string => Buffer.from(s, 'latin1').toString('hex');

  it('keeps every byte of the names it reports', () => {
    const out = `s:${hex('./run/app.sock\0')}\nb:\nc:${hex('./dev/n\nul\0./caf\xe9\0')}\no:${hex('.stowage-old-x\0')}\nl:${hex('12 ./a\x0012 ./sub/b\x00')}\n`;
    expect(parseSpecialFiles(out)).toEqual([
      { path: 'run/app.sock', kind: 'socket' },
      { path: 'dev/n\nul', kind: 'character-device' },
      { path: 'caf\xe9', kind: 'character-device' },
    ]);
    expect(parseOwnEntries(out)).toEqual(['.stowage-old-x']);
    expect(parseLinkGroups(out).get('sub/b')).toEqual(['a', 'sub/b']);
  });

  it('refuses output it does not understand', () => {
    expect(() => parseSpecialFiles('garbage')).toThrow();
    expect(() => parseSpecialFiles('s:zz\nb:\nc:\n')).toThrow();
  });
});

// The swap scripts run against a directory standing for the volume, as a helper runs them at /v.
describe('the swap scripts, run again after an interruption', () => {
  const work = mkdtempSync(join(tmpdir(), 'stowage-swap-'));
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  function volume(tag: string): string {
    const v = join(work, tag);
    mkdirSync(join(v, '.stowage-restore-x'), { recursive: true });
    writeFileSync(join(v, 'old-a'), 'old');
    writeFileSync(join(v, 'same'), 'old');
    writeFileSync(join(v, '.stowage-restore-x', 'new-a'), 'new');
    writeFileSync(join(v, '.stowage-restore-x', 'same'), 'new');
    return v;
  }

  const run = (script: string, v: string, args: string[]): number => {
    try {
      execFileSync('sh', ['-c', script.replaceAll('/v', v), 'sh', ...args], { stdio: 'pipe' });
      return 0;
    } catch (err) {
      return (err as { status: number }).status;
    }
  };
  const listing = (v: string): string[] => readdirSync(v).sort().map((n) => `${n}${existsSync(join(v, n)) && !n.startsWith('.') ? `=${readFileSync(join(v, n), 'utf8')}` : ''}`);

  it('SWAP_ALL finishes a swap cut off after the live entries were moved aside', () => {
    const v = volume('all');
    // As if killed after phase 1: everything aside, phase file written, nothing moved in yet.
    mkdirSync(join(v, '.stowage-old-x'));
    execFileSync('sh', ['-c', 'mv "$1/old-a" "$1/same" "$1/.stowage-old-x/" && : > "$1/.stowage-swap.in"', 'sh', v]);
    writeFileSync(join(v, '.stowage-swap.json'), '{}');
    const uid = process.getuid?.() ?? 0;
    expect(run(SWAP_ALL, v, ['.stowage-restore-x', '.stowage-old-x', `${uid}:${uid}`, '755', '@1700000000'])).toBe(0);
    expect(listing(v)).toEqual(['new-a=new', 'same=new']);
  });

  it('SWAP_PATHS finishes a path swap cut off between moving a path aside and moving its copy in', () => {
    const v = volume('paths');
    mkdirSync(join(v, '.stowage-old-x'));
    execFileSync('sh', ['-c', 'mv "$1/same" "$1/.stowage-old-x/same"', 'sh', v]);
    expect(run(SWAP_PATHS, v, ['.stowage-restore-x', '.stowage-old-x', '0', 'same'])).toBe(0);
    expect(listing(v)).toEqual(['old-a=old', 'same=new']);
  });

  it('SWAP_PATHS refuses a path that leads through a symlink in the live volume and moves nothing', () => {
    const v = volume('through-link');
    mkdirSync(join(v, 'real'));
    symlinkSync('real', join(v, 'link'));
    mkdirSync(join(v, '.stowage-restore-x', 'link'), { recursive: true });
    writeFileSync(join(v, '.stowage-restore-x', 'link', 'f'), 'new');
    expect(run(SWAP_PATHS, v, ['.stowage-restore-x', '.stowage-old-x', '0', 'link/f'])).toBe(4);
    expect(readdirSync(join(v, 'real'))).toEqual([]);
  });
});
