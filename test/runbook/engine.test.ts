// Runbooks against the real engine: a restore drill proves a backup restores
// without touching the live stack, and safe-update rolls a failed update back
// to the previous images and the data of its backup. Every test uses its own
// project name and removes exactly what it created.
import { chmodSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectStack } from '../../src/config/select.js';
import { Runner } from '../../src/engine/command.js';
import { drillCheck } from '../../src/backup/drill.js';
import { readJournal } from '../../src/runbook/run-log.js';
import {
  IDLE_COMMAND,
  POSTGRES_IMAGE,
  SQLITE_IMAGE,
  Sandbox,
  containerState,
  createVolume,
  docker,
  exec,
  hostShell,
  inVolume,
  labelArgs,
  oneVolumeStack,
  removeProject,
  repoRoot,
  runService,
  setDirName,
  sha256Of,
  show,
  snapshot,
  uniqueProject,
  volumeExists,
  waitFor,
  writeManifestFile,
} from '../helpers/engine.js';

function runbook(args: string[], env: Record<string, string> = {}) {
  return exec(process.execPath, [join(repoRoot, 'scripts', 'runbook.mjs'), ...args], { env: { NO_COLOR: '1', ...env } });
}

async function drillLeftovers(project: string): Promise<string[]> {
  const label = `label=stowage.project=${project}-drill`;
  const containers = (await docker('ps', '--all', '--format', '{{.Names}}', '--filter', label)).split('\n');
  const volumes = (await docker('volume', 'ls', '--quiet', '--filter', label)).split('\n');
  return [...containers, ...volumes].filter((n) => n !== '');
}

describe('a drill compares symbolic links as links: their targets, never what they point to', () => {
  const sb = new Sandbox(uniqueProject('drlnk'));
  const scratch = `${sb.project}-drill_data`;
  let setDir = '';
  const check = () => drillCheck(selectStack(sb.stack, sb.stacksDir).model, setDir, { runner: new Runner({ printPlan: () => undefined }), identity: undefined });

  beforeAll(async () => {
    sb.writeStack(oneVolumeStack(sb.project));
    // A scratch volume as drill-restore leaves it, holding links of every kind (etcdir would show the helper's /etc if followed).
    await docker('volume', 'create', ...labelArgs({ 'stowage.project': `${sb.project}-drill`, 'stowage.drill': sb.project, 'stowage.volume': 'data' }), scratch);
    await inVolume(scratch, `set -e
cd /d
printf 'hello\\n' > file.txt
mkdir sub
ln -s /etc/hostname abs; ln -s /nonexistent dangling; ln -s ../../etc/x up; ln -s /etc etcdir; ln -s sub reldir
chown -h 1000:1000 abs etcdir`);
    // The set: the same tree archived with GNU tar on the host, as the contract's tar artifact.
    setDir = join(sb.setsDir, setDirName(new Date()));
    mkdirSync(setDir, { recursive: true });
    const mountpoint = (await docker('volume', 'inspect', '--format', '{{.Mountpoint}}', scratch)).trim();
    const artifact = join(setDir, 'data.tar.zst');
    await hostShell('tar -C "$1" -cf - . | zstd -q -1 > "$2"', mountpoint, artifact);
    writeManifestFile(setDir, {
      format: 1,
      project: sb.project,
      env: 'dev',
      created: new Date().toISOString(),
      artifacts: [{ volume: 'data', file: 'data.tar.zst', method: 'tar', format: 'tar+zstd', bytes: statSync(artifact).size, sha256: sha256Of(artifact) }],
    });
  });

  afterAll(async () => {
    await removeProject(`${sb.project}-drill`);
    await sb.cleanup();
  });

  it('finds the scratch volume identical to its artifact, links compared by target, owner and time', async () => {
    const result = await check();
    expect(result.volumes.map((v) => v.problems)).toEqual([[]]);
    expect(result.ok).toBe(true);
    // file.txt, sub, five links and the root: nothing of /etc or sub was walked through a link.
    expect(result.volumes[0]?.entries).toBe(8);
  });

  it('reports a link whose target changed, naming both targets', async () => {
    await inVolume(scratch, 'cd /d && rm etcdir && ln -s /etc/ssl etcdir && chown -h 1000:1000 etcdir && touch -h -r abs etcdir');
    const result = await check();
    expect(result.ok).toBe(false);
    expect(result.volumes[0]?.problems).toEqual([expect.stringMatching(/^etcdir: backup has symlink -> \/etc, 1000:1000 0777, mtime \d+; restored symlink -> \/etc\/ssl, 1000:1000 0777/)]);
  });
});

