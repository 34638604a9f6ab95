import { describe, expect, it } from 'vitest';
import { command, renderCommand, Runner, shellQuote, startStreaming } from '../../src/engine/command.js';
import { mongo, pg, sqlite } from '../../src/engine/databases.js';
import { docker } from '../../src/engine/docker.js';
import { filters } from '../../src/engine/pipeline.js';

describe('docker commands are argument arrays', () => {
  it('creates a never-started helper with read-only volume mounts, no network, labelled as a helper', () => {
    const cmd = docker.createHelper('pim-stowage-helper-1', 'busybox', [{ type: 'volume', source: 'pim_data', target: '/data', readOnly: true }], { 'stowage.project': 'pim' });
    expect(cmd.args).toEqual([
      'create', '--name', 'pim-stowage-helper-1', '--label', 'stowage.helper=1', '--label', 'stowage.project=pim',
      '--network', 'none', '--mount', 'type=volume,source=pim_data,target=/data,readonly', 'busybox', 'true',
    ]);
  });

  it('mounts bind sources with --mount so a missing host directory is an error, not a new empty one', () => {
    const cmd = docker.createHelper('h', 'busybox', [{ type: 'bind', source: '/srv/pim/data', target: '/data', readOnly: false }], {});
    expect(cmd.args).toContain('type=bind,source=/srv/pim/data,target=/data');
  });

  it('reads a directory\'s content through the archive endpoint with ./ entries', () => {
    expect(docker.archiveRead('h', '/data/').args).toEqual(['cp', 'h:/data/.', '-']);
    expect(docker.archiveRead('h', '/data').mutates).toBe(false);
  });

  it('writes through the archive endpoint keeping owners (copyUIDGID)', () => {
    expect(docker.archiveWrite('h', '/v/.stowage-restore-x').args).toEqual(['cp', '--archive', '-', 'h:/v/.stowage-restore-x']);
  });

  it('passes helper scripts as an argument, never interpolating user values into the script', () => {
    const cmd = docker.runHelperScript('busybox', [], 'rm -rf -- "/v/$1"', ['a b; rm -rf /'], {});
    expect(cmd.args.slice(-4)).toEqual(['-c', 'rm -rf -- "/v/$1"', 'stowage', 'a b; rm -rf /']);
  });

  it('stops with Docker\'s usual grace period and starts by name', () => {
    expect(docker.stop(['a', 'b']).args).toEqual(['stop', '--time', '10', 'a', 'b']);
    expect(docker.start(['a']).args).toEqual(['start', 'a']);
  });

  it('creates volumes with the stack\'s driver options and labels', () => {
    const cmd = docker.createVolume('digidig_smtp_data', 'local', { type: 'none', o: 'bind', device: '/opt/digidig/data/smtp_data' }, { 'stowage.volume': 'smtp_data' });
    expect(cmd.args).toEqual([
      'volume', 'create', '--driver', 'local', '--opt', 'type=none', '--opt', 'o=bind', '--opt', 'device=/opt/digidig/data/smtp_data',
      '--label', 'stowage.volume=smtp_data', 'digidig_smtp_data',
    ]);
  });
});

describe('printed commands paste into a shell', () => {
  it('leaves plain words alone and single-quotes the rest', () => {
    expect(shellQuote('pim_data')).toBe('pim_data');
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(shellQuote('')).toBe(`''`);
    expect(renderCommand(docker.archiveRead('h', '/my data'))).toBe(`docker cp 'h:/my data/.' -`);
  });
});

