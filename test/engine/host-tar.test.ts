// GNU tar on the local path writes the archive exactly as the archive endpoint
// would name it: a SQLite online copy goes in under the live database's name.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
