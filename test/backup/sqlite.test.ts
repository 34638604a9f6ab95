// SQLite volumes are copied online while the application keeps writing: no
// downtime, and the copy is a consistent database (integrity_check ok) that a
// restore puts back as it was.
//
// The writers here open a new connection per transaction (one sqlite3 process
// each, like per-request connections), as fast as they can: the WAL is reset
// all the time and the database changes between any two page reads.
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SQLITE_IMAGE, Sandbox, containerState, createVolume, docker, exec, hostShell, inVolume, parseJsonDocument, readManifestFile, runService, show, uniqueProject, waitFor,
} from '../helpers/engine.js';

const sb = new Sandbox(uniqueProject('sq'));
const volume = sb.volume('data');
const writer = sb.container('app');

/**
 * Inserts batches of 20 small rows into /data/app.db (WAL mode) as fast as it
 * can, one sqlite3 process per transaction. `touch /tmp/paused` in the
 * container pauses it between transactions (it acknowledges with
 * /tmp/paused-ack); /tmp survives docker stop/start.
 */
const writerScript = (blobBytes: number): string => `trap 'exit 0' TERM
sqlite3 /data/app.db ".timeout 10000" "PRAGMA journal_mode=WAL;" "CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, batch INTEGER, v TEXT);" > /dev/null
n=0
while :; do
  if [ -e /tmp/paused ]; then touch /tmp/paused-ack; sleep 1; continue; fi
  rm -f /tmp/paused-ack
  n=$((n+1))
  sqlite3 /data/app.db ".timeout 10000" "INSERT INTO t(batch, v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<20) SELECT $n, hex(randomblob(${blobBytes})) FROM c;" > /dev/null || echo "insert failed" >&2
done
`;
const WRITER = writerScript(8);

/** A normal backup here takes seconds; a copy that has not finished after this long never will. */
const SQLITE_BACKUP_HANG_MS = 45_000;

const stackFor = (project: string): string => `app: ${project}
helper: { image: stowage-test/busybox:1 }
volumes:
  data:
    backup: { method: sqlite, databases: [app.db] }
services:
  app:
    image: ${SQLITE_IMAGE}
    mounts: [data:/data]
environments:
  dev: {}
`;

async function countInVolume(): Promise<number> {
  const out = await docker('run', '--rm', '--network', 'none', '-v', `${volume}:/data`, SQLITE_IMAGE, 'sqlite3', '-readonly', '/data/app.db', 'SELECT count(*) FROM t;');
  return Number(out.trim());
}

async function liveCount(): Promise<number> {
  const r = await exec('docker', ['exec', writer, 'sqlite3', '/data/app.db', '.timeout 10000', 'SELECT count(*) FROM t;']);
  return r.code === 0 ? Number(r.stdout.trim()) : 0;
}

