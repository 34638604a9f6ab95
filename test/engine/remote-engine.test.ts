// A stack whose environment runs on another host, reached over SSH: the whole
// cycle (prepare the host directories, deploy with Compose, drift, disk usage,
// back up, verify, clean-start, restore, inspect, secrets, a restore drill)
// goes to that engine and to that host's directories, never to this machine's.
//
// To prove it, this machine holds decoys under the same names: volumes and a
// running container on the local engine, and files in the directories the
// stack names (which exist on the remote host only in its own mount
// namespace). Every step checks that the decoys are exactly as they were.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BUSYBOX, IDLE_COMMAND, SQLITE_IMAGE, Sandbox, docker, exec, hostShell, labelArgs, parseJsonDocument, readManifestFile, show, uniqueProject, type RunResult,
} from '../helpers/engine.js';
import { startRemoteEngine, type RemoteEngine } from '../helpers/remote-engine.js';
import { runScript } from '../helpers/run.js';

const sb = new Sandbox(uniqueProject('rc'));
const project = sb.project;
let remote: RemoteEngine;
let filesDir: string;
let uploadsDir: string;
let set: string;

/** Runs a script the way an operator's machine would: ssh configured, DOCKER_HOST not set. */
function cli(script: string, args: string[], env: Record<string, string | undefined> = {}): Promise<RunResult> {
  return runScript(script, [...args, '--stacks-dir', sb.stacksDir], { env: { ...remote.env, NO_COLOR: '1', DOCKER_HOST: undefined, DOCKER_CONTEXT: undefined, ...env }, hangAfterMs: 300_000 });
}

const onRemote = (volume: string, script: string): Promise<string> => remote.docker('run', '--rm', '--network', 'none', '-v', `${volume}:/d`, BUSYBOX, 'sh', '-c', script);
const onLocal = (volume: string, script: string): Promise<string> => docker('run', '--rm', '--network', 'none', '-v', `${volume}:/d`, BUSYBOX, 'sh', '-c', script);

// ---------------------------------------------------------------- the decoys

const DECOY = 'DECOY on the local engine / this machine\n';
let decoyContainerId: string;

async function plantDecoys(): Promise<void> {
  for (const key of ['data', 'db']) {
    await docker('volume', 'create', ...labelArgs({ 'stowage.project': project, 'stowage.env': 'dev', 'stowage.volume': key }), sb.volume(key));
    await onLocal(sb.volume(key), `printf '${DECOY}' > /d/decoy.txt; printf 'JWT_SECRET=decoy\\n' > /d/secrets.env`);
  }
  decoyContainerId = (
    await docker('run', '-d', '--name', sb.container('app'), '--network', 'none', ...labelArgs({ 'stowage.project': project, 'stowage.env': 'dev', 'stowage.service': 'app' }), '-v', `${sb.volume('data')}:/data`, BUSYBOX, ...IDLE_COMMAND)
  ).trim();
  for (const dir of [filesDir, uploadsDir]) {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'decoy.txt'), DECOY);
  }
}

/** Everything planted on this machine, as it is now. */
async function decoys(): Promise<Record<string, string>> {
  const local: Record<string, string> = {};
  for (const key of ['data', 'db']) local[key] = await onLocal(sb.volume(key), 'cd /d && ls -A | sort && cat decoy.txt secrets.env');
  local['container'] = (await docker('inspect', '--format', '{{.Id}} {{.State.Running}} {{.State.StartedAt}}', sb.container('app'))).trim();
  local['volumes'] = (await docker('volume', 'ls', '--quiet', '--filter', `label=stowage.project=${project}`)).trim();
  local['containers'] = (await docker('ps', '--all', '--format', '{{.Names}}', '--filter', `label=stowage.project=${project}`)).trim();
  for (const [name, dir] of [['files', filesDir], ['uploads', uploadsDir]] as const) local[name] = `${readdirSync(dir).sort().join(',')}:${readFileSync(join(dir, 'decoy.txt'), 'utf8')}`;
  return local;
}

