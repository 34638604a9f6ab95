// restic repositories as data, without a repository: destinations and the
// password's way to restic, the commands as argument arrays, restic's output
// read and classified, sets grouped from snapshots, retention per volume, and
// the repair that makes `restic dump` of a directory snapshot an exact tar.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/config/errors.js';
import { maskRepository, parseDestination, resticEnvironment, type RepositoryDestination } from '../../src/backup/destination.js';
import { groupSets, lockFreeOnDisk } from '../../src/backup/repository.js';
import { keptRepositorySets } from '../../src/backup/retention.js';
import { pickSet } from '../../src/backup/set-reader.js';
import { withShadows } from '../../src/backup/set-writer.js';
import { exactTime, parseTreeIndex, repairTreeDump, type TreeIndex } from '../../src/backup/tree-index.js';
import { renderCommand } from '../../src/engine/command.js';
import { backupErrors, backupSummary, classifyFailure, excludePattern, parseSnapshots, restic, type NodeLine, type ResticSnapshot } from '../../src/engine/restic.js';
import { contentPadding, encodeHeader, END_OF_ARCHIVE, walkTar, type TarEntry } from '../../src/engine/tar-format.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-restic-units-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const passwordFile = join(dir, 'pass');
writeFileSync(passwordFile, 'hunter2-secret\n', { mode: 0o600 });

const SECRET = 'hunter2-secret';
const repo = (password: RepositoryDestination['password'] = { from: 'RESTIC_PASSWORD', value: SECRET }): RepositoryDestination => ({
  kind: 'repository',
  repository: 'rest:https://backup:urlsecret@vault:8000/pim',
  display: 'restic:rest:https://backup:***@vault:8000/pim',
  password,
});

describe('destinations', () => {
  it('a plain value is a directory of local sets, resolved against the working directory', () => {
    expect(parseDestination('backups', undefined, {})).toEqual({ kind: 'directory', path: join(process.cwd(), 'backups'), display: join(process.cwd(), 'backups') });
  });

  it('restic:<repository> is a repository; a REST URL\'s password is masked wherever it is shown', () => {
    const d = parseDestination('restic:rest:https://backup:urlsecret@vault:8000/pim', undefined, { RESTIC_PASSWORD: SECRET });
    expect(d).toMatchObject({ kind: 'repository', repository: 'rest:https://backup:urlsecret@vault:8000/pim', display: 'restic:rest:https://backup:***@vault:8000/pim' });
    expect(maskRepository('sftp:backup@vault:/srv/restic')).toBe('sftp:backup@vault:/srv/restic');
  });

  it('takes the password from backups.resticPasswordFile first, then RESTIC_PASSWORD_FILE, then RESTIC_PASSWORD', () => {
    const env = { RESTIC_PASSWORD_FILE: passwordFile, RESTIC_PASSWORD: 'other' };
    expect(parseDestination('restic:/r', passwordFile, env)).toMatchObject({ password: { from: 'backups.resticPasswordFile', file: passwordFile } });
    expect(parseDestination('restic:/r', undefined, env)).toMatchObject({ password: { from: 'RESTIC_PASSWORD_FILE', file: passwordFile } });
    expect(parseDestination('restic:/r', undefined, { RESTIC_PASSWORD: 'other' })).toMatchObject({ password: { from: 'RESTIC_PASSWORD', value: 'other' } });
  });

  it('without any password, or with a password file that is not there, is bad usage naming where to put it', () => {
    expect(() => parseDestination('restic:/r', undefined, {})).toThrow(UsageError);
    expect(() => parseDestination('restic:/r', undefined, {})).toThrow(/backups\.resticPasswordFile.*RESTIC_PASSWORD_FILE.*RESTIC_PASSWORD/);
    expect(() => parseDestination('restic:/r', join(dir, 'missing'), {})).toThrow(/does not exist/);
    expect(() => parseDestination('restic:  ', undefined, { RESTIC_PASSWORD: 'x' })).toThrow(/name the repository/);
  });

  it('restic gets the repository and password in its environment only, ambient ones removed; a plan shows no password', () => {
    const fromValue = resticEnvironment(repo());
    expect(fromValue.env).toEqual({ RESTIC_REPOSITORY: 'rest:https://backup:urlsecret@vault:8000/pim', RESTIC_PASSWORD: SECRET });
    expect(fromValue.unsetEnv).toEqual(expect.arrayContaining(['RESTIC_PASSWORD_FILE', 'RESTIC_PASSWORD_COMMAND', 'RESTIC_REPOSITORY_FILE']));
    expect(JSON.stringify(fromValue.shownEnv)).not.toMatch(/hunter2|urlsecret/);
    const fromFile = resticEnvironment(repo({ from: 'RESTIC_PASSWORD_FILE', file: passwordFile }));
    expect(fromFile.shownEnv).toEqual({ RESTIC_REPOSITORY: 'rest:https://backup:***@vault:8000/pim', RESTIC_PASSWORD_FILE: passwordFile });
    expect(fromFile.unsetEnv).toContain('RESTIC_PASSWORD');
  });
});