describe('restore-drill restores the latest backup into scratch volumes, checks them, and removes them', () => {
  const sb = new Sandbox(uniqueProject('drill'));
  const journalDir = join(sb.root, 'journal');
  const args = (...more: string[]): string[] => ['restore-drill', '--stack', sb.stack, '--stacks-dir', sb.stacksDir, '--to', sb.to, '--journal-dir', journalDir, ...more];
  let liveBefore: Record<string, string[]>;
  let startedBefore: Record<string, string>;

  beforeAll(async () => {
    sb.writeStack(`app: ${sb.project}
helper: { image: stowage-test/busybox:1 }
secrets:
  pg_password: {}
volumes:
  data:
    backup: { method: sqlite, databases: [app.sqlite] }
  files: {}
  db:
    backup: { method: pg_dump, service: postgres, database: app, user: app }
services:
  app:
    image: ${SQLITE_IMAGE}
    command: ${JSON.stringify(IDLE_COMMAND)}
    user: "1000:1000"
    mounts: [data:/data, files:/files]
  postgres:
    image: ${POSTGRES_IMAGE}
    environment:
      POSTGRES_USER: app
      POSTGRES_DB: app
      POSTGRES_PASSWORD: { secret: pg_password }
    mounts: [db:/var/lib/postgresql/data]
environments:
  dev: {}
`);
    for (const key of ['data', 'files', 'db']) await createVolume(sb.project, key);
    await inVolume(sb.volume('data'), 'chown 1000:1000 /d');
    await runService(sb.project, 'app', { image: SQLITE_IMAGE, mounts: [['data', '/data'], ['files', '/files']], user: '1000:1000' });
    await runService(sb.project, 'postgres', {
      image: POSTGRES_IMAGE,
      mounts: [['db', '/var/lib/postgresql/data']],
      env: { POSTGRES_USER: 'app', POSTGRES_DB: 'app', POSTGRES_PASSWORD: 'live-secret' },
      command: ['/usr/local/bin/docker-entrypoint.sh'],
    });
    await docker('exec', sb.container('app'), 'sh', '-c', `set -e
cd /data
sqlite3 app.sqlite "CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES ('one'), ('two'), ('three');"
printf 'KEY=1\\n' > secrets.env; chmod 0600 secrets.env
mkdir -p sub; printf 'hello\\n' > sub/a.txt; ln -s sub/a.txt link; ln sub/a.txt hard`);
    await inVolume(sb.volume('files'), 'printf "file\\n" > /d/f.txt; chown 1234:4321 /d/f.txt; chmod 0604 /d/f.txt');
    await waitFor('postgres', async () => (await exec('docker', ['exec', sb.container('postgres'), 'pg_isready', '-U', 'app'])).code === 0, 300, 200);
    await docker('exec', sb.container('postgres'), 'psql', '-U', 'app', '-d', 'app', '-c', 'CREATE TABLE people(id int); INSERT INTO people VALUES (1), (2);');
    const backup = await sb.cli('backup', ['--to', sb.to, '--json']);
    if (backup.code !== 0) throw new Error(show(backup));
    liveBefore = { data: await snapshot(sb.volume('data')), files: await snapshot(sb.volume('files')) };
    startedBefore = { app: (await containerState(sb.container('app'))).startedAt, postgres: (await containerState(sb.container('postgres'))).startedAt };
  });

  afterAll(async () => {
    await removeProject(`${sb.project}-drill`);
    await sb.cleanup();
  });

  it('passes, compares every volume, and leaves the live stack exactly as it was', async () => {
    const r = await runbook(args());
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/PASS {2}data +sqlite +\d+ entries +\d+ files .* identical: type, owner, mode, size, sha256 and time of every entry/);
    expect(r.stdout).toMatch(/PASS {2}files +tar .* identical/);
    expect(r.stdout).toMatch(/PASS {2}db +pg_dump .* restored and answering: 1 table\(s\)/);
    expect(r.stdout).toContain('PASS: every restored volume matches its backup');
    expect(await snapshot(sb.volume('data'))).toEqual(liveBefore['data']);
    expect(await snapshot(sb.volume('files'))).toEqual(liveBefore['files']);
    for (const service of ['app', 'postgres']) {
      const state = await containerState(sb.container(service));
      expect(state.running, `${service} still runs`).toBe(true);
      expect(state.startedAt, `${service} was not restarted`).toBe(startedBefore[service]);
    }
    expect((await docker('exec', sb.container('postgres'), 'psql', '-U', 'app', '-d', 'app', '-Atc', 'SELECT count(*) FROM people')).trim()).toBe('2');
  });

  it('removes its scratch volumes and containers', async () => {
    expect(await drillLeftovers(sb.project)).toEqual([]);
    for (const key of ['data', 'files', 'db']) expect(await volumeExists(sb.volume(key))).toBe(true);
  });

  it('journals the run', () => {
    const dir = join(journalDir, sb.project);
    const [name] = readdirSync(dir).filter((n) => n.startsWith('restore-drill-'));
    const { lines } = readJournal(join(dir, name ?? 'missing'));
    expect(lines.flatMap((l) => (l.type === 'step' && l.status === 'ok' ? [l.id] : []))).toEqual(['verify', 'restore', 'compare', 'remove']);
    expect(lines[lines.length - 1]).toMatchObject({ type: 'end', status: 'ok', exitCode: 0 });
  });

  it('refuses to touch a volume with a scratch name that is not a drill volume', async () => {
    const foreign = `${sb.project}-drill_data`;
    await docker('volume', 'create', ...labelArgs({ 'stowage.project': `${sb.project}-drill` }), foreign);
    await inVolume(foreign, 'printf "precious\\n" > /d/precious.txt');
    const r = await runbook(args());
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toContain(`volume ${foreign} exists and is not a scratch volume of a ${sb.project} drill`);
    expect((await inVolume(foreign, 'cat /d/precious.txt')).trim()).toBe('precious');
    await docker('volume', 'rm', foreign);
  });
});