let planted: Record<string, string>;

async function expectDecoysUntouched(): Promise<void> {
  expect(await decoys()).toEqual(planted);
}

// ---------------------------------------------------------------- the stack

function stackYaml(): string {
  return `app: ${project}
helper: { image: ${BUSYBOX} }
volumes:
  data:
    owner: "1000:1000"
    mode: "0750"
    files:
      - { path: secrets.env, mode: "0600", owner: "1000:1000", secret: true }
  db:
    backup: { method: sqlite, databases: [app.db] }
  files: { owner: "1000:1000", mode: "0750" }
  uploads: { owner: "1000:1000", mode: "0755" }
services:
  app:
    image: ${BUSYBOX}
    command: ${JSON.stringify(IDLE_COMMAND)}
    mounts: [data:/data, files:/files, uploads:/uploads]
  db:
    image: ${SQLITE_IMAGE}
    command: ${JSON.stringify(IDLE_COMMAND)}
    mounts: [db:/db]
environments:
  dev:
    engine: ${remote.url}
    volumes:
      files: { host: ${filesDir} }
      uploads: { bind: ${uploadsDir} }
`;
}

const remoteContent = async (): Promise<Record<string, string>> => ({
  data: await onRemote(sb.volume('data'), 'cd /d && ls -A | sort && cat secrets.env notes.txt && stat -c "%a %u:%g" . secrets.env'),
  db: await remote.docker('run', '--rm', '--network', 'none', '-v', `${sb.volume('db')}:/db`, SQLITE_IMAGE, 'sqlite3', '-readonly', '/db/app.db', 'SELECT count(*), sum(length(v)) FROM t;'),
  files: await remote.onHost('sh', '-c', 'cd "$1" && ls -A | sort && cat report.txt', 'sh', filesDir),
  uploads: await remote.onHost('sh', '-c', 'cd "$1" && ls -A | sort && cat photo.txt', 'sh', uploadsDir),
});

let written: Record<string, string>;

beforeAll(async () => {
  remote = await startRemoteEngine([BUSYBOX, SQLITE_IMAGE]);
  filesDir = join(remote.hostRoot, project, 'files');
  uploadsDir = join(remote.hostRoot, project, 'uploads');
  sb.writeStack(stackYaml());
  await plantDecoys();
  planted = await decoys();
}, 600_000);

afterAll(async () => {
  await remote?.destroy();
  await sb.cleanup();
});

