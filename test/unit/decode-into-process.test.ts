// Restores stream an artifact that was verified earlier: the same bytes or none.
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { command } from '../../src/engine/command.js';
import { decodeIntoProcess, fileIdentity } from '../../src/engine/pipeline.js';

const dirs: string[] = [];
function workDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'stowage-decode-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const identityOf = (path: string): string => fileIdentity(statSync(path, { bigint: true }));
const passThrough = command('cat', [], 'decode (cat stands in for zstd -d)', false);
const consumerInto = (out: string, delaySeconds = 0) => command('sh', ['-c', `sleep ${delaySeconds}; cat > "$1"`, 'sh', out], 'consume', false);

describe('decodeIntoProcess', () => {
  it('streams the file through the filters into the consumer and reports progress up to its size', async () => {
    const dir = workDir();
    const artifact = join(dir, 'a.bin');
    writeFileSync(artifact, Buffer.alloc(3 << 20, 7));
    let progressed = 0;
    await decodeIntoProcess(artifact, [passThrough], consumerInto(join(dir, 'out')), { identity: identityOf(artifact), onStoredBytes: (n) => (progressed += n) });
    expect(readFileSync(join(dir, 'out')).equals(readFileSync(artifact))).toBe(true);
    expect(progressed).toBe(3 << 20);
  });

  it('refuses a file whose identity is not the verified one, before starting anything', async () => {
    const dir = workDir();
    const artifact = join(dir, 'a.bin');
    writeFileSync(artifact, 'verified');
    const identity = identityOf(artifact);
    writeFileSync(artifact, 'replaced');
    await expect(decodeIntoProcess(artifact, [passThrough], consumerInto(join(dir, 'out')), { identity })).rejects.toThrow(/changed since it was verified/);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('fails when the file is written to while it streams, even with the same size', async () => {
    const dir = workDir();
    const artifact = join(dir, 'a.bin');
    writeFileSync(artifact, Buffer.alloc(1 << 20, 1));
    const identity = identityOf(artifact);
    const streaming = decodeIntoProcess(artifact, [passThrough], consumerInto(join(dir, 'out'), 1), { identity });
    await new Promise((r) => setTimeout(r, 200));
    const fd = openSync(artifact, 'r+');
    writeSync(fd, Buffer.from([2]), 0, 1, 10);
    closeSync(fd);
    await expect(streaming).rejects.toThrow(/changed while it was restored/);
  });

  it('reports the failing filter with its own message', async () => {
    const dir = workDir();
    const artifact = join(dir, 'a.bin');
    writeFileSync(artifact, 'x');
    const failing = command('sh', ['-c', 'echo "zstd: corrupted block" >&2; exit 1'], 'decompress with zstd', false);
    await expect(decodeIntoProcess(artifact, [failing], consumerInto(join(dir, 'out')), { identity: identityOf(artifact) })).rejects.toThrow(/decompress with zstd failed[\s\S]*corrupted block/);
  });
});