describe('restic commands as data', () => {
  const tags = { tags: ['stowage', 'project=pim', 'env=prod', 'set=20261124T031502Z', 'volume=data'], host: 'pim' };

  it('backs up a directory as ., in the directory, each exclusion an exact path', () => {
    const cmd = restic.backupDirectory(repo(), '/var/lib/docker/volumes/pim_data/_data', { ...tags, excludes: ['/var/lib/docker/volumes/pim_data/_data/cache[1]*'] });
    expect(cmd.program).toBe('restic');
    expect(cmd.cwd).toBe('/var/lib/docker/volumes/pim_data/_data');
    expect(cmd.args).toEqual(['backup', '--json', '--host', 'pim', '--tag', tags.tags.join(','), '--exclude', '/var/lib/docker/volumes/pim_data/_data/cache\\[1\\]\\*', '.']);
  });

  it('never puts the password into arguments, nor into the printed command', () => {
    const all = [
      restic.backupDirectory(repo(), '/d', { ...tags, excludes: [] }),
      restic.backupStdin(repo(), 'data.tar', tags),
      restic.dump(repo(), 'a'.repeat(64), '/'),
      restic.ls(repo(), 'a'.repeat(64)),
      restic.check(repo(), 'all'),
      restic.forget(repo(), ['a'.repeat(64)], true),
      restic.snapshots(repo(), ['stowage']),
      restic.copy(repo(), repo(), ['a'.repeat(64)]),
      restic.init(repo()),
      restic.unlock(repo()),
    ];
    for (const cmd of all) {
      expect(cmd.args.join(' ')).not.toMatch(/hunter2|urlsecret/);
      expect(renderCommand(cmd)).not.toMatch(/hunter2|urlsecret/);
      expect(cmd.env?.['RESTIC_PASSWORD']).toBe(SECRET);
    }
    expect(renderCommand(restic.backupStdin(repo(), 'data.tar', tags))).toBe(
      "RESTIC_REPOSITORY='rest:https://backup:***@vault:8000/pim' restic backup --json --host pim --tag stowage,project=pim,env=prod,set=20261124T031502Z,volume=data --stdin --stdin-filename data.tar",
    );
  });

  it('a copy keeps the set\'s time: --time in UTC, with TZ=UTC for restic', () => {
    const cmd = restic.backupStdin(repo(), 'manifest.json', { ...tags, time: new Date('2026-11-24T03:15:02.123Z') });
    expect(cmd.args).toContain('--time');
    expect(cmd.args[cmd.args.indexOf('--time') + 1]).toBe('2026-11-24 03:15:02');
    expect(cmd.env?.['TZ']).toBe('UTC');
  });

  it('check reads all data by default, a subset when told, only the structure with none', () => {
    expect(restic.check(repo(), 'all').args).toEqual(['check', '--read-data']);
    expect(restic.check(repo(), '1/7').args).toEqual(['check', '--read-data-subset=1/7']);
    expect(restic.check(repo(), 'none').args).toEqual(['check']);
  });

  it('a SQLite copy is shown to restic under the live name by a bind mount in restic\'s own mount namespace', () => {
    const cmd = withShadows(restic.backupDirectory(repo(), '/v', { ...tags, excludes: [] }), [['/v/.stowage-sqlite-x-0', '/v/app.db']]);
    expect(cmd.program).toBe('unshare');
    expect(cmd.args.slice(0, 5)).toEqual(['--mount', '--propagation', 'private', '--', 'sh']);
    expect(cmd.args.slice(7, 12)).toEqual(['sh', '/v/.stowage-sqlite-x-0', '/v/app.db', '--', 'restic']);
    expect(cmd.cwd).toBe('/v');
  });

  it('escapes restic\'s wildcards in exclusions', () => {
    expect(excludePattern('/v/a*b?c[d]\\e')).toBe('/v/a\\*b\\?c\\[d\\]\\\\e');
  });
});

