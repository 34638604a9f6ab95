// The SSH connection to a remote engine goes away in the middle of a backup and
// of a restore (sshd stopped, every connection dropped; the engine itself keeps
// running), and the server presents a host key that does not match. Each run
// fails (exit 1) leaving nothing that looks usable, and once the engine is
// reachable again the next run finds the lock's journal on the engine and
// starts the writers the broken run had stopped.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX, IDLE_COMMAND, Sandbox, countingZstd, fakeZstd, labelArgs, oneVolumeStack, parseJsonDocument, show, uniqueProject, waitFor, within, type RunResult } from '../helpers/engine.js';
import { startRemoteEngine, type RemoteEngine } from '../helpers/remote-engine.js';

const sb = new Sandbox(uniqueProject('rf'));
const app = sb.container('app');
const volume = sb.volume('data');
let remote: RemoteEngine;
let setPath: string;
let atBackup: string;

const SNAPSHOT = 'cd /d && find . | sort | while IFS= read -r f; do stat -c "%n %u:%g %a %s %Y" "$f"; [ -f "$f" ] && sha256sum < "$f"; done';
const snapshot = (): Promise<string> => remote.docker('run', '--rm', '--network', 'none', '-v', `${volume}:/d:ro`, BUSYBOX, 'sh', '-c', SNAPSHOT);
const running = async (): Promise<boolean> => (await remote.docker('inspect', '--format', '{{.State.Running}}', app)).trim() === 'true';
const startedAt = async (): Promise<string> => (await remote.docker('inspect', '--format', '{{.State.StartedAt}}', app)).trim();
const lockExists = async (): Promise<boolean> => (await remote.tryDocker('inspect', `${sb.project}-stowage-lock`)).code === 0;
const env = (extraPath = ''): Record<string, string> => ({ ...remote.env, PATH: `${extraPath === '' ? '' : `${extraPath}:`}${remote.env['PATH'] ?? ''}` });
const cli = (script: 'backup' | 'verify' | 'restore', args: string[], extraPath = ''): Promise<RunResult> => sb.cli(script, args, { env: env(extraPath) });

beforeAll(async () => {
  remote = await startRemoteEngine([BUSYBOX]);
  sb.writeStack(oneVolumeStack(sb.project).replace('  dev: {}\n', `  dev:\n    engine: ${remote.url}\n`));
  await remote.docker('volume', 'create', ...labelArgs({ 'stowage.project': sb.project, 'stowage.env': 'dev', 'stowage.volume': 'data' }), volume);
  await remote.docker('run', '--rm', '--network', 'none', '-v', `${volume}:/d`, BUSYBOX, 'sh', '-c', 'set -e; cd /d; head -c 30000000 /dev/urandom > big.bin; mkdir d; i=0; while [ $i -lt 100 ]; do echo $i > d/f$i; i=$((i+1)); done');
  await remote.docker('run', '-d', '--name', app, '--network', 'none', ...labelArgs({ 'stowage.project': sb.project, 'stowage.env': 'dev', 'stowage.service': 'app' }), '-v', `${volume}:/data`, BUSYBOX, ...IDLE_COMMAND);
  const r = await cli('backup', ['--to', sb.to, '--json']);
  expect(r.code, show(r)).toBe(0);
  setPath = parseJsonDocument<{ path: string }>(r.stdout).path;
  atBackup = await snapshot();
}, 600_000);

afterAll(async () => {
  await remote?.destroy();
  await sb.cleanup();
});

describe('the SSH connection drops during a backup', () => {
  it('the backup fails (exit 1) and leaves no set', async () => {
    const seam = fakeZstd(join(sb.root, 'seam-backup'), 'gate');
    const before = sb.sets();
    const run = sb.spawnCli('backup', ['--to', sb.to], { env: env(seam.binDir), direct: true });
    await waitFor('the compressor to start', () => existsSync(seam.started));
    await waitFor('the writer to be stopped', async () => !(await running()));
    await remote.stopSsh();
    seam.open();
    const result = await within(run.result, 180_000);
    expect(result?.code, result === undefined ? 'hung' : show(result)).toBe(1);
    expect(result?.stderr).toContain(remote.url);
    expect(sb.sets().filter((s) => !before.includes(s))).toEqual([]);
  });

  it('the writer stays stopped while the engine cannot be reached; the lock and its journal stay on the engine', async () => {
    await remote.startSsh();
    expect(await running()).toBe(false);
    expect(await lockExists()).toBe(true);
  });

  it('the next run finds the journal, starts the writer again and backs up', async () => {
    const r = await cli('backup', ['--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ recovered?: string[] }>(r.stdout).recovered?.join('\n')).toContain(`started ${app} again`);
    expect(await running()).toBe(true);
    expect(await lockExists()).toBe(false);
  });
});

describe('the SSH connection drops during a restore', () => {
  let before: string;

  it('the restore fails (exit 1) and the live content is untouched', async () => {
    await remote.docker('exec', app, 'sh', '-c', 'rm -f /data/d/f1; printf changed > /data/d/f2');
    before = await snapshot();
    expect(before).not.toEqual(atBackup);
    // The restore verifies while it stages, in one decode: the first zstd is the stream itself.
    const seam = countingZstd(join(sb.root, 'seam-restore'), 0);
    const run = sb.spawnCli('restore', ['--backup', setPath, '--yes'], { env: env(seam.binDir), direct: true });
    await waitFor('the restore to stream', () => existsSync(seam.gated));
    await remote.stopSsh();
    seam.open();
    const result = await within(run.result, 180_000);
    expect(result?.code, result === undefined ? 'hung' : show(result)).toBe(1);
    await remote.startSsh();
    expect(await running()).toBe(false);
  });

  it('the next run removes what the restore staged and starts the writer; the content is exactly as before', async () => {
    const r = await cli('backup', ['--to', sb.to]);
    expect(r.code, show(r)).toBe(0);
    expect(await snapshot()).toEqual(before);
    expect(await running()).toBe(true);
  });

  it('a restore over a working connection then gives the set back exactly', async () => {
    const r = await cli('restore', ['--backup', setPath, '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect(await snapshot()).toEqual(atBackup);
    expect(await running()).toBe(true);
  });
});

describe('the server presents a host key that does not match', () => {
  afterAll(() => remote.trueHostKey());

  it('restore fails (exit 1) before anything changes, and says why', async () => {
    await remote.docker('exec', app, 'sh', '-c', 'printf changed-again > /data/d/f3');
    const content = await snapshot();
    const started = await startedAt();
    await remote.impostorHostKey();
    const r = await cli('restore', ['--backup', setPath, '--yes']);
    remote.trueHostKey();
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain('does not match the one in known_hosts: nothing was changed');
    expect(await snapshot()).toEqual(content);
    expect(await startedAt()).toBe(started);
    expect(await running()).toBe(true);
    expect(await lockExists()).toBe(false);
  });
});

describe('a server that forbids forwarding a socket to its engine', () => {
  afterAll(() => remote.socketForwarding(true));

  it('is reached through the docker CLI\'s own ssh:// transport instead, and says so', async () => {
    await remote.socketForwarding(false);
    const r = await cli('backup', ['--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    const doc = parseJsonDocument<{ engine: { transport: string; transportNote: string } }>(r.stdout);
    expect(doc.engine.transport).toBe('docker');
    expect(doc.engine.transportNote).toContain('does not forward');
    expect(await running()).toBe(true);
  });
});