describe('safe-update rolls a failed update back to the previous images and the backed-up data', () => {
  const project = uniqueProject('upd');
  const sb = new Sandbox(project);
  const image = `${project}/app:current`;
  const composeDir = join(sb.root, 'compose');
  const runbooksDir = join(sb.root, 'runbooks');
  let v1 = '';
  let v2 = '';
  let compose: string[] = [];

  const files = (): string[] => ['-f', join(composeDir, `${project}.yml`), '-f', join(composeDir, `${project}.dev.yml`)];

  beforeAll(async () => {
    await docker('tag', SQLITE_IMAGE, image);
    v1 = (await docker('image', 'inspect', '--format', '{{.Id}}', image)).trim();
    sb.writeStack(`app: ${project}
helper: { image: stowage-test/busybox:1 }
volumes:
  data:
    backup: { method: sqlite, databases: [app.sqlite] }
services:
  app:
    image: ${image}
    command: ${JSON.stringify(IDLE_COMMAND)}
    user: "1000:1000"
    mounts: [data:/data]
    healthcheck: { test: [CMD, test, -f, /data/healthy], interval: 1s, timeout: 1s, retries: 1 }
environments:
  dev: {}
`);
    const rendered = await exec(process.execPath, [join(repoRoot, 'scripts', 'compose.mjs'), '--stacks-dir', sb.stacksDir, '--out', composeDir]);
    if (rendered.code !== 0) throw new Error(show(rendered));
    compose = (await exec('docker', ['compose', 'version'])).code === 0 ? ['docker', 'compose'] : ['docker-compose'];
    // The shipped runbook, with waits short enough for a test.
    mkdirSync(runbooksDir);
    writeFileSync(join(runbooksDir, 'safe-update.yaml'), readFileSync(join(repoRoot, 'runbooks', 'safe-update.yaml'), 'utf8').replace(/attempts: 60, delaySeconds: 2/g, 'attempts: 10, delaySeconds: 1'));
    await createVolume(project, 'data');
    await inVolume(sb.volume('data'), 'chown 1000:1000 /d');
    const up = await exec(compose[0] ?? 'docker-compose', [...compose.slice(1), '-p', project, ...files(), 'up', '-d']);
    if (up.code !== 0) throw new Error(show(up));
    await docker('exec', sb.container('app'), 'sh', '-c', `set -e
cd /data
sqlite3 app.sqlite "CREATE TABLE t(x); INSERT INTO t VALUES (1), (2), (3);"
printf 'version 1 secrets\\n' > secrets.env
touch healthy`);
    await waitFor('the first version to be healthy', async () => (await docker('inspect', '--format', '{{.State.Health.Status}}', sb.container('app'))).trim() === 'healthy', 200, 200);
    // The "new version": it damages the data when it starts (a bad migration) and fails its health check.
    const context = join(sb.root, 'v2');
    mkdirSync(context);
    writeFileSync(join(context, 'start'), '#!/bin/sh\nrm -f /data/healthy\nprintf "damaged by version 2\\n" > /data/secrets.env\nexec "$@"\n');
    chmodSync(join(context, 'start'), 0o755);
    writeFileSync(join(context, 'Dockerfile'), `FROM ${image}\nCOPY start /usr/local/bin/start\nENTRYPOINT ["/usr/local/bin/start"]\n`);
    const built = await exec('docker', ['build', '--quiet', '--tag', image, context], { env: { DOCKER_BUILDKIT: '0' } });
    if (built.code !== 0) throw new Error(show(built));
    v2 = built.stdout.trim();
  });

  afterAll(async () => {
    await exec(compose[0] ?? 'docker-compose', [...compose.slice(1), '-p', project, ...files(), 'down', '--volumes']);
    await exec('docker', ['image', 'rm', image, `stowage-rollback/${project}-app:previous`]);
    if (v2 !== '') await exec('docker', ['image', 'rm', v2]);
    await sb.cleanup();
  });

  it('fails at the health check, restores the data and runs the previous image again', async () => {
    const r = await runbook(
      ['safe-update', '--stack', sb.stack, '--stacks-dir', sb.stacksDir, '--to', sb.to, '--compose-dir', composeDir, '--runbooks-dir', runbooksDir, '--journal-dir', join(sb.root, 'journal'), '--var', 'update=none', '--yes', '--json'],
      { STOWAGE_COMPOSE: compose.join(' ') },
    );
    expect(r.code, show(r)).toBe(1);
    const doc: unknown = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ status: 'rolled-back', failure: { step: 'wait-healthy' } });
    expect(r.stdout).toContain('"next": "rolled back; fix the cause, then run it again');
    const state = (await docker('inspect', '--format', '{{.Image}} {{.State.Health.Status}}', sb.container('app'))).trim();
    expect(state).toBe(`${v1} healthy`);
    expect((await docker('exec', sb.container('app'), 'cat', '/data/secrets.env')).trim()).toBe('version 1 secrets');
    expect((await docker('exec', sb.container('app'), 'sqlite3', '/data/app.sqlite', 'SELECT count(*) FROM t')).trim()).toBe('3');
  });
});