describe('restic\'s output', () => {
  it('reads the summary and the errors of a backup', () => {
    const out = '{"message_type":"status","percent_done":0.5}\n{"message_type":"summary","files_new":1,"files_changed":0,"files_unmodified":10,"data_added":285,"total_bytes_processed":6,"snapshot_id":"91b8f83e"}\n';
    expect(backupSummary(out)).toMatchObject({ snapshot_id: '91b8f83e', data_added: 285, files_unmodified: 10 });
    const err = '{"message_type":"error","error":{"Op":"lstat","Path":"x","Err":2},"during":"archival","item":"/v/x"}\nWarning: at least one source file could not be read\n';
    expect(backupErrors(err)).toEqual([{ item: '/v/x', errno: 2 }]);
  });

  it('refuses a snapshot list that is not one (never trusted unchecked)', () => {
    expect(parseSnapshots('null')).toEqual([]);
    expect(() => parseSnapshots('[{"id":"x"}]')).toThrow(/unexpected list/);
  });

  it('tells a wrong password, a missing repository, a lock, a lost connection and a full disk apart', () => {
    expect(classifyFailure('Fatal: wrong password or no key found')).toBe('wrong-password');
    expect(classifyFailure('Fatal: unable to open config file: stat /r/config: no such file or directory\nIs there a repository at the following location?\n/r')).toBe('no-repository');
    expect(classifyFailure('Fatal: unable to open config file: client.Head: dial tcp 127.0.0.1:1: connect: connection refused\nIs there a repository at the following location?')).toBe('unreachable');
    expect(classifyFailure('unable to create lock in backend: repository is already locked by PID 1 on vm by root')).toBe('locked');
    expect(classifyFailure('Save(<data/1>) returned error: write /r/data/x: no space left on device')).toBe('no-space');
    expect(classifyFailure('Save(<data/1>) returned error: unexpected HTTP response (507): 507 Insufficient Storage')).toBe('no-space');
  });

  it('takes a dropped REST server for unreachable even when an id in the same output holds the digits 507', () => {
    const stderr = 'Remove(<lock/4294d70180>) returned error, retrying after 27.3s: client.Do: Delete "http://127.0.0.1:38047/dropped/locks/4294d701806507fdf": dial tcp 127.0.0.1:38047: connect: connection refused';
    expect(classifyFailure(stderr)).toBe('unreachable');
  });
});

const snap = (id: string, tags: string[]): ResticSnapshot => ({ id: id.repeat(64).slice(0, 64), short_id: id.repeat(8).slice(0, 8), time: '2026-11-24T03:15:02Z', tree: 'f'.repeat(64), paths: ['/'], hostname: 'pim', tags });

