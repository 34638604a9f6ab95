// restore --dry-run prints the very pipeline a restore runs, built by the same
// code (DirectorySetReader.render), and it can be pasted into a shell: here it is run, with
// `tar -t` standing in for the engine, on zstd, gzip and age artifacts.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { docker } from '../../src/engine/docker.js';
import type { ArtifactRecord } from '../../src/backup/set.js';
import { command } from '../../src/engine/command.js';
import { DirectorySetReader } from '../../src/backup/set-reader.js';
import { writeManifest } from '../../src/backup/set.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-dry-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sh = (script: string, ...args: string[]): string => execFileSync('sh', ['-c', script, 'sh', ...args], { encoding: 'utf8' });

writeFileSync(join(dir, 'hello.txt'), 'hello\n');
const key = join(dir, 'key.txt');
sh('age-keygen -o "$1" 2>/dev/null', key);
const recipient = sh('age-keygen -y "$1"', key).trim();

const cases: Array<[string, string, Partial<ArtifactRecord>, string[]]> = [
  ['zstd', 'data.tar.zst', { format: 'tar+zstd' }, ['zstd -d -q -c']],
  ['gzip', 'data.tar.gz', { format: 'tar+gzip' }, ['gzip -d -c']],
  ['age + zstd', 'data.tar.zst.age', { format: 'tar+zstd', encrypted: true }, [`age -d -i ${key}`, 'zstd -d -q -c']],
];

describe.each(cases)('a %s artifact', (_kind, file, extra, decoders) => {
  // A set directory of its own, read as restore reads it: what --dry-run prints is the reader's render.
  const setDir = join(dir, file.replace(/\W+/g, '-'));
  mkdirSync(setDir);
  const path = join(setDir, file);
  const make = file.endsWith('.age')
    ? 'tar -C "$2" -cf - hello.txt | zstd -q -c | age -r "$3" > "$1"'
    : file.endsWith('.gz')
      ? 'tar -C "$2" -cf - hello.txt | gzip -c > "$1"'
      : 'tar -C "$2" -cf - hello.txt | zstd -q -c > "$1"';
  sh(make, path, dir, recipient);
  const artifact: ArtifactRecord = { volume: 'data', file, method: 'tar', bytes: statSync(path).size, sha256: sh('sha256sum < "$1"', path).split(' ')[0] ?? '', ...extra };
  writeManifest(setDir, { format: 1, project: 'dry', env: 'dev', created: new Date().toISOString(), artifacts: [artifact] });
  const reader = new DirectorySetReader(setDir);

  it('decodes with the filters its format needs, in order, into the staging directory', () => {
    const [first, ...rest] = decoders;
    expect(reader.render(artifact, key, docker.archiveWrite('helper', '/v/.stowage-restore-x'))).toBe(
      [`${first ?? ''} < ${path}`, ...rest, 'docker cp --archive - helper:/v/.stowage-restore-x'].join(' | '),
    );
  });

  it('prints a pipeline that runs as printed', () => {
    expect(sh(reader.render(artifact, key, command('tar', ['-tf', '-'], 'list')))).toBe('hello.txt\n');
  });
});