describe('database commands', () => {
  it('pg_dump writes a custom-format dump to a file inside the container', () => {
    const cmd = pg.dump({ container: 'digidig-postgres', user: 'digidig', database: 'digidig' }, '/tmp/x.dump');
    expect(cmd.args).toEqual(['exec', 'digidig-postgres', 'pg_dump', '-U', 'digidig', '--format=custom', '--file=/tmp/x.dump', 'digidig']);
  });

  it('pg_dump over TCP takes the password from the container\'s own variable, never from our arguments', () => {
    const cmd = pg.dump({ container: 'c', user: 'u', database: 'd', passwordEnv: 'POSTGRES_PASSWORD' }, '/tmp/x.dump');
    expect(cmd.args.slice(0, 4)).toEqual(['exec', 'c', 'sh', '-c']);
    expect(cmd.args[4]).toContain('PGPASSWORD="$POSTGRES_PASSWORD"');
    expect(cmd.args[4]).toContain("'-h' '127.0.0.1'");
  });

  it('pg_restore recreates the database so it equals the dump', () => {
    const cmd = pg.restore({ container: 'c', user: 'u', database: 'd' }, '/tmp/x.dump');
    expect(cmd.args).toEqual(['exec', 'c', 'pg_restore', '-U', 'u', '--clean', '--if-exists', '--create', '--exit-on-error', '--dbname=postgres', '/tmp/x.dump']);
  });

  it('mongodump writes a gzip archive and reads credentials from the container environment', () => {
    const cmd = mongo.dump({ container: 'digidig-mongo', usernameEnv: 'MONGO_INITDB_ROOT_USERNAME', passwordEnv: 'MONGO_INITDB_ROOT_PASSWORD', authenticationDatabase: 'admin' }, '/tmp/m.archive');
    expect(cmd.args.slice(0, 4)).toEqual(['exec', 'digidig-mongo', 'sh', '-c']);
    const script = cmd.args[4] ?? '';
    expect(script).toContain('MONGO_USER="$MONGO_INITDB_ROOT_USERNAME"');
    expect(script).toContain("exec mongodump '--archive=/tmp/m.archive' '--gzip'");
    expect(script).toContain('"$MONGO_PASS"');
  });

  it('mongodump without credentials runs directly', () => {
    const cmd = mongo.dump({ container: 'm', usernameEnv: undefined, passwordEnv: undefined, authenticationDatabase: undefined }, '/tmp/m');
    expect(cmd.args).toEqual(['exec', 'm', 'mongodump', '--archive=/tmp/m', '--gzip']);
  });

  it('mongorestore drops collections before restoring them', () => {
    const cmd = mongo.restore({ container: 'm', usernameEnv: undefined, passwordEnv: undefined, authenticationDatabase: undefined }, '/tmp/m');
    expect(cmd.args).toEqual(['exec', 'm', 'mongorestore', '--archive=/tmp/m', '--gzip', '--drop']);
  });

  it('SQLite online copy opens the live database read-write without creating it and copies in one transaction', () => {
    expect(sqlite.onlineBackup('pim-backend', '/data/database.sqlite', '/data/.stowage-sqlite-1').args).toEqual([
      'exec', 'pim-backend', 'sqlite3', 'file:/data/database.sqlite?mode=rw', '.timeout 10000', "VACUUM INTO '/data/.stowage-sqlite-1'",
    ]);
  });

  it('falls back to the online backup API where VACUUM INTO does not exist', () => {
    expect(sqlite.onlineBackupLegacy('c', '/d/db', '/d/copy').args.slice(-2)).toEqual(['.timeout 10000', ".backup '/d/copy'"]);
  });
});

describe('compression and encryption filters', () => {
  it('uses every core for zstd at the stack\'s level', () => {
    expect(filters.compress('zstd', 3).args).toEqual(['-T0', '-3', '-q', '-c']);
  });

  it('encrypts to every age recipient', () => {
    expect(filters.encrypt(['age1a', 'age1b']).args).toEqual(['-r', 'age1a', '-r', 'age1b']);
  });
});

describe('a command that prints what no retry can fix', () => {
  // restic retries a write into a full repository for minutes; such a command is stopped at once.
  const script = 'echo "Save(<data/1>) returned error, retrying after 1.2s: write /r/data/x: no space left on device" >&2; sleep 30; echo finished';
  const giveUp = /retrying after[^\n]*no space left on device/;

  it('is stopped as soon as its stderr says so, and fails with what it printed', async () => {
    const result = await new Runner().run({ ...command('sh', ['-c', script], 'write into a full repository', false), giveUpOn: giveUp }, { allowFailure: true });
    expect(result.code).not.toBe(0);
    expect(result.stdout).not.toContain('finished');
    expect(result.stderr).toContain('no space left on device');
  });

  it('as a stream too', async () => {
    const proc = startStreaming({ ...command('sh', ['-c', script], 'write into a full repository', false), giveUpOn: giveUp }, { stdin: 'ignore', stdout: 'pipe' });
    proc.child.stdout?.resume();
    await expect(proc.done).rejects.toThrow(/no space left on device/);
  });
});
