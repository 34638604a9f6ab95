import { describe, expect, it } from 'vitest';
import { keptSets } from '../../src/backup/retention.js';
import { timeOfStamp } from '../../src/util/timestamps.js';

const none = { last: 0, daily: 0, weekly: 0, monthly: 0 };

describe('retention: which backup sets a policy keeps', () => {
  it('reads the UTC time from a set name', () => {
    expect(timeOfStamp('20261124T090723Z').toISOString()).toBe('2026-11-24T09:07:23.000Z');
  });

  it('keeps the newest N with last: N', () => {
    const names = ['20261101T000000Z', '20261102T000000Z', '20261103T000000Z'];
    expect([...keptSets(names, { ...none, last: 2 })].sort()).toEqual(['20261102T000000Z', '20261103T000000Z']);
  });

  it('keeps only the newest set of each of the newest N days with daily: N', () => {
    const names = ['20261101T010000Z', '20261101T230000Z', '20261102T050000Z', '20261103T050000Z', '20261103T060000Z'];
    expect([...keptSets(names, { ...none, daily: 2 })].sort()).toEqual(['20261102T050000Z', '20261103T060000Z']);
  });

  it('counts days that have a set, not calendar days, like restic', () => {
    const names = ['20260101T000000Z', '20261101T000000Z'];
    expect(keptSets(names, { ...none, daily: 2 }).size).toBe(2);
  });

  it('keeps one set per ISO week with weekly: N (Sunday and Monday are different weeks)', () => {
    const names = ['20261122T120000Z', '20261123T120000Z'];
    expect(keptSets(names, { ...none, weekly: 2 }).size).toBe(2);
    expect([...keptSets(names, { ...none, weekly: 1 })]).toEqual(['20261123T120000Z']);
  });

  it('keeps the newest set of each month with monthly: N', () => {
    const names = ['20260901T000000Z', '20261001T000000Z', '20261015T000000Z', '20261101T000000Z'];
    expect([...keptSets(names, { ...none, monthly: 2 })].sort()).toEqual(['20261015T000000Z', '20261101T000000Z']);
  });

  it('keeps the union of what every rule keeps', () => {
    const names = ['20260901T000000Z', '20261101T000000Z', '20261102T000000Z'];
    expect([...keptSets(names, { last: 1, daily: 0, weekly: 0, monthly: 3 })].sort()).toEqual(['20260901T000000Z', '20261102T000000Z']);
  });

  it('keeps nothing with an all-zero policy (the newest verified set is protected by prune, not here)', () => {
    expect(keptSets(['20261101T000000Z'], none).size).toBe(0);
  });
});