describe('a small database growing by 20 small rows per transaction', () => {
  let setPath: string;
  let artifactFile: string;
  let startedBefore: string;
  let countBeforeBackup: number;
  let copyCount: number;
  let scratch: string;

  beforeAll(async () => {
    scratch = mkdtempSync(join(sb.root, 'scratch-'));
    sb.writeStack(stackFor(sb.project));
    await createVolume(sb.project, 'data');
    await runService(sb.project, 'app', { image: SQLITE_IMAGE, mounts: [['data', '/data']], command: ['sh', '-c', WRITER] });
    await waitFor('rows in app.db', async () => (await liveCount()) >= 2000 || undefined);
    startedBefore = (await containerState(writer)).startedAt;
    countBeforeBackup = await liveCount();
    const r = await sb.cli('backup', ['--to', sb.to, '--json'], { hangAfterMs: SQLITE_BACKUP_HANG_MS });
    expect(r.code, show(r)).toBe(0);
    setPath = parseJsonDocument<{ path: string }>(r.stdout).path;
    const artifact = readManifestFile(setPath).artifacts[0];
    if (artifact === undefined) throw new Error('no artifact');
    artifactFile = join(setPath, artifact.file);
    await hostShell('zstd -dc "$1" | tar -xOf - ./app.db > "$2"', artifactFile, join(scratch, 'copy.db'));
    copyCount = Number((await hostShell('sqlite3 -readonly "$1" "SELECT count(*) FROM t;"', join(scratch, 'copy.db'))).trim());
  });

  afterAll(async () => {
    await sb.cleanup();
  });

  describe('sqlite backup while the application writes continuously', () => {
    it('does not stop the writing container (same StartedAt, still running)', async () => {
      const after = await containerState(writer);
      expect(after.running).toBe(true);
      expect(after.startedAt).toBe(startedBefore);
    });

    it('the application keeps writing after the backup: the live database grows past the copy', async () => {
      await waitFor('rows beyond those in the copy', async () => (await liveCount()) > copyCount || undefined);
    });

    it('the copy in the artifact passes PRAGMA integrity_check and holds rows', async () => {
      expect((await hostShell('sqlite3 -readonly "$1" "PRAGMA integrity_check;"', join(scratch, 'copy.db'))).trim()).toBe('ok');
      expect(copyCount).toBeGreaterThanOrEqual(countBeforeBackup);
      // Whole transactions only: every batch has its 20 rows.
      const partial = (await hostShell('sqlite3 -readonly "$1" "SELECT count(*) FROM (SELECT batch FROM t GROUP BY batch HAVING count(*) <> 20);"', join(scratch, 'copy.db'))).trim();
      expect(partial).toBe('0');
    });

    it('the artifact holds the consistent copy instead of the live WAL files, and no temporary copy', async () => {
      const listing = await hostShell('zstd -dc "$1" | tar -tf -', artifactFile);
      expect(listing).toMatch(/(^|\/)app\.db$/m);
      expect(listing).not.toMatch(/app\.db-wal|app\.db-shm|\.stowage-sqlite-/);
    });

    it('removes its temporary copy from the live volume', async () => {
      expect(await inVolume(volume, 'ls -a /d')).not.toMatch(/\.stowage-sqlite-/);
    });

    it('succeeds every time: five more online backups in a row while the writer keeps opening and closing the database', async () => {
      // Each writer transaction is its own sqlite3 process, so the WAL is checkpointed and
      // reset all the time (as with per-request connections): the copy must wait for its
      // lock (a busy timeout), never fail with "database is locked".
      const root = join(scratch, 'repeat');
      for (let i = 1; i <= 5; i++) {
        const r = await sb.cli('backup', ['--to', root], { hangAfterMs: SQLITE_BACKUP_HANG_MS });
        expect(r.code, `backup ${i} of 5: ${show(r)}`).toBe(0);
      }
      expect((await containerState(writer)).startedAt).toBe(startedBefore);
    });

    it('verify reports integrity_check of app.db', async () => {
      const r = await sb.cli('verify', ['--backup', setPath, '--json']);
      expect(r.code, show(r)).toBe(0);
      const doc = parseJsonDocument<{ ok: boolean; artifacts: Array<{ checked: string[] }> }>(r.stdout);
      expect(doc.ok).toBe(true);
      expect(doc.artifacts[0]?.checked.join(', ')).toMatch(/integrity_check app\.db/);
    });
  });

  describe('restore of the sqlite volume', () => {
    it('puts back exactly the copy: integrity_check ok and the same row count, and starts the writer again', async () => {
      await docker('exec', writer, 'touch', '/tmp/paused');
      await waitFor('the writer to pause', async () => (await exec('docker', ['exec', writer, 'test', '-e', '/tmp/paused-ack'])).code === 0);
      expect(await liveCount()).toBeGreaterThan(copyCount);
      const r = await sb.cli('restore', ['--backup', setPath, '--yes', '--json']);
      expect(r.code, show(r)).toBe(0);
      expect(parseJsonDocument<{ stopped: string[] }>(r.stdout).stopped).toContain(writer);
      expect((await containerState(writer)).running).toBe(true);
      const listing = await inVolume(volume, 'ls -a /d');
      expect(listing).not.toMatch(/\.stowage-/);
      const check = await docker('run', '--rm', '--network', 'none', '-v', `${volume}:/data`, SQLITE_IMAGE, 'sqlite3', '/data/app.db', 'PRAGMA integrity_check;');
      expect(check.trim()).toBe('ok');
      const count = await countInVolume();
      expect(count).toBeGreaterThan(0);
      expect(count).toBe(copyCount);
    });
  });
});

describe('sqlite backup of a database of a few tens of MB under continuous writes', () => {
  const big = new Sandbox(uniqueProject('sb'));

  beforeAll(async () => {
    big.writeStack(stackFor(big.project));
    await createVolume(big.project, 'data');
    // About 36 MB before the writer starts (9000 pages), and a writer adding 12 kB per transaction.
    await docker(
      'run', '--rm', '--network', 'none', '-v', `${big.volume('data')}:/data`, SQLITE_IMAGE, 'sqlite3', '/data/app.db',
      'PRAGMA journal_mode=WAL;',
      'CREATE TABLE t(id INTEGER PRIMARY KEY, batch INTEGER, v TEXT);',
      'INSERT INTO t(batch, v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<40000) SELECT 0, hex(randomblob(300)) FROM c;',
    );
    await runService(big.project, 'app', { image: SQLITE_IMAGE, mounts: [['data', '/data']], command: ['sh', '-c', writerScript(300)] });
  });

  afterAll(async () => {
    await big.cleanup();
  });

  it('completes with a consistent copy: neither "database is locked" nor a copy that restarts for ever while other connections write', async () => {
    const started = (await containerState(big.container('app'))).startedAt;
    const r = await big.cli('backup', ['--to', big.to, '--json'], { hangAfterMs: SQLITE_BACKUP_HANG_MS });
    expect(r.code, show(r)).toBe(0);
    expect((await containerState(big.container('app'))).startedAt).toBe(started);
    const v = await big.cli('verify', ['--backup', parseJsonDocument<{ path: string }>(r.stdout).path, '--json']);
    expect(v.code, show(v)).toBe(0);
  });
});