describe('sets in a repository', () => {
  const snapshots = [
    snap('a', ['stowage', 'project=pim', 'env=prod', 'set=20261122T031500Z', 'volume=data']),
    snap('b', ['stowage', 'project=pim', 'env=prod', 'set=20261122T031500Z', 'manifest']),
    snap('c', ['stowage', 'project=pim', 'env=dev', 'set=20261123T031500Z', 'volume=data']),
    snap('d', ['stowage', 'project=pim', 'env=dev', 'set=20261123T031500Z', 'manifest']),
    snap('e', ['stowage', 'project=pim', 'env=prod', 'set=20261124T031500Z', 'volume=data']),
  ];
  const sets = groupSets(snapshots);

  it('groups snapshots by their set tag; a set without manifest is incomplete', () => {
    expect(sets.map((s) => [s.id, s.env, s.manifest !== undefined, [...s.volumes.keys()]])).toEqual([
      ['20261122T031500Z', 'prod', true, ['data']],
      ['20261123T031500Z', 'dev', true, ['data']],
      ['20261124T031500Z', 'prod', false, ['data']],
    ]);
  });

  it('latest is the newest complete set of the environment, never an incomplete one', () => {
    expect(pickSet(sets, 'latest', 'restic:/r', 'pim', 'prod').id).toBe('20261122T031500Z');
    expect(pickSet(sets, 'latest', 'restic:/r', 'pim', 'dev').id).toBe('20261123T031500Z');
    expect(() => pickSet(sets, 'latest', 'restic:/r', 'pim', 'staging')).toThrow(/no complete backup set.*--from-env dev/);
  });

  it('a set id names a set; an incomplete one, an unknown one or a path is bad usage', () => {
    expect(pickSet(sets, '20261123T031500Z', 'restic:/r', 'pim', 'dev').id).toBe('20261123T031500Z');
    expect(() => pickSet(sets, '20261124T031500Z', 'restic:/r', 'pim', 'prod')).toThrow(/incomplete/);
    expect(() => pickSet(sets, '20990101T000000Z', 'restic:/r', 'pim', 'prod')).toThrow(/no set/);
    expect(() => pickSet(sets, '/srv/backups/pim/x', 'restic:/r', 'pim', 'prod')).toThrow(/by its id/);
  });

  it('retention decides per environment and volume: a set stays while any of its volumes keeps it', () => {
    const volumes = (...names: string[]): Map<string, ResticSnapshot> => new Map(names.map((n) => [n, snap('a', [])]));
    const complete = [
      { id: '20261120T031500Z', env: 'prod', volumes: volumes('data', 'db') },
      { id: '20261121T031500Z', env: 'prod', volumes: volumes('db') },
      { id: '20261122T031500Z', env: 'prod', volumes: volumes('db') },
      { id: '20261122T041500Z', env: 'dev', volumes: volumes('data', 'db') },
    ];
    const kept = keptRepositorySets(complete, { last: 1, daily: 0, weekly: 0, monthly: 0 });
    expect([...kept].sort()).toEqual(['20261120T031500Z', '20261122T031500Z', '20261122T041500Z']);
  });
});

