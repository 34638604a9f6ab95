// The lock journal's entries and the rules that make a lock stale (pure parts;
// the lock container itself is exercised by the engine tests).
import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import { leftoversOf, parseEntry, staleness, type JournalEntry } from '../../src/session/lock.js';
import { currentProcess } from '../../src/session/process-owner.js';

const entries = (...texts: string[]): JournalEntry[] => texts.map((t) => parseEntry(t)).filter((e): e is JournalEntry => e !== undefined);

describe('journal entries', () => {
  it('replays stops, starts and restores in order', () => {
    const left = leftoversOf('pid 7', ['r1'], entries('stopped app 1700000000000', 'stopped db 1700000000001', 'started db', 'restoring volume:p_data', 'restoring bind:%2Fsrv%2Fpim', 'restored volume:p_data'));
    expect(left).toEqual({ owner: 'pid 7', stopped: [{ container: 'app', at: 1700000000000 }], restoring: [{ kind: 'bind', path: '/srv/pim' }], runs: ['r1'] });
  });

  it('closes a stop that is no longer stowage\'s to undo', () => {
    expect(leftoversOf('x', [], entries('stopped app 1', 'forgotten app')).stopped).toEqual([]);
  });

  it('ignores entries it does not understand rather than acting on them', () => {
    expect(entries('paused app', 'stopped', 'stopped app notatime', 'restoring nowhere', 'garbage')).toEqual([]);
  });
});

describe('a stale lock', () => {
  const me = currentProcess();
  const now = Date.parse('2026-11-30T12:00:00Z');

  it('is stale when it names no owner', () => {
    expect(staleness({ owner: undefined, since: '?' }, { entries: [], heartbeat: undefined, unreadable: undefined })).toMatch(/no owner/);
  });

  it('is stale when its run ended and left work', () => {
    expect(staleness({ owner: me, since: '?' }, { entries: entries('released'), heartbeat: undefined, unreadable: undefined })).toMatch(/ended/);
  });

  it('is stale when its owner on this host is gone', () => {
    expect(staleness({ owner: { host: hostname(), pid: 2 ** 22 + 12345, started: '1' }, since: '?' }, { entries: [], heartbeat: undefined, unreadable: undefined })).toMatch(/is gone/);
  });

  it('is stale when its pid now belongs to a process that started at another time', () => {
    expect(staleness({ owner: { ...me, started: '1' }, since: '?' }, { entries: [], heartbeat: undefined, unreadable: undefined })).toMatch(/is gone/);
  });

  it('is held while its owner on this host lives', () => {
    expect(staleness({ owner: me, since: '?' }, { entries: [], heartbeat: undefined, unreadable: undefined })).toBeUndefined();
  });

  it('is held while an owner on another host keeps its heartbeat', () => {
    const owner = { host: 'elsewhere', pid: 1, started: '' };
    expect(staleness({ owner, since: new Date(now - 3_600_000).toISOString() }, { entries: [], heartbeat: now - 20_000, unreadable: undefined }, now)).toBeUndefined();
  });

  it('is stale when an owner on another host has not been heard of for minutes', () => {
    const owner = { host: 'elsewhere', pid: 1, started: '' };
    expect(staleness({ owner, since: new Date(now - 3_600_000).toISOString() }, { entries: [], heartbeat: now - 600_000, unreadable: undefined }, now)).toMatch(/not been heard of for 600 s/);
  });
});
