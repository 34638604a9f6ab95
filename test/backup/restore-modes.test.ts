// The ways an operator restores: one file (pim's "secrets only"), into a volume
// that is gone, as a dry run, and the refusal without --yes and without a TTY.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Sandbox, containerState, createVolume, docker, entry, inVolume, parseJsonDocument, projectContainers, runService, show, snapshot, uniqueProject, volumeExists, volumeLabels,
} from '../helpers/engine.js';

const sb = new Sandbox(uniqueProject('rm'));
const volume = sb.volume('data');
const app = sb.container('backend');

let atBackup: string[];
let setPath: string;

/** The root's line without its mtime: replacing an entry of a directory necessarily touches the directory. */
function withoutRootMtime(lines: string[]): string[] {
  return lines.map((l) => (l.startsWith('. ') ? l.replace(/^(\. \S+ \S+) \d+ /, '$1 <mtime> ') : l));
}

beforeAll(async () => {
  sb.writeStack(`app: ${sb.project}
helper: { image: stowage-test/busybox:1 }
volumes:
  data:
    owner: "1000:1000"
    mode: "0750"
services:
  backend:
    image: stowage-test/busybox:1
    mounts: [data:/data]
environments:
  dev: {}
`);
  await createVolume(sb.project, 'data');
  await inVolume(
    volume,
    `cd /d && printf 'JWT_SECRET=original\\n' > secrets.env && chown 1000:1000 secrets.env && chmod 0600 secrets.env &&
     touch -d '2020-01-01 00:00:00' secrets.env &&
     head -c 100000 /dev/urandom > database.sqlite && chown 1000:1000 database.sqlite && chmod 0640 database.sqlite &&
     mkdir -p email/attachments && printf 'a\\n' > email/attachments/a.txt && chown -R 1000:1000 email &&
     chown 1000:1000 /d && chmod 0750 /d`,
  );
  await runService(sb.project, 'backend', { mounts: [['data', '/data']] });
  atBackup = await snapshot(volume);
  const r = await sb.cli('backup', ['--to', sb.to, '--json']);
  expect(r.code, show(r)).toBe(0);
  setPath = parseJsonDocument<{ path: string }>(r.stdout).path;
});

afterAll(async () => {
  await sb.cleanup();
});

describe('restore --volume data --path secrets.env (secrets only)', () => {
  it('replaces just secrets.env with its backed-up content, owner, mode and time, and leaves every other file as it is now', async () => {
    await inVolume(
      volume,
      `cd /d && printf 'JWT_SECRET=rotated\\n' > secrets.env && chmod 0644 secrets.env && chown 0:0 secrets.env &&
       head -c 50000 /dev/urandom > database.sqlite && printf 'b\\n' > email/attachments/b.txt && rm email/attachments/a.txt &&
       printf 'new\\n' > uploads.txt`,
    );
    const now = await snapshot(volume);
    const r = await sb.cli('restore', ['--backup', setPath, '--volume', 'data', '--path', 'secrets.env', '--yes']);
    expect(r.code, show(r)).toBe(0);
    const after = await snapshot(volume);
    const expected = now.map((l) => (l.startsWith('./secrets.env ') ? (entry(atBackup, './secrets.env') ?? '') : l));
    expect(withoutRootMtime(after)).toEqual(withoutRootMtime(expected));
    expect(entry(after, './secrets.env')).toMatch(/ 1000:1000 600 1577836800 1 regular file /);
  });

  it('starts the service it stopped for the restore again', async () => {
    expect((await containerState(app)).running).toBe(true);
  });
});

