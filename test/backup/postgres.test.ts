// pg_dump volumes: the dump runs inside the running database container, verify
// reads its table of contents with pg_restore --list, and a restore puts the
// database back exactly as it was at backup time.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { POSTGRES_IMAGE, Sandbox, containerState, createVolume, exec, parseJsonDocument, readManifestFile, runService, show, uniqueProject, waitFor } from '../helpers/engine.js';

const sb = new Sandbox(uniqueProject('pg'));
const pg = sb.container('postgres');

async function psql(sql: string): Promise<string> {
  const r = await exec('docker', ['exec', pg, 'psql', '-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-U', 'app', '-d', 'appdb', '-c', sql]);
  if (r.code !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return r.stdout.trim();
}

const ROWS = 'SELECT id, name, amount::text, coalesce(note, \'<null>\') FROM items ORDER BY id';

let setPath: string;
let atBackup: string;
let startedBefore: string;

beforeAll(async () => {
  sb.writeStack(`app: ${sb.project}
helper: { image: stowage-test/busybox:1 }
volumes:
  pgdata:
    backup: { method: pg_dump }
services:
  postgres:
    image: ${POSTGRES_IMAGE}
    environment:
      POSTGRES_USER: app
      POSTGRES_PASSWORD: not-a-real-secret
      POSTGRES_DB: appdb
    mounts: [pgdata:/var/lib/postgresql/data]
environments:
  dev: {}
`);
  await createVolume(sb.project, 'pgdata');
  await runService(sb.project, 'postgres', {
    image: POSTGRES_IMAGE,
    mounts: [['pgdata', '/var/lib/postgresql/data']],
    env: { POSTGRES_USER: 'app', POSTGRES_PASSWORD: 'not-a-real-secret', POSTGRES_DB: 'appdb' },
    command: null,
  });
  await waitFor('postgres to accept connections', async () => (await exec('docker', ['exec', pg, 'pg_isready', '-U', 'app', '-d', 'appdb'])).code === 0, 1200);
  await psql(`CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, amount numeric(10,2), note text);
    INSERT INTO items (name, amount, note) SELECT 'item ' || g, g * 1.5, CASE WHEN g % 3 = 0 THEN NULL ELSE 'note ' || g END FROM generate_series(1, 500) g;
    INSERT INTO items (name, amount, note) VALUES ('ünïcødé ✓', 0.01, E'quote '' and\\nnewline');`);
  atBackup = await psql(ROWS);
  startedBefore = (await containerState(pg)).startedAt;
  const r = await sb.cli('backup', ['--to', sb.to, '--json']);
  expect(r.code, show(r)).toBe(0);
  setPath = parseJsonDocument<{ path: string }>(r.stdout).path;
});

afterAll(async () => {
  await sb.cleanup();
});

describe('pg_dump backup, verify and restore', () => {
  it('dumps without stopping the database container', async () => {
    const state = await containerState(pg);
    expect(state.running).toBe(true);
    expect(state.startedAt).toBe(startedBefore);
  });

  it('records a pg_dump artifact that the stock pg_restore --list reads', async () => {
    const artifact = readManifestFile(setPath).artifacts[0];
    expect(artifact).toMatchObject({ volume: 'pgdata', method: 'pg_dump' });
    const r = await exec('pg_restore', ['--list', `${setPath}/${artifact?.file ?? ''}`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/TABLE public items/);
  });

  it('verify passes and reports pg_restore --list', async () => {
    const r = await sb.cli('verify', ['--backup', 'latest', '--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    const doc = parseJsonDocument<{ ok: boolean; artifacts: Array<{ checked: string[] }> }>(r.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.artifacts[0]?.checked).toContain('pg_restore --list');
  });

  it('restore --yes after rows were deleted, changed and added gives back the rows exactly as at backup time', async () => {
    await psql(`DELETE FROM items WHERE id % 2 = 0; UPDATE items SET name = 'changed', note = NULL WHERE id < 50; INSERT INTO items (name) VALUES ('after backup');`);
    expect(await psql(ROWS)).not.toBe(atBackup);
    const r = await sb.cli('restore', ['--backup', setPath, '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect(await psql(ROWS)).toBe(atBackup);
  });

  it('restore after the table was dropped brings the table back with its rows and its sequence', async () => {
    await psql('DROP TABLE items;');
    const r = await sb.cli('restore', ['--backup', setPath, '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect(await psql(ROWS)).toBe(atBackup);
    // The serial sequence continues after the restored rows.
    expect(Number(await psql("INSERT INTO items (name) VALUES ('next') RETURNING id"))).toBe(502);
  });
});

describe('pg_dump into a restic repository', () => {
  const env = (): Record<string, string> => ({ RESTIC_PASSWORD: 'postgres test only', RESTIC_CACHE_DIR: `${sb.root}/restic-cache` });
  const repository = (): string => `restic:${sb.root}/repository`;

  it('stores the dump as one file, verify reads its table of contents, and a restore gives back the rows', async () => {
    await psql("DELETE FROM items WHERE name = 'next';");
    const rows = await psql(ROWS);
    const made = await sb.cli('backup', ['--to', repository(), '--init', '--json'], { env: env() });
    expect(made.code, show(made)).toBe(0);
    const doc = parseJsonDocument<{ id: string; artifacts: Array<{ file: string; snapshot?: string }> }>(made.stdout);
    expect(doc.artifacts[0]).toMatchObject({ file: 'pgdata.pgdump' });
    const verified = await sb.cli('verify', ['--to', repository(), '--backup', doc.id, '--json'], { env: env() });
    expect(verified.code, show(verified)).toBe(0);
    expect(parseJsonDocument<{ artifacts: Array<{ checked: string[] }> }>(verified.stdout).artifacts[0]?.checked).toContain('pg_restore --list');
    await psql('DROP TABLE items;');
    const restored = await sb.cli('restore', ['--to', repository(), '--backup', 'latest', '--yes'], { env: env() });
    expect(restored.code, show(restored)).toBe(0);
    expect(await psql(ROWS)).toBe(rows);
  });
});
