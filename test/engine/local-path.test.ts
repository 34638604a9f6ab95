// The host tar commands of the local path, run for real on a temporary directory.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostTarCreate, parseIdentities, sameDirectory } from '../../src/engine/local-path.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-local-path-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function listing(args: string[]): string[] {
  return execFileSync('sh', ['-c', '"$@" | tar -tf -', 'sh', 'tar', ...args], { encoding: 'latin1' }).split('\n').filter((l) => l !== '');
}

describe('hostTarCreate', () => {
  const root = join(dir, 'volume');
  mkdirSync(join(root, 'sub/deeper'), { recursive: true });
  writeFileSync(join(root, 'app.db'), 'live');
  writeFileSync(join(root, '.stowage-sqlite-x.y-0'), 'copy');
  writeFileSync(join(root, 'a*b'), 'star');
  writeFileSync(join(root, 'aXb'), 'x');
  writeFileSync(join(root, 'sub/deeper/f'), 'f');
  writeFileSync(join(root, 'sub/other'), 'o');
  const excludeFile = join(dir, 'exclude');
  writeFileSync(excludeFile, './app.db\n./a*b\n');

  it('names entries ./path, leaves out exactly what it is told (no wildcards) and writes a copy under the live name', () => {
    const cmd = hostTarCreate(root, { excludeFile, include: [], rename: [['.stowage-sqlite-x.y-0', 'app.db']] });
    expect(cmd.program).toBe('tar');
    const names = listing(cmd.args);
    expect(names).toContain('./app.db');
    expect(names).toContain('./aXb');
    expect(names).not.toContain('./a*b');
    expect(names.filter((n) => n === './app.db')).toHaveLength(1);
    expect(names.some((n) => n.includes('stowage-sqlite'))).toBe(false);
  });

  it('selects paths with their ancestors\' own entries only', () => {
    const names = listing(hostTarCreate(root, { excludeFile: undefined, include: ['sub/deeper'], rename: [] }).args);
    expect(names).toEqual(['./', './sub/', './sub/deeper/', './sub/deeper/f']);
  });
});

describe('the proof that a directory is the engine\'s', () => {
  it('accepts the same device and inode, and names the difference otherwise', () => {
    const st = statSync(dir, { bigint: true });
    expect(sameDirectory(dir, { dev: st.dev, ino: st.ino })).toBeUndefined();
    expect(sameDirectory(dir, { dev: st.dev, ino: st.ino + 1n })).toMatch(/is not the directory the engine mounts/);
    expect(sameDirectory(join(dir, 'missing'), { dev: st.dev, ino: st.ino })).toMatch(/does not exist here/);
    expect(sameDirectory(dir, undefined)).toMatch(/could not read/);
  });

  it('reads what a helper printed', () => {
    expect(parseIdentities('2049 1234\nmissing\n', 2)).toEqual([{ dev: 2049n, ino: 1234n }, undefined]);
    expect(() => parseIdentities('2049 1234\n', 2)).toThrow();
  });
});
