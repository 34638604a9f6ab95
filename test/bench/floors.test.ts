// The benchmark's floors: the pieces of a speed target that no implementation
// can skip, added up, and the best ratio against the docs' method they allow.
import { describe, expect, it } from 'vitest';
import type { Breakdown, ComponentTiming, FloorPart } from '../../bench/breakdown.js';
import { floorsOf } from '../../bench/report.js';

const piece = (name: string, median: number, floorPart?: FloorPart): ComponentTiming => ({ name, median, runs: [median], ...(floorPart === undefined ? {} : { floorPart }) });

const breakdown: Breakdown = {
  backup: [piece('read alone', 2.3), piece('docker cp | zstd', 3.5, 'engine-backup'), piece('npx zx', 0.3, 'startup'), piece('stop + start', 0.4, 'writer-pause')],
  restore: [piece('zstd -dc > /dev/null', 0.5, 'decode'), piece('zstd -dc | docker cp -a', 4.5, 'engine-restore')],
  timelines: [],
};

describe('floorsOf', () => {
  it('adds up the backup pieces and compares the best possible ratio with the 6x goal', () => {
    const [backup] = floorsOf(breakdown, { backup: 24, restore: 8 });
    expect(backup?.target).toBe('backup-vs-docs');
    expect(backup?.seconds).toBeCloseTo(4.2);
    expect(backup?.bestRatio).toBeCloseTo(24 / 4.2);
    expect(backup?.reachable).toBe(false);
    expect(backup?.parts.map((p) => p.part)).toEqual(['engine-backup', 'startup', 'writer-pause']);
  });

  it('counts start-up once per script: the restore floor reuses the backup breakdown\'s start-up piece', () => {
    const restore = floorsOf(breakdown, { backup: 24, restore: 8 }).find((f) => f.target === 'restore-vs-docs');
    expect(restore?.seconds).toBeCloseTo(5.3);
    expect(restore?.bestRatio).toBeCloseTo(8 / 5.3);
    expect(restore?.reachable).toBe(true);
  });

  it('gives no floor for a target whose docs run or one of whose pieces is missing', () => {
    expect(floorsOf(breakdown, { backup: null, restore: 8 }).map((f) => f.target)).toEqual(['restore-vs-docs']);
    expect(floorsOf({ ...breakdown, restore: [] }, { backup: 24, restore: 8 }).map((f) => f.target)).toEqual(['backup-vs-docs']);
    expect(floorsOf(null, { backup: 24, restore: 8 })).toEqual([]);
  });
});