describe('the exact tar of a directory snapshot', () => {
  const header = (name: string, kind: Partial<TarEntry> & { typeflag: string; size: number }, mtime = 1000): Buffer =>
    encodeHeader({ name, linkname: '', mode: 0o644, uid: 0, gid: 0, mtime, devmajor: 0, devminor: 0, pax: new Map(), ...kind });
  const file = (name: string, body: string, mtime = 1000): Buffer[] => [header(name, { typeflag: '0', size: body.length }, mtime), Buffer.from(body), contentPadding(body.length)];
  const node = (path: string, type: string, mtime: string): NodeLine => ({ struct_type: 'node', name: path.split('/').pop() ?? '', type, path, mtime });

  async function entries(stream: Readable): Promise<Array<Pick<TarEntry, 'name' | 'kind' | 'linkname' | 'mtime' | 'uid' | 'mode'> & { body: string }>> {
    const seen: Array<Pick<TarEntry, 'name' | 'kind' | 'linkname' | 'mtime' | 'uid' | 'mode'> & { body: string }> = [];
    await walkTar(stream, {
      entry(e) {
        seen.push({ name: e.name, kind: e.kind, linkname: e.linkname, mtime: e.mtime, uid: e.uid, mode: e.mode, body: '' });
      },
      data(chunk) {
        const last = seen[seen.length - 1];
        if (last !== undefined) last.body += chunk.toString('latin1');
      },
    });
    return seen;
  }

  function iterate(lines: NodeLine[]): AsyncIterator<NodeLine> {
    let i = 0;
    return { next: () => Promise.resolve(i < lines.length ? { done: false, value: lines[i++] as NodeLine } : { done: true, value: undefined }) };
  }

  // As restic 0.14 dumps it: times rounded, the FIFO an empty file, the hard link a copy, no root entry.
  const dump = Buffer.concat([
    ...file('a', 'shared', 1001),
    ...file('fifo', '', 1000),
    ...file('sub/b', 'shared', 1001),
    header('caf\xe9-out', { typeflag: '2', size: 0, linkname: '../caf\uFFFD' }),
    END_OF_ARCHIVE,
  ]);
  const index: TreeIndex = { root: { uid: 1000, gid: 1000, mode: 0o750, mtime: 42 }, links: [['a', 'sub/b']], targets: [['caf\xe9-out', '../caf\xe9']] };
  const lines = [
    node('/a', 'file', '2020-01-01T00:16:40.9Z'),
    node('/fifo', 'fifo', '1970-01-01T00:16:40Z'),
    node('/sub', 'dir', '1970-01-01T00:16:40Z'),
    node('/sub/b', 'file', '2020-01-01T00:16:40.9Z'),
    node('/caf\uFFFD-out', 'symlink', '1970-01-01T00:16:40Z'),
  ];

  it('puts back the root entry, exact times, the FIFO, the hard link and the non-UTF-8 target, content untouched', async () => {
    const out = await entries(repairTreeDump(Readable.from([dump]), iterate(lines), index));
    expect(out.map((e) => [e.name, e.kind, e.linkname])).toEqual([
      ['./', 'directory', ''],
      ['./a', 'file', ''],
      ['./fifo', 'fifo', ''],
      ['./sub/b', 'link', './a'],
      ['./caf\xe9-out', 'symlink', '../caf\xe9'],
    ]);
    expect(out[0]).toMatchObject({ uid: 1000, mode: 0o750, mtime: 42 });
    expect(out[1]).toMatchObject({ body: 'shared', mtime: 1577837800.9 });
  });

  it('fails when restic ls and restic dump disagree (the snapshot would not come back exactly)', async () => {
    const wrong = [node('/other', 'file', '1970-01-01T00:16:40Z')];
    await expect(entries(repairTreeDump(Readable.from([dump]), iterate(wrong), index))).rejects.toThrow(/restic ls ended before the entry a/);
  });

  it('reads exact times with any number of fraction digits and an offset', () => {
    expect(exactTime('2026-11-30T11:07:12.30687997Z')).toEqual({ seconds: 1796036832, pax: '1796036832.30687997' });
    expect(exactTime('2026-11-30T12:07:12+01:00')).toEqual({ seconds: 1796036832, pax: '1796036832' });
  });

  it('indexes hard link groups and the symlink targets restic cannot keep from find\'s output', () => {
    const out = ['h2049:17', './a', 'h2049:17', './sub/b', 'h2049:99', './alone', 'l./ok', 'x', 'l./caf\xe9-out', '../caf\xe9', ''].join('\0');
    expect(parseTreeIndex(out, { uid: 0, gid: 0, mode: 0o755, mtime: 1 })).toEqual({ root: { uid: 0, gid: 0, mode: 0o755, mtime: 1 }, links: [['a', 'sub/b']], targets: [['caf\xe9-out', '../caf\xe9']] });
  });
});

describe('looking for stale locks without a restic run', () => {
  const root = mkdtempSync(join(tmpdir(), 'stowage-locks-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('needs none for a local repository whose locks directory is empty', () => {
    mkdirSync(join(root, 'empty/locks'), { recursive: true });
    expect(lockFreeOnDisk(join(root, 'empty'))).toBe(true);
    expect(lockFreeOnDisk(`local:${join(root, 'empty')}`)).toBe(true);
  });

  it('asks restic when a lock file is there, the directory cannot be read, or the repository is not a local path', () => {
    mkdirSync(join(root, 'locked/locks'), { recursive: true });
    writeFileSync(join(root, 'locked/locks', 'a'.repeat(64)), '');
    expect(lockFreeOnDisk(join(root, 'locked'))).toBe(false);
    expect(lockFreeOnDisk(join(root, 'missing'))).toBe(false);
    expect(lockFreeOnDisk('relative/repo')).toBe(false);
    expect(lockFreeOnDisk('sftp:backup@host:/srv/restic')).toBe(false);
    expect(lockFreeOnDisk('rest:http://127.0.0.1:8000/pim')).toBe(false);
  });
});
