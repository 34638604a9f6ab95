// The project lock doubles as a journal of what a run changed on the engine, so
// the run that takes over a dead run's lock can undo what SIGKILL left behind.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
  it('keeps containers stopped and never started again, and helpers created and never removed', () => {
    const journal = ['stopped app', 'stopped worker', 'helper h1', 'helper h2', 'removed h1', 'started worker', ''];
    expect(leftoversOf('pid 7', journal)).toEqual({ owner: 'pid 7', stopped: ['app'], helpers: ['h2'] });
  });

  it('is empty for a run that undid everything it did', () => {
    expect(leftoversOf('pid 7', ['helper h', 'stopped app', 'started app', 'removed h'])).toEqual({ owner: 'pid 7', stopped: [], helpers: [] });
  });

  it('ignores lines it does not know', () => {
    expect(leftoversOf('pid 7', ['paused app', 'stopped', 'garbage'])).toEqual({ owner: 'pid 7', stopped: [], helpers: [] });
  });
});

describe('ProjectLock', () => {
  it('journals engine changes after the owner line', () => {
    const root = backupsRoot();
    const lock = ProjectLock.acquire(root, 'p');
    lock.note('stopped', ['a', 'b']);
    lock.note('helper', []);
    lock.note('started', ['a']);
    expect(readFileSync(lock.path, 'utf8')).toBe(`${hostname()} ${process.pid}\nstopped a\nstopped b\nstarted a\n`);
    expect(lock.inherited).toBeUndefined();
    lock.release();
  });

  it('takes over the lock of a dead process on this host and inherits what its journal left undone', () => {
    const root = backupsRoot();
    const pid = deadPid();
    writeLock(root, 'p', `${hostname()} ${pid}\nhelper p-stowage-helper-1\nstopped p-app-1\n`);
    const lock = ProjectLock.acquire(root, 'p');
    expect(lock.inherited).toEqual({ owner: `pid ${pid}`, stopped: ['p-app-1'], helpers: ['p-stowage-helper-1'] });
    expect(readFileSync(lock.path, 'utf8')).toBe(`${hostname()} ${process.pid}\n`);
    lock.release();
  });

  it('refuses a lock whose process is alive, naming it, and leaves the lock alone', () => {
    const root = backupsRoot();
    const text = `${hostname()} ${process.pid}\nstopped p-app-1\n`;
    const path = writeLock(root, 'p', text);
    expect(() => ProjectLock.acquire(root, 'p')).toThrow(/another backup of p is running .*pid \d+/);
    expect(readFileSync(path, 'utf8')).toBe(text);
  });

  it('refuses a lock held on another host (its pid means nothing here)', () => {
    const root = backupsRoot();
    writeLock(root, 'p', `some-other-host ${deadPid()}\n`);
    expect(() => ProjectLock.acquire(root, 'p')).toThrow(/held by some-other-host/);
  });
});