describe('a set made with backup --volume data --path secrets.env', () => {
  it('restores (without --path) only secrets.env and leaves the rest of the volume as it is', async () => {
    const r1 = await sb.cli('backup', ['--to', sb.to, '--volume', 'data', '--path', 'secrets.env', '--json']);
    expect(r1.code, show(r1)).toBe(0);
    const secretsOnly = parseJsonDocument<{ path: string }>(r1.stdout).path;
    await inVolume(volume, "cd /d && printf 'JWT_SECRET=lost\\n' > secrets.env && printf 'c\\n' > email/attachments/c.txt");
    const now = await snapshot(volume);
    const r2 = await sb.cli('restore', ['--backup', secretsOnly, '--yes']);
    expect(r2.code, show(r2)).toBe(0);
    const after = await snapshot(volume);
    expect(entry(after, './email/attachments/c.txt')).toBe(entry(now, './email/attachments/c.txt'));
    expect(entry(after, './database.sqlite')).toBe(entry(now, './database.sqlite'));
    expect(entry(after, './secrets.env')).toBe(entry(atBackup, './secrets.env'));
    expect(after).toHaveLength(now.length);
  });
});

describe('restore --path of a file the backup does not hold', () => {
  it('fails and keeps the live file (a backup older than secrets.env must not delete today\'s secrets)', async () => {
    await inVolume(volume, "cd /d && printf 'NEW=1\\n' > later.env && chown 1000:1000 later.env");
    const before = await snapshot(volume);
    const r = await sb.cli('restore', ['--backup', setPath, '--volume', 'data', '--path', 'later.env', '--yes']);
    expect(r.code, show(r)).not.toBe(0);
    expect(entry(await snapshot(volume), './later.env')).toBe(entry(before, './later.env'));
    // Nothing else either: no .stowage-old-*/.stowage-restore-* left behind (a leftover blocks every later restore).
    expect(withoutRootMtime(await snapshot(volume))).toEqual(withoutRootMtime(before));
    expect((await containerState(app)).running).toBe(true);
  });
});

describe('restore --dry-run', () => {
  it('prints docker commands and changes nothing: volume, containers, their start times', async () => {
    const before = await snapshot(volume);
    const containers = await projectContainers(sb.project);
    const started = (await containerState(app)).startedAt;
    const r = await sb.cli('restore', ['--backup', setPath, '--dry-run']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^docker (stop|run|create|cp|start) /m);
    expect(await snapshot(volume)).toEqual(before);
    expect(await projectContainers(sb.project)).toEqual(containers);
    expect((await containerState(app)).startedAt).toBe(started);
  });
});

describe('restore without --yes and without a terminal', () => {
  it('refuses with exit 2, says to pass --yes, and changes nothing', async () => {
    const before = await snapshot(volume);
    const started = (await containerState(app)).startedAt;
    const r = await sb.cli('restore', ['--backup', setPath]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/--yes/);
    expect(await snapshot(volume)).toEqual(before);
    expect((await containerState(app)).startedAt).toBe(started);
  });
});

describe('restore into a volume where an interrupted restore left the previous content aside', () => {
  it('refuses, names the .stowage-old-* directory that holds it, touches nothing and starts the service again', async () => {
    await inVolume(volume, 'mkdir /d/.stowage-old-interrupted && printf "previous\\n" > /d/.stowage-old-interrupted/secrets.env');
    const before = await snapshot(volume);
    const r = await sb.cli('restore', ['--backup', setPath, '--yes']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/\.stowage-old-interrupted holds content an interrupted restore moved aside/);
    expect(await snapshot(volume)).toEqual(before);
    expect((await containerState(app)).running).toBe(true);
    await inVolume(volume, 'rm -rf /d/.stowage-old-interrupted');
  });
});

describe('restore into a volume that does not exist', () => {
  it('creates the volume with the stack\'s labels and restores the whole tree into it', async () => {
    await docker('rm', '--force', app);
    await docker('volume', 'rm', volume);
    expect(await volumeExists(volume)).toBe(false);
    const r = await sb.cli('restore', ['--backup', setPath, '--yes', '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ restored: Array<{ volume: string; created: boolean }> }>(r.stdout).restored).toEqual([
      expect.objectContaining({ volume: 'data', created: true }),
    ]);
    expect(await volumeLabels(volume)).toMatchObject({ 'stowage.project': sb.project, 'stowage.env': 'dev', 'stowage.volume': 'data' });
    expect(await snapshot(volume)).toEqual(atBackup);
  });
});
