// Backups that leave the machine: sets in restic repositories on real servers
// the test starts on 127.0.0.1 (an OpenSSH sshd as an sftp: repository,
// rclone serve restic as a rest: repository), stopped at the end. One backup
// run is one set (a snapshot per volume, the manifest last); verify, restore,
// copy, retention and the password's handling are checked against both.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQLITE_IMAGE, Sandbox, containerState, createVolume, docker, exec, hostShell, mountpointOf, parseJsonDocument, runService, show, snapshot, uniqueProject, type RunResult } from '../helpers/engine.js';
import { startRestServer, startSftpServer, type Server, type SftpServer } from '../helpers/restic-servers.js';

const sb = new Sandbox(uniqueProject('rs'));
const PASSWORD = 'correct horse battery staple, test only';
let work: string;
let passwordFile: string;
let sftp: SftpServer;
let rest: Server;
let sftpRepo: string;
let restRepo: string;

const STACK = (project: string): string => `app: ${project}
helper: { image: stowage-test/busybox:1 }
backups:
  retention: { last: 1, daily: 0, weekly: 0, monthly: 0 }
volumes:
  files:
    backup: { exclude: [cache] }
  db:
    backup: { method: sqlite, databases: [app.db] }
services:
  app:
    image: stowage-test/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    mounts: [files:/data]
  sql:
    image: ${SQLITE_IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    mounts: [db:/data]
environments:
  dev: {}
`;

/** The environment every CLI run and every stock restic gets: the ssh wrapper first on PATH, the password file, a private cache. */
function env(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: `${sftp.binDir}:${process.env['PATH'] ?? ''}`, RESTIC_PASSWORD_FILE: passwordFile, RESTIC_CACHE_DIR: join(work, 'cache'), ...extra };
}

const cli = (script: 'backup' | 'verify' | 'restore' | 'copy' | 'status', args: string[], extra: Record<string, string> = {}): Promise<RunResult> => sb.cli(script, args, { env: env(extra) });

/** Stock restic against a repository, as a person would run it. */
async function stockRestic(repository: string, args: string[]): Promise<RunResult> {
  return exec('restic', ['-r', repository, ...args], { env: env() });
}

interface SnapshotDoc {
  id: string;
  short_id: string;
  tags?: string[];
  paths: string[];
}

async function snapshotsOf(repository: string): Promise<SnapshotDoc[]> {
  const r = await stockRestic(repository, ['snapshots', '--json', '--no-lock']);
  expect(r.code, show(r)).toBe(0);
  return (JSON.parse(r.stdout) as SnapshotDoc[] | null) ?? [];
}

interface BackupDoc {
  id: string;
  path: string;
  artifacts: Array<{ volume: string; file: string; bytes: number; sha256: string; snapshot?: string; added?: number; unchanged?: number }>;
}

async function dbCount(): Promise<number> {
  return Number((await docker('exec', sb.container('sql'), 'sqlite3', '/data/app.db', 'SELECT count(*) FROM t;')).trim());
}

let filesMount: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'stowage-restic-'));
  passwordFile = join(work, 'restic-password');
  writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
  sftp = await startSftpServer(work);
  rest = await startRestServer(work);
  sftpRepo = sftp.repository('stowage');
  restRepo = rest.repository('offsite');
  sb.writeStack(STACK(sb.project));
  await createVolume(sb.project, 'files');
  await createVolume(sb.project, 'db');
  filesMount = await mountpointOf(sb.volume('files'));
  await hostShell(
    String.raw`set -e; cd "$1"; i=0; while [ $i -lt 200 ]; do printf "file $i\n" > "f$i"; i=$((i+1)); done
mkdir -p sub/deeper; printf 'shared\n' > sub/a; ln sub/a sub/deeper/b; ln -s ../f1 sub/link; mkfifo pipe
head -c 300000 /dev/urandom > blob; chown -R 1000:1000 sub; chmod 0640 f7; touch -d '2001-02-03 04:05:06.7' f8
mkdir big; for i in 0 1 2 3 4 5 6 7; do head -c 1048576 /dev/urandom > big/r$i; done`,
    filesMount,
  );
  await runService(sb.project, 'app', { mounts: [['files', '/data']] });
  await runService(sb.project, 'sql', { image: SQLITE_IMAGE, mounts: [['db', '/data']] });
  await docker('exec', sb.container('sql'), 'sqlite3', '/data/app.db', 'PRAGMA journal_mode=WAL; CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t(v) VALUES (\'a\'), (\'b\'), (\'c\');');
}, 300_000);

