// restore --dry-run prints the very pipeline a restore runs, built by the same
// code (decodeSteps, renderStream: DirectorySetReader.render), and it can be pasted into a shell: here it is run, with
// `tar -t` standing in for the engine, on zstd, gzip and age artifacts.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeSteps } from '../../src/backup/verify.js';
import { docker } from '../../src/engine/docker.js';
import type { ArtifactRecord } from '../../src/backup/set.js';
import { command, renderCommand } from '../../src/engine/command.js';
import { renderStream } from '../../src/engine/pipeline.js';

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
  const path = join(dir, file);
  const make = file.endsWith('.age')
    ? 'tar -C "$2" -cf - hello.txt | zstd -q -c | age -r "$3" > "$1"'
    : file.endsWith('.gz')
      ? 'tar -C "$2" -cf - hello.txt | gzip -c > "$1"'
      : 'tar -C "$2" -cf - hello.txt | zstd -q -c > "$1"';
  sh(make, path, dir, recipient);
  const artifact: ArtifactRecord = { volume: 'data', file, method: 'tar', bytes: 0, sha256: '0'.repeat(64), ...extra };
  const stream = { path, steps: decodeSteps(artifact, key), target: docker.archiveWrite('helper', '/v/.stowage-restore-x') };

  it('decodes with the filters its format needs, in order', () => {
    expect(stream.steps.map(renderCommand)).toEqual(decoders);
    expect(renderCommand(stream.target)).toBe('docker cp --archive - helper:/v/.stowage-restore-x');
  });

  it('prints a pipeline that runs as printed', () => {
    const printed = renderStream(stream.path, stream.steps, command('tar', ['-tf', '-'], 'list'));
    expect(sh(printed)).toBe('hello.txt\n');
  });
});
