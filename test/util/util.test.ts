// The small shared pieces: one each for bounded concurrency, UTC stamps,
// durable writes and Prometheus text.
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { mapLimited } from '../../src/util/concurrency.js';
import { writeFileAtomic } from '../../src/util/durable-file.js';
import { labelSet, renderMetrics } from '../../src/util/prometheus.js';
import { timeOfStamp, utcStamp } from '../../src/util/timestamps.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-util-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('mapLimited', () => {
  it('keeps the items\' order and never runs more than the limit at once', async () => {
    let running = 0;
    let most = 0;
    const out = await mapLimited([5, 1, 3, 2, 4], 2, async (n) => {
      running++;
      most = Math.max(most, running);
      await new Promise((r) => setTimeout(r, n));
      running--;
      return n * 10;
    });
    expect(out).toEqual([50, 10, 30, 20, 40]);
    expect(most).toBe(2);
  });

  it('lets the other items finish, then throws the first error', async () => {
    const done: number[] = [];
    await expect(
      mapLimited([1, 2, 3], 1, async (n) => {
        if (n === 2) throw new Error('two failed');
        done.push(n);
      }),
    ).rejects.toThrow('two failed');
    expect(done).toEqual([1, 3]);
  });
});

describe('UTC stamps', () => {
  it('name a time as YYYYMMDDTHHMMSSZ and read it back', () => {
    const date = new Date('2026-11-24T09:07:23.329Z');
    expect(utcStamp(date)).toBe('20261124T090723Z');
    expect(timeOfStamp('20261124T090723Z').toISOString()).toBe('2026-11-24T09:07:23.000Z');
  });

  it('refuse a name that is not one', () => {
    expect(() => timeOfStamp('2026-11-24')).toThrow(/not a UTC timestamp/);
  });
});

describe('writeFileAtomic', () => {
  it('writes the content with its mode and leaves no temporary file', () => {
    const file = join(dir, 'sub', 'metrics.prom');
    writeFileAtomic(file, 'a 1\n', 0o600);
    expect(readFileSync(file, 'utf8')).toBe('a 1\n');
    expect(readdirSync(join(dir, 'sub'))).toEqual(['metrics.prom']);
  });

  it('names the file when it cannot write it', () => {
    writeFileAtomic(join(dir, 'plain-file'), 'not a directory');
    const impossible = join(dir, 'plain-file', 'x');
    expect(() => writeFileAtomic(impossible, 'a')).toThrow(`cannot write ${impossible}`);
  });
});

describe('Prometheus text', () => {
  it('escapes label values and leaves out metrics without samples', () => {
    expect(renderMetrics([
      { name: 'a', help: 'first', samples: [{ labels: { project: 'p"x\\y\nz' }, value: 1 }] },
      { name: 'b', help: 'none', samples: [] },
    ])).toBe('# HELP a first\n# TYPE a gauge\na{project="p\\"x\\\\y\\nz"} 1\n');
    expect(labelSet({})).toBe('');
  });
});
