// GNU tar on the local path writes the archive exactly as the archive endpoint
// would: a SQLite online copy goes in under the live database's name, and
// --path reads only the paths asked for.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { hostTarCreate } from '../../src/engine/local-path.js';
import { exec } from '../helpers/engine.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-host-tar-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('names a renamed entry exactly (a dot in the new name stays a dot)', async () => {
  writeFileSync(join(dir, '.stowage-sqlite-x-0'), 'copy');
  writeFileSync(join(dir, 'keep.txt'), 'k');
  const cmd = hostTarCreate(dir, { excludeFile: undefined, include: [], rename: [['.stowage-sqlite-x-0', 'app.db']] });
  const listed = await exec('sh', ['-c', '"$@" | tar -tf -', 'sh', cmd.program, ...cmd.args]);
  expect(listed.code, listed.stderr).toBe(0);
  expect(listed.stdout.split('\n').filter((l) => l !== '').sort()).toEqual(['./', './app.db', './keep.txt']);
});

it('reads only the paths asked for, with their parent directories\' own entries', async () => {
  const sub = join(dir, 'selected');
  mkdirSync(join(sub, 'a', 'b'), { recursive: true });
  writeFileSync(join(sub, 'a', 'b', 'in'), 'in');
  writeFileSync(join(sub, 'a', 'out'), 'out');
  writeFileSync(join(sub, 'top'), 'top');
  const cmd = hostTarCreate(sub, { excludeFile: undefined, include: ['a/b'], rename: [] });
  const listed = await exec('sh', ['-c', '"$@" | tar -tf -', 'sh', cmd.program, ...cmd.args]);
  expect(listed.code, listed.stderr).toBe(0);
  expect(listed.stdout.split('\n').filter((l) => l !== '').sort()).toEqual(['./', './a/', './a/b/', './a/b/in']);
});