describe('a stack on an engine reached over SSH, with decoys of the same names on this machine', () => {
  it('fix-permissions creates the host directories on the remote host through helpers, not here', async () => {
    const r = await cli('fix-permissions', ['--stack', sb.stack, '--json']);
    expect(r.code, show(r)).toBe(0);
    const doc = parseJsonDocument<{ engine: { url: string; source: string }; volumes: Array<{ volume: string; createdHostPath: string | null }> }>(r.stdout);
    expect(doc.engine).toMatchObject({ url: remote.url, source: 'stack' });
    expect(doc.volumes.filter((v) => v.createdHostPath !== null).map((v) => v.volume).sort()).toEqual(['files', 'uploads']);
    expect((await remote.onHost('stat', '-c', '%a %u:%g', filesDir, uploadsDir)).trim().split('\n')).toEqual(['750 1000:1000', '755 1000:1000']);
    await expectDecoysUntouched();
  });

  it('docker-compose deploys the generated Compose file to the remote engine with DOCKER_HOST=ssh://...', async () => {
    const out = join(sb.root, 'compose');
    const rendered = await cli('compose', ['--stack', sb.stack, '--out', out]);
    expect(rendered.code, show(rendered)).toBe(0);
    const up = await exec('docker-compose', ['-p', project, '-f', join(out, `${project}.yml`), '-f', join(out, `${project}.dev.yml`), 'up', '-d'], {
      env: { ...remote.env, DOCKER_HOST: remote.url, DOCKER_CONTEXT: undefined },
      hangAfterMs: 300_000,
    });
    expect(up.code, show(up)).toBe(0);
    expect((await remote.docker('ps', '--format', '{{.Names}}')).split('\n').filter((n) => n !== '').sort()).toEqual([sb.container('app'), sb.container('db')]);
    await expectDecoysUntouched();
  });

  it('holds data written on the remote host', async () => {
    const hex = 'head -c 32 /dev/urandom | od -An -tx1 | tr -d " \\n"';
    await remote.docker('exec', sb.container('app'), 'sh', '-c', `printf "JWT_SECRET=%s\\nENCRYPTION_KEY=%s\\n" "$(${hex})" "$(${hex})" > /data/secrets.env && echo remote notes > /data/notes.txt && echo remote report > /files/report.txt && echo remote photo > /uploads/photo.txt`);
    await remote.docker('exec', sb.container('db'), 'sqlite3', '/db/app.db', 'PRAGMA journal_mode=WAL; CREATE TABLE t(v TEXT); INSERT INTO t(v) WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x+1 FROM c WHERE x<500) SELECT hex(randomblob(40)) FROM c;');
    written = await remoteContent();
    expect(written['data']).toContain('remote notes');
    expect(written['db']?.trim()).toBe('500|40000');
  });

  it('fix-permissions enforces owners and modes on the remote volumes; --check then finds nothing', async () => {
    const check = await cli('fix-permissions', ['--stack', sb.stack, '--check']);
    expect(check.code, show(check)).toBe(3);
    expect(check.stdout).toContain('owner 0:0 -> 1000:1000  notes.txt');
    const fix = await cli('fix-permissions', ['--stack', sb.stack]);
    expect(fix.code, show(fix)).toBe(0);
    const again = await cli('fix-permissions', ['--stack', sb.stack, '--check']);
    expect(again.code, show(again)).toBe(0);
    expect((await onRemote(sb.volume('data'), 'stat -c "%a %u:%g" /d /d/secrets.env')).trim().split('\n')).toEqual(['750 1000:1000', '600 1000:1000']);
    written = await remoteContent();
    await expectDecoysUntouched();
  });

  it('drift --stack compares the remote engine: clean, though the local decoy container differs', async () => {
    const r = await cli('drift', ['--stack', sb.stack, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ live: { clean: boolean }; engine: { url: string } }>(r.stdout)).toMatchObject({ live: { clean: true }, engine: { url: remote.url } });
  });

  it('disk-usage measures the volumes and filesystems of the remote host', async () => {
    const r = await cli('disk-usage', ['--stack', sb.stack, '--json', '--history', join(sb.root, 'history.json')]);
    expect(r.code, show(r)).toBe(0);
    const doc = parseJsonDocument<{ volumes: Array<{ volume: string; status: string; bytes: number }>; filesystems: Array<{ path: string; totalBytes: number }> }>(r.stdout);
    expect(doc.volumes.map((v) => [v.volume, v.status])).toEqual([['data', 'ok'], ['db', 'ok'], ['files', 'ok'], ['uploads', 'ok']]);
    // The host directories are on the remote host's own 1 GiB tmpfs, which this machine does not have at that path.
    const hostFs = doc.filesystems.find((f) => f.path === filesDir || f.path === uploadsDir);
    expect(hostFs?.totalBytes, JSON.stringify(doc.filesystems)).toBe(1024 ** 3);
  });

  it('backup --dry-run names the engine first and sets DOCKER_HOST, so the pasted plan goes there too', async () => {
    const r = await cli('backup', ['--stack', sb.stack, '--to', sb.to, '--dry-run']);
    expect(r.code, show(r)).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe(`# engine: ${remote.url} (${join(sb.stacksDir, `${project}.yaml`)} environments.dev.engine)`);
    expect(lines.slice(1, 3)).toEqual(['unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_TLS', `export DOCKER_HOST=${remote.url}`]);
    expect(sb.sets()).toEqual([]);
  });

  it('backup streams every volume from the remote engine into the local --to', async () => {
    const r = await cli('backup', ['--stack', sb.stack, '--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    const doc = parseJsonDocument<{ path: string; engine: { url: string; transport: string }; artifacts: Array<{ volume: string; file: string }> }>(r.stdout);
    set = doc.path;
    // One SSH connection of its own, forwarding the engine's socket.
    expect(doc.engine).toMatchObject({ url: remote.url, transport: 'ssh-tunnel' });
    expect(doc.artifacts.map((a) => a.volume).sort()).toEqual(['data', 'db', 'files', 'uploads']);
    expect(readManifestFile(set).project).toBe(project);
    // The artifacts hold the remote host's content, not the decoys, readable with stock tools.
    const data = doc.artifacts.find((a) => a.volume === 'data')?.file ?? '';
    expect(await hostShell('zstd -dc "$1" | tar -xOf - ./notes.txt', join(set, data))).toBe('remote notes\n');
    const uploads = doc.artifacts.find((a) => a.volume === 'uploads')?.file ?? '';
    expect((await hostShell('zstd -dc "$1" | tar -tf -', join(set, uploads))).split('\n')).not.toContain('./decoy.txt');
    expect(await remote.docker('ps', '--format', '{{.Names}}')).toContain(sb.container('app'));
    await expectDecoysUntouched();
  });

  it('verify reads the set (the database is checked in a helper on the remote engine)', async () => {
    const r = await cli('verify', ['--stack', sb.stack, '--backup', set, '--json']);
    expect(r.code, show(r)).toBe(0);
  });

  it('inspect lists and reads the remote volume', async () => {
    const ls = await cli('inspect', ['--stack', sb.stack, '--volume', 'data', 'ls']);
    expect(ls.code, show(ls)).toBe(0);
    expect(ls.stdout).toContain('notes.txt');
    expect(ls.stdout).not.toContain('decoy.txt');
    const cat = await cli('inspect', ['--stack', sb.stack, '--volume', 'data', 'cat', 'notes.txt']);
    expect(cat.stdout).toBe('remote notes\n');
  });

  it('secrets check reads the remote secrets.env (the decoy one holds a weak JWT_SECRET and would fail)', async () => {
    const r = await cli('secrets', ['check', '--stack', sb.stack, '--json']);
    expect(r.code, show(r)).toBe(0);
    const doc = parseJsonDocument<{ ok: boolean; mode: string; keys: Array<{ name: string; ok: boolean }> }>(r.stdout);
    expect([doc.ok, doc.mode, doc.keys.map((k) => [k.name, k.ok])]).toEqual([true, '0600', [['JWT_SECRET', true], ['ENCRYPTION_KEY', true]]]);
  });

  it('clean-start backs up and verifies, then removes the stack on the remote engine and empties its remote directories', async () => {
    const r = await cli('clean-start', ['--stack', sb.stack, '--to', sb.to, '--yes', '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(await remote.docker('ps', '--all', '--format', '{{.Names}}', '--filter', `label=stowage.project=${project}`)).toBe('');
    expect(await remote.docker('volume', 'ls', '--quiet', '--filter', `label=stowage.project=${project}`)).toBe('');
    expect((await remote.onHost('ls', '-A', filesDir, uploadsDir)).split('\n').filter((l) => l !== '' && !l.endsWith(':'))).toEqual([]);
    await expectDecoysUntouched();
  });

  it('restore streams the set back into the remote engine, making the host directories of a fresh server there', async () => {
    // As on a reinstalled server: the host directories are gone too.
    await remote.onHost('rm', '-rf', join(remote.hostRoot, project));
    const r = await cli('restore', ['--stack', sb.stack, '--backup', set, '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect((await remote.onHost('stat', '-c', '%a %u:%g', filesDir, uploadsDir)).trim().split('\n')).toEqual(['750 1000:1000', '755 1000:1000']);
    const out = join(sb.root, 'compose');
    const up = await exec('docker-compose', ['-p', project, '-f', join(out, `${project}.yml`), '-f', join(out, `${project}.dev.yml`), 'up', '-d'], {
      env: { ...remote.env, DOCKER_HOST: remote.url, DOCKER_CONTEXT: undefined },
      hangAfterMs: 300_000,
    });
    expect(up.code, show(up)).toBe(0);
    expect(await remoteContent()).toEqual(written);
    await expectDecoysUntouched();
  });

  it('the restore-drill runbook restores into scratch volumes on the remote engine and compares', async () => {
    const r = await cli('runbook', ['restore-drill', '--stack', sb.stack, '--to', sb.to, '--var', `backup=${set}`, '--yes', '--journal-dir', join(sb.root, 'journal')]);
    expect(r.code, show(r)).toBe(0);
    expect(await remote.docker('volume', 'ls', '--quiet', '--filter', `label=stowage.drill=${project}`)).toBe('');
    await expectDecoysUntouched();
  });

  it('the missing-volumes runbook recreates a volume removed on the remote engine and starts the stack there with Compose', async () => {
    await remote.docker('rm', '--force', sb.container('app'));
    await remote.docker('volume', 'rm', sb.volume('data'));
    const r = await cli('runbook', ['missing-volumes', '--stack', sb.stack, '--to', sb.to, '--var', `backup=${set}`, '--yes', '--journal-dir', join(sb.root, 'journal'), '--compose-dir', join(sb.root, 'compose')], {
      STOWAGE_COMPOSE: 'docker-compose',
    });
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain(`data (${sb.volume('data')}) is missing: it will be restored`);
    expect(await remoteContent()).toEqual(written);
    expect((await remote.docker('inspect', '--format', '{{.State.Running}}', sb.container('app'))).trim()).toBe('true');
    await expectDecoysUntouched();
  });

  it('status reports the remote engine and its containers', async () => {
    const r = await cli('status', ['--stack', sb.stack, '--to', sb.to, '--json', '--state-dir', join(sb.root, 'state')]);
    const doc = parseJsonDocument<{ stacks: Array<{ engine: { url: string }; services: Array<{ container: string; state: string }>; errors: string[] }> }>(r.stdout);
    expect(doc.stacks[0]?.engine.url).toBe(remote.url);
    expect(doc.stacks[0]?.services.map((s) => [s.container, s.state])).toEqual([[sb.container('app'), 'running'], [sb.container('db'), 'running']]);
    expect(doc.stacks[0]?.errors).toEqual([]);
  });

  it('the local decoy container was never stopped, started or replaced', async () => {
    expect((await docker('inspect', '--format', '{{.Id}}', sb.container('app'))).trim()).toBe(decoyContainerId);
    expect(existsSync(join(filesDir, 'decoy.txt'))).toBe(true);
    await expectDecoysUntouched();
  });
});

describe('--all forms, each environment on its own engine, one of them unreachable', () => {
  let allDir: string;
  let composeDir: string;
  const deadPort = 1;
  const dead = `ssh://root@127.0.0.1:${deadPort}`;
  const other = `${project}x`;

  const all = (script: string, args: string[]): Promise<RunResult> =>
    runScript(script, [...args, '--stacks-dir', allDir, '--json'], { env: { ...remote.env, NO_COLOR: '1', DOCKER_HOST: undefined, DOCKER_CONTEXT: undefined }, hangAfterMs: 300_000 });

  beforeAll(async () => {
    allDir = join(sb.root, 'all-stacks');
    composeDir = join(sb.root, 'all-compose');
    mkdirSync(allDir);
    writeFileSync(join(allDir, `${project}.yaml`), stackYaml());
    writeFileSync(join(allDir, `${other}.yaml`), `app: ${other}\nvolumes:\n  data: {}\nservices:\n  app:\n    image: ${BUSYBOX}\n    mounts: [data:/data]\nenvironments:\n  dev:\n    engine: ${dead}\n`);
    const rendered = await runScript('compose', ['--stacks-dir', allDir, '--out', composeDir]);
    expect(rendered.code, show(rendered)).toBe(0);
  });

  it('status --all checks the reachable environment and names the engine that did not answer: exit 1', async () => {
    const r = await all('status', ['--all', '--to', sb.to, '--state-dir', join(sb.root, 'state')]);
    expect(r.code, show(r)).toBe(1);
    const doc = parseJsonDocument<{ stacks: Array<{ stack: string; engine: { url: string }; services: Array<{ state: string }>; errors: string[] }> }>(r.stdout);
    const mine = doc.stacks.find((st) => st.stack === sb.stack);
    const theirs = doc.stacks.find((st) => st.stack === `${other}-dev`);
    expect([mine?.engine.url, mine?.errors, mine?.services.map((x) => x.state)]).toEqual([remote.url, [], ['running', 'running']]);
    expect(theirs?.engine.url).toBe(dead);
    expect(theirs?.errors).toHaveLength(1);
    expect(theirs?.errors[0]).toContain(`cannot reach the Docker engine ${dead}`);
  });

  it('disk-usage --all measures the reachable environment on its engine and names the other: exit 1', async () => {
    const r = await all('disk-usage', ['--all', '--dry-run']);
    expect(r.code, show(r)).toBe(1);
    const doc = parseJsonDocument<{ stacks: Array<{ stack: string; state: string; engine: { url: string }; report?: { volumes: Array<{ status: string }> }; error?: string }> }>(r.stdout);
    expect(doc.stacks.map((st) => [st.stack, st.state, st.engine.url])).toEqual([
      [sb.stack, 'measured', remote.url],
      [`${other}-dev`, 'unreachable', dead],
    ]);
    expect(doc.stacks[0]?.report?.volumes.map((v) => v.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    expect(doc.stacks[1]?.error).toContain(dead);
  });

  it('backup --all backs up the reachable environment through its engine and names the other: exit 1', async () => {
    const r = await all('backup', ['--all', '--to', join(sb.root, 'all-backups')]);
    expect(r.code, show(r)).toBe(1);
    const doc = parseJsonDocument<{ stacks: Array<{ stack: string; state: string; engine: { url: string }; path?: string; artifacts?: Array<{ volume: string }>; error?: string }> }>(r.stdout);
    expect(doc.stacks.map((st) => [st.stack, st.state, st.engine.url])).toEqual([
      [sb.stack, 'backed-up', remote.url],
      [`${other}-dev`, 'unreachable', dead],
    ]);
    expect(doc.stacks[0]?.artifacts?.length).toBeGreaterThan(0);
    expect(existsSync(join(doc.stacks[0]?.path ?? '/nonexistent', 'manifest.json'))).toBe(true);
    expect(doc.stacks[1]?.error).toContain(dead);
    // The writers it stopped on the remote engine run again.
    expect((await remote.docker('ps', '--all', '--quiet', '--filter', `label=stowage.project=${project}`, '--filter', 'status=exited')).trim()).toBe('');
  });

  it('drift --all --live compares the reachable environment on its engine and names the other: exit 1', async () => {
    const r = await all('drift', ['--all', '--live', '--compose-dir', composeDir]);
    expect(r.code, show(r)).toBe(1);
    const doc = parseJsonDocument<{ all: { passed: boolean }; live: Array<{ stack: string; state: string; engine: { url: string } }> }>(r.stdout);
    expect(doc.all.passed).toBe(true);
    expect(doc.live.map((l) => [l.stack, l.state, l.engine.url])).toEqual([
      [sb.stack, 'clean', remote.url],
      [`${other}-dev`, 'unreachable', dead],
    ]);
  });
});
