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
  it("adds up the backup pieces and compares the best possible ratio with the archive path's 4.4x goal", () => {
    const [backup] = floorsOf(breakdown, { backup: 24, restore: 8 });
    expect(backup?.target).toBe('backup-archive-vs-docs');
    expect(backup?.seconds).toBeCloseTo(4.2);
    expect(backup?.bestRatio).toBeCloseTo(24 / 4.2);
    expect(backup?.goal).toBe(4.4);
    expect(backup?.reachable).toBe(true);
    expect(backup?.parts.map((p) => p.part)).toEqual(['engine-backup', 'startup', 'writer-pause']);
    expect(floorsOf(breakdown, { backup: 16, restore: 8 })[0]?.reachable).toBe(false);
  });

  it('counts start-up once per script: the restore floor reuses the backup breakdown\'s start-up piece', () => {
    const restore = floorsOf(breakdown, { backup: 24, restore: 8 }).find((f) => f.target === 'restore-archive-vs-docs');
    expect(restore?.seconds).toBeCloseTo(5.3);
    expect(restore?.bestRatio).toBeCloseTo(8 / 5.3);
    expect(restore?.goal).toBe(1);
    expect(restore?.reachable).toBe(true);
    expect(floorsOf(breakdown, { backup: 24, restore: 5 }).find((f) => f.target === 'restore-archive-vs-docs')?.reachable).toBe(false);
  });

  it('gives no floor for a target whose docs run or one of whose pieces is missing', () => {
    expect(floorsOf(breakdown, { backup: null, restore: 8 }).map((f) => f.target)).toEqual(['restore-archive-vs-docs']);
    expect(floorsOf({ ...breakdown, restore: [] }, { backup: 24, restore: 8 }).map((f) => f.target)).toEqual(['backup-archive-vs-docs']);
    expect(floorsOf(null, { backup: 24, restore: 8 })).toEqual([]);
  });
});
