// Restores stream an artifact that was verified earlier: the same bytes or none;
// and the artifact's hash is taken beside the decoding, on another core when it can.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { command } from '../../src/engine/command.js';
import { decodeIntoProcess, fileFingerprint, preferredHasher, sha256OfFile } from '../../src/engine/pipeline.js';

const dirs: string[] = [];
function workDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'stowage-decode-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const fingerprintOf = (path: string): string => fileFingerprint(statSync(path, { bigint: true }));
const passThrough = command('cat', [], 'decode (cat stands in for zstd -d)', false);
const consumerInto = (out: string, delaySeconds = 0) => command('sh', ['-c', `sleep ${delaySeconds}; cat > "$1"`, 'sh', out], 'consume', false);

describe('decodeIntoProcess', () => {
  it('streams the file through the filters into the consumer and reports progress up to its size', async () => {
    const dir = workDir();
    const artifact = join(dir, 'a.bin');
    writeFileSync(artifact, Buffer.alloc(3 << 20, 7));
    let progressed = 0;
    await decodeIntoProcess(artifact, [passThrough], consumerInto(join(dir, 'out')), { fingerprint: fingerprintOf(artifact), onStoredBytes: (n) => (progressed += n) });
    expect(readFileSync(join(dir, 'out')).equals(readFileSync(artifact))).toBe(true);
    expect(progressed).toBe(3 << 20);
  });

  it('refuses a file whose identity is not the verified one, before starting anything', async () => {
    const dir = workDir();
    const artifact = join(dir, 'a.bin');
    writeFileSync(artifact, 'verified');
    const identity = fingerprintOf(artifact);
    writeFileSync(artifact, 'replaced');
    await expect(decodeIntoProcess(artifact, [passThrough], consumerInto(join(dir, 'out')), { fingerprint: identity })).rejects.toThrow(/changed since it was verified/);
    expect(existsSync(join(dir, 'out'))).toBe(false);
  });

  it('fails when the file is written to while it streams, even with the same size', async () => {
    const dir = workDir();
    const artifact = join(dir, 'a.bin');
    writeFileSync(artifact, Buffer.alloc(1 << 20, 1));
    const identity = fingerprintOf(artifact);
    const streaming = decodeIntoProcess(artifact, [passThrough], consumerInto(join(dir, 'out'), 1), { fingerprint: identity });
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
    await expect(decodeIntoProcess(artifact, [failing], consumerInto(join(dir, 'out')), { fingerprint: fingerprintOf(artifact) })).rejects.toThrow(/decompress with zstd failed[\s\S]*corrupted block/);
  });
});

describe('sha256OfFile', () => {
  const expected = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

  for (const hasher of ['openssl', 'node'] as const) {
    it(`hashes with ${hasher} and reports progress up to the size`, async () => {
      const dir = workDir();
      const file = join(dir, 'a.bin');
      writeFileSync(file, Buffer.concat([Buffer.alloc(2 << 20, 3), Buffer.from('tail')]));
      let progressed = 0;
      const r = await sha256OfFile(file, (n) => (progressed += n), hasher);
      expect(r).toEqual({ sha256: expected(file), bytes: (2 << 20) + 4 });
      expect(progressed).toBe((2 << 20) + 4);
    });
  }

  it('prefers openssl when it is installed here', () => {
    expect(preferredHasher()).toBe(execFileSync('sh', ['-c', 'command -v openssl || true'], { encoding: 'utf8' }).trim() === '' ? 'node' : 'openssl');
  });

  it('hashes an empty file', async () => {
    const dir = workDir();
    const file = join(dir, 'empty');
    writeFileSync(file, '');
    expect((await sha256OfFile(file)).sha256).toBe(expected(file));
  });

  it('names the file it cannot read', async () => {
    await expect(sha256OfFile('/nonexistent/stowage/x.tar.zst')).rejects.toThrow(/\/nonexistent\/stowage\/x\.tar\.zst/);
  });
});