afterAll(async () => {
  await sftp?.stop();
  await rest?.stop();
  await sb.cleanup();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('an sftp: repository on a real sshd', () => {
  let first: BackupDoc;

  it('is not created without --init: exit 2, and no container stopped', async () => {
    const before = await containerState(sb.container('app'));
    const r = await cli('backup', ['--to', `restic:${sftpRepo}`]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/not a restic repository.*--init/s);
    expect(await containerState(sb.container('app'))).toEqual(before);
  });

  it('backs up every volume as one set: a snapshot per volume tagged project, env, volume and set id, the manifest last', async () => {
    const r = await cli('backup', ['--to', `restic:${sftpRepo}`, '--init', '--json']);
    expect(r.code, show(r)).toBe(0);
    first = parseJsonDocument<BackupDoc>(r.stdout);
    expect(first.path).toBe(`restic:${sftpRepo} set ${first.id}`);
    const snapshots = await snapshotsOf(sftpRepo);
    const tags = snapshots.map((s) => [...(s.tags ?? [])].sort().join(','));
    const base = ['stowage', `project=${sb.project}`, 'env=dev', `set=${first.id}`];
    expect(tags.sort()).toEqual([[...base, 'volume=files'], [...base, 'volume=db'], [...base, 'manifest']].map((t) => t.sort().join(',')).sort());
    expect(first.artifacts.map((a) => a.snapshot)).toEqual(first.artifacts.map((a) => snapshots.find((s) => s.tags?.includes(`volume=${a.volume}`))?.id));
    // The volume's own files, at the snapshot's root.
    const listed = await stockRestic(sftpRepo, ['ls', first.artifacts.find((a) => a.volume === 'files')?.snapshot ?? '?']);
    expect(listed.stdout).toMatch(/^\/f0$/m);
    // The database is the online copy, under its own name, and nothing else of SQLite's.
    const db = await stockRestic(sftpRepo, ['ls', first.artifacts.find((a) => a.volume === 'db')?.snapshot ?? '?']);
    expect(db.stdout.split('\n').filter((l) => l.startsWith('/'))).toEqual(['/app.db']);
  });

  it('a second backup of unchanged volumes reads none of their files again and stores almost nothing', async () => {
    const r = await cli('backup', ['--to', `restic:${sftpRepo}`, '--json']);
    expect(r.code, show(r)).toBe(0);
    const second = parseJsonDocument<BackupDoc>(r.stdout);
    const files = second.artifacts.find((a) => a.volume === 'files');
    // 200 small files, two hard-linked names, the blob, eight large ones (the FIFO is not a file restic reads).
    expect(files?.unchanged).toBe(211);
    for (const a of second.artifacts) expect(a.added ?? Infinity, a.volume).toBeLessThan(64 * 1024);
  });

  it('through the archive endpoint (a remote engine), a second backup of unchanged volumes stores almost nothing', async () => {
    const once = await cli('backup', ['--to', `restic:${sftpRepo}`, '--via', 'archive', '--json']);
    expect(once.code, show(once)).toBe(0);
    expect(parseJsonDocument<BackupDoc>(once.stdout).artifacts.find((a) => a.volume === 'files')?.file).toBe('files.tar');
    const twice = await cli('backup', ['--to', `restic:${sftpRepo}`, '--via', 'archive', '--json']);
    expect(twice.code, show(twice)).toBe(0);
    for (const a of parseJsonDocument<BackupDoc>(twice.stdout).artifacts) expect(a.added ?? Infinity, a.volume).toBeLessThan(64 * 1024);
  });

  it('verify latest runs restic check reading all data back and checks each volume as a set does', async () => {
    const r = await cli('verify', ['--to', `restic:${sftpRepo}`, '--backup', 'latest', '--json']);
    expect(r.code, show(r)).toBe(0);
    const doc = parseJsonDocument<{ ok: boolean; repository: { ok: boolean; checked: string }; artifacts: Array<{ volume: string; checked: string[] }> }>(r.stdout);
    expect(doc.repository).toMatchObject({ ok: true, checked: 'restic check, all data read back' });
    expect(doc.artifacts.find((a) => a.volume === 'db')?.checked).toContain('integrity_check app.db');
    expect(doc.artifacts.find((a) => a.volume === 'files')?.checked.join(' ')).toMatch(/archive read to the end/);
  });

  it('restores the set by its id exactly, through the staging and swap of sets', async () => {
    const before = await snapshot(sb.volume('files'));
    const rows = await dbCount();
    await hostShell('set -e; cd "$1"; rm -rf sub f3; printf changed > f4; ln -sf /elsewhere f5', filesMount);
    await docker('exec', sb.container('sql'), 'sqlite3', '/data/app.db', "INSERT INTO t(v) VALUES ('after');");
    const r = await cli('restore', ['--to', `restic:${sftpRepo}`, '--backup', first.id, '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect(await snapshot(sb.volume('files'))).toEqual(before);
    expect(await dbCount()).toBe(rows);
    expect((await containerState(sb.container('app'))).running).toBe(true);
  });

  it('restores one path with --path, and --dry-run shows the restic dump it would stream', async () => {
    await hostShell('set -e; rm -f "$1/f9"', filesMount);
    const plan = await cli('restore', ['--to', `restic:${sftpRepo}`, '--backup', 'latest', '--volume', 'files', '--path', 'f9', '--dry-run']);
    expect(plan.code, show(plan)).toBe(0);
    expect(plan.stdout).toMatch(/restic dump [0-9a-f]{64} \//);
    const r = await cli('restore', ['--to', `restic:${sftpRepo}`, '--backup', 'latest', '--volume', 'files', '--path', 'f9', '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect((await docker('exec', sb.container('app'), 'cat', '/data/f9')).trim()).toBe('file 9');
  });

  it('leaves out what backup.exclude names, as from a set directory', async () => {
    await hostShell('set -e; mkdir "$1/cache"; printf "rebuilt at start\\n" > "$1/cache/index"', filesMount);
    const r = await cli('backup', ['--to', `restic:${sftpRepo}`, '--volume', 'files', '--json']);
    expect(r.code, show(r)).toBe(0);
    const listed = await stockRestic(sftpRepo, ['ls', parseJsonDocument<BackupDoc>(r.stdout).artifacts[0]?.snapshot ?? '?']);
    expect(listed.stdout).toMatch(/^\/f1$/m);
    expect(listed.stdout).not.toMatch(/cache/);
    await hostShell('rm -rf "$1/cache"', filesMount);
  });

  it('a wrong password: exit 2 before any container stops', async () => {
    const before = await containerState(sb.container('app'));
    const wrong = join(work, 'wrong-password');
    writeFileSync(wrong, 'not it\n', { mode: 0o600 });
    const r = await cli('backup', ['--to', `restic:${sftpRepo}`], { RESTIC_PASSWORD_FILE: wrong });
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/password does not open/);
    expect(await containerState(sb.container('app'))).toEqual(before);
  });

  it('never shows the password: not in --dry-run plans, --json, messages or restic arguments', async () => {
    const withValue = { RESTIC_PASSWORD_FILE: '', RESTIC_PASSWORD: PASSWORD };
    const plan = await cli('backup', ['--to', `restic:${sftpRepo}`, '--dry-run'], withValue);
    expect(plan.code, show(plan)).toBe(0);
    expect(plan.stdout).toMatch(/RESTIC_REPOSITORY=\S+ restic backup --json --host/);
    const made = await cli('backup', ['--to', `restic:${sftpRepo}`, '--json'], withValue);
    expect(made.code, show(made)).toBe(0);
    const status = await cli('status', ['--to', `restic:${sftpRepo}`, '--no-measure', '--json'], withValue);
    for (const out of [plan, made, status]) expect(`${out.stdout}${out.stderr}`).not.toContain(PASSWORD.slice(0, 12));
  });
});

describe('a rest: repository on rclone serve restic', () => {
  it('copy.mjs replicates the newest sftp set into it, and it verifies there', async () => {
    const r = await cli('copy', ['--from', `restic:${sftpRepo}`, '--to', `restic:${restRepo}`, '--backup', 'latest', '--init', '--json']);
    expect(r.code, show(r)).toBe(0);
    const copied = parseJsonDocument<{ id: string; copied: boolean }>(r.stdout);
    expect(copied.copied).toBe(true);
    const verified = await cli('verify', ['--to', `restic:${restRepo}`, '--backup', copied.id]);
    expect(verified.code, show(verified)).toBe(0);
    const again = await cli('copy', ['--from', `restic:${sftpRepo}`, '--to', `restic:${restRepo}`, '--backup', copied.id, '--json']);
    expect(again.code, show(again)).toBe(0);
    expect(parseJsonDocument<{ copied: boolean }>(again.stdout).copied).toBe(false);
  });

  it('copies local sets into it, storing only what it does not have yet', async () => {
    const local = join(work, 'local-sets');
    mkdirSync(local);
    const first = await cli('backup', ['--to', local]);
    expect(first.code, show(first)).toBe(0);
    const once = await cli('copy', ['--from', local, '--to', `restic:${restRepo}`, '--backup', 'latest', '--json']);
    expect(once.code, show(once)).toBe(0);
    await hostShell('printf "one more\\n" > "$1/f0"', filesMount);
    const next = await cli('backup', ['--to', local]);
    expect(next.code, show(next)).toBe(0);
    const twice = await cli('copy', ['--from', local, '--to', `restic:${restRepo}`, '--backup', 'latest', '--json']);
    expect(twice.code, show(twice)).toBe(0);
    const added = parseJsonDocument<{ added: number; id: string }>(twice.stdout);
    // The set's archives hold 8.7 MB; one changed small file costs the chunk or two around it, not the whole.
    expect(added.added).toBeLessThan(4 * 1024 * 1024);
    const verified = await cli('verify', ['--to', `restic:${restRepo}`, '--backup', added.id]);
    expect(verified.code, show(verified)).toBe(0);
  });

  it('someone else\'s live lock stays: verify (which needs the repository to itself) fails naming it, then runs once it is gone', async () => {
    // A stock restic holding its lock while it waits for input, as a concurrent backup would.
    const holder = spawn('restic', ['-r', restRepo, 'backup', '--stdin', '--stdin-filename', 'other-program.txt'], { env: { ...process.env, ...env() }, stdio: ['pipe', 'ignore', 'ignore'] });
    const ended = new Promise((done) => holder.once('close', done));
    let locks: string[] = [];
    for (let i = 0; i < 100 && locks.length === 0; i++) {
      locks = (await stockRestic(restRepo, ['list', 'locks', '--no-lock'])).stdout.split('\n').filter((l) => l !== '');
      if (locks.length === 0) await new Promise((r) => setTimeout(r, 100));
    }
    expect(locks).toHaveLength(1);
    const r = await cli('verify', ['--to', `restic:${restRepo}`, '--backup', 'latest']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/locked by another restic run that is still alive/);
    expect((await stockRestic(restRepo, ['list', 'locks', '--no-lock'])).stdout.trim().split('\n')).toEqual(locks);
    // The other program finishes its backup (a snapshot stowage never touches) and lets go.
    holder.stdin?.end('its own data\n');
    await ended;
    const after = await cli('verify', ['--to', `restic:${restRepo}`, '--backup', 'latest']);
    expect(after.code, show(after)).toBe(0);
  });

  it('--prune keeps what the retention keeps (here the newest set) and forgets the rest of this project only', async () => {
    const other = await stockRestic(restRepo, ['snapshots', '--json', '--no-lock']);
    const foreign = ((JSON.parse(other.stdout) as SnapshotDoc[] | null) ?? []).filter((s) => !(s.tags ?? []).includes('stowage'));
    const r = await cli('backup', ['--to', `restic:${restRepo}`, '--prune', '--json']);
    expect(r.code, show(r)).toBe(0);
    const doc = parseJsonDocument<{ id: string; pruned: { kept: string[]; removed: string[] } }>(r.stdout);
    expect(doc.pruned.kept).toEqual([`restic:${restRepo} set ${doc.id}`]);
    expect(doc.pruned.removed.length).toBeGreaterThanOrEqual(2);
    const left = await snapshotsOf(restRepo);
    expect(left.filter((s) => (s.tags ?? []).includes('stowage')).every((s) => s.tags?.includes(`set=${doc.id}`))).toBe(true);
    expect(left.filter((s) => !(s.tags ?? []).includes('stowage')).map((s) => s.id)).toEqual(foreign.map((s) => s.id));
  });
});
