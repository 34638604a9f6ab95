// A damaged archive is reported, never waited on forever: the decoder that
// feeds the scan is stopped when the scan fails.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { scanArchive } from '../../src/engine/archive.js';
import { filters, readArtifact } from '../../src/engine/pipeline.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A valid zstd frame whose content is `content`: the damage is in the tar, not in the compression. */
function zstdFileOf(content: Buffer): string {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-scan-'));
  dirs.push(dir);
  const plain = join(dir, 'x.tar');
  writeFileSync(plain, content);
  execFileSync('zstd', ['-q', '-f', plain, '-o', `${plain}.zst`]);
  return `${plain}.zst`;
}

async function scanOf(path: string): Promise<[PromiseSettledResult<unknown>, PromiseSettledResult<unknown>]> {
  const reader = readArtifact(path, [filters.decompress('zstd')]);
  return Promise.allSettled([scanArchive(reader.content), reader.done]);
}

describe('scanArchive of a damaged tar inside a valid zstd frame', () => {
  it('rejects garbage that is not a tar header, and the decoder is stopped (both settle)', async () => {
    // 4 MiB: far more than the pipes between zstd and the scan can hold.
    const [scan, decoded] = await scanOf(zstdFileOf(Buffer.alloc(4 << 20, 0x41)));
    expect(scan.status).toBe('rejected');
    expect(decoded.status).toBe('rejected');
  }, 20_000);

  it('rejects a tar cut off in the middle of a file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stowage-scan-src-'));
    dirs.push(dir);
    writeFileSync(join(dir, 'big.bin'), Buffer.alloc(3 << 20, 1));
    const tarBytes = execFileSync('tar', ['-cf', '-', '-C', dir, 'big.bin'], { maxBuffer: 16 << 20 });
    const [scan] = await scanOf(zstdFileOf(tarBytes.subarray(0, 1 << 20)));
    expect(scan.status).toBe('rejected');
  }, 20_000);
});
