// The project lock doubles as a journal of what a run changed on the engine, so
// the run that takes over a dead run's lock can undo what SIGKILL left behind.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { leftoversOf, ProjectLock } from '../../src/ops/backup-set.js';

const roots: string[] = [];
function backupsRoot(): string {
  const root = mkdtempSync(join(tmpdir(), 'stowage-lock-'));
  roots.push(root);
  return root;
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** The pid of a process that has exited. */
function deadPid(): number {
  const pid = spawnSync('true').pid;
  if (pid === undefined) throw new Error('no pid');
  return pid;
}

function writeLock(root: string, project: string, text: string): string {
  mkdirSync(join(root, project), { recursive: true });
  const path = join(root, project, '.lock');
  writeFileSync(path, text);
  return path;
}

describe('leftoversOf', () => {
  it('keeps containers stopped and never started again (with when), and helpers created and never removed', () => {
    const journal = ['stopped app 1700000000000', 'stopped worker 1700000000001', 'helper h1', 'helper h2', 'removed h1', 'started worker', ''];
    expect(leftoversOf('pid 7', journal)).toEqual({ owner: 'pid 7', stopped: [{ name: 'app', at: 1700000000000 }], helpers: ['h2'] });
  });

  it('is empty for a run that undid everything it did, or forgot what someone else stopped since', () => {
    expect(leftoversOf('pid 7', ['helper h', 'stopped app 1', 'started app', 'removed h', 'stopped db 2', 'forgotten db'])).toEqual({ owner: 'pid 7', stopped: [], helpers: [] });
  });

  it('reads a stop without a time (an older journal) as a stop at an unknown time', () => {
    expect(leftoversOf('pid 7', ['stopped app']).stopped).toEqual([{ name: 'app', at: undefined }]);
  });

  it('ignores lines it does not know', () => {
    expect(leftoversOf('pid 7', ['paused app', 'stopped', 'garbage'])).toEqual({ owner: 'pid 7', stopped: [], helpers: [] });
  });
});

describe('ProjectLock', () => {
  it('journals engine changes after the owner line, stops with their time', () => {
    const root = backupsRoot();
    const lock = ProjectLock.acquire(root, 'p');
    lock.note('stopped', ['a', 'b'], 1700000000000);
    lock.note('helper', []);
    lock.note('started', ['a']);
    expect(readFileSync(lock.path, 'utf8')).toBe(`${hostname()} ${process.pid}\nstopped a 1700000000000\nstopped b 1700000000000\nstarted a\n`);
    expect(lock.inherited).toBeUndefined();
    lock.release();
  });

  it('takes over the lock of a dead process on this host, inherits what its journal left undone, and journals it again at once', () => {
    const root = backupsRoot();
    const pid = deadPid();
    writeLock(root, 'p', `${hostname()} ${pid}\nhelper p-stowage-helper-1\nstopped p-app-1 1700000000000\n`);
    const lock = ProjectLock.acquire(root, 'p');
    expect(lock.inherited).toEqual({ owner: `pid ${pid}`, stopped: [{ name: 'p-app-1', at: 1700000000000 }], helpers: ['p-stowage-helper-1'] });
    // Killed now, the next run would inherit the same again.
    expect(readFileSync(lock.path, 'utf8')).toBe(`${hostname()} ${process.pid}\nstopped p-app-1 1700000000000\nhelper p-stowage-helper-1\n`);
    lock.note('removed', ['p-stowage-helper-1']);
    lock.note('started', ['p-app-1']);
    lock.release();
    expect(existsSync(join(root, 'p', '.leftovers'))).toBe(false);
  });

  it('hands what a finished run could not undo to the next run through .leftovers', () => {
    const root = backupsRoot();
    const first = ProjectLock.acquire(root, 'p');
    first.note('stopped', ['p-app-1'], 1700000000000);
    first.release(); // its docker start failed: no 'started' line
    expect(existsSync(join(root, 'p', '.lock'))).toBe(false);
    const next = ProjectLock.acquire(root, 'p');
    expect(next.inherited).toEqual({ owner: 'an earlier run', stopped: [{ name: 'p-app-1', at: 1700000000000 }], helpers: [] });
    expect(existsSync(join(root, 'p', '.leftovers'))).toBe(false);
    next.note('started', ['p-app-1']);
    next.release();
    expect(ProjectLock.acquire(root, 'p').inherited).toBeUndefined();
  });

  it('only warns when the journal cannot be written (a full disk must not stop the restart of a writer)', () => {
    const root = backupsRoot();
    const lock = ProjectLock.acquire(root, 'p');
    rmSync(join(root, 'p'), { recursive: true, force: true });
    mkdirSync(join(root, 'p', '.lock'), { recursive: true }); // appending to a directory fails
    expect(() => lock.note('stopped', ['a'])).not.toThrow();
  });

  it('refuses a lock whose process is alive, naming it, and leaves the lock alone', () => {
    const root = backupsRoot();
    const text = `${hostname()} ${process.pid}\nstopped p-app-1\n`;
    const path = writeLock(root, 'p', text);
    expect(() => ProjectLock.acquire(root, 'p')).toThrow(/another backup or restore of p is running .*pid \d+/);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('refuses a lock held on another host (its pid means nothing here)', () => {
    const root = backupsRoot();
    writeLock(root, 'p', `some-other-host ${deadPid()}\n`);
    expect(() => ProjectLock.acquire(root, 'p')).toThrow(/held by some-other-host/);
  });
});
