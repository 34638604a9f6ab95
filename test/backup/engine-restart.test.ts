// The engine restarts in the middle of a backup and of a restore (an upgrade,
// a crash, a reboot of the daemon). These tests run against an engine of their
// own, which they stop and start, so the shared engine is never disturbed.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPrivateEngine, type PrivateEngine } from '../helpers/private-engine.js';
import { BUSYBOX, IDLE_COMMAND, Sandbox, countingZstd, exactTree, fakeZstd, hostShell, labelArgs, oneVolumeStack, parseJsonDocument, show, uniqueProject, waitFor, within, type RunResult } from '../helpers/engine.js';

const sb = new Sandbox(uniqueProject('er'));
const app = sb.container('app');
let engine: PrivateEngine;
let mountpoint: string;
let atBackup: string[];
let setPath: string;

const onEngine = (): Record<string, string> => ({ DOCKER_HOST: engine.host });
const cli = (script: 'backup' | 'verify' | 'restore', args: string[]): Promise<RunResult> => sb.cli(script, args, { env: onEngine() });
const running = async (name: string): Promise<boolean> => (await engine.docker('inspect', '--format', '{{.State.Running}}', name)).trim() === 'true';
const containers = async (): Promise<string[]> => (await engine.docker('ps', '--all', '--format', '{{.Names}}')).split('\n').filter((n) => n !== '').sort();

beforeAll(async () => {
  engine = await startPrivateEngine([BUSYBOX]);
  sb.writeStack(oneVolumeStack(sb.project));
  await engine.docker('volume', 'create', ...labelArgs({ 'stowage.project': sb.project, 'stowage.env': 'dev', 'stowage.volume': 'data' }), sb.volume('data'));
  mountpoint = (await engine.docker('volume', 'inspect', '--format', '{{.Mountpoint}}', sb.volume('data'))).trim();
  await hostShell('set -e; cd "$1"; head -c 50000000 /dev/urandom > big.bin; mkdir d; i=0; while [ $i -lt 200 ]; do echo $i > d/f$i; i=$((i+1)); done', mountpoint);
  await engine.docker('run', '-d', '--name', app, '--network', 'none', '--restart', 'unless-stopped', ...labelArgs({ 'stowage.project': sb.project, 'stowage.env': 'dev', 'stowage.service': 'app' }), '-v', `${sb.volume('data')}:/data`, BUSYBOX, ...IDLE_COMMAND);
  const r = await cli('backup', ['--to', sb.to, '--json']);
  expect(r.code, show(r)).toBe(0);
  setPath = parseJsonDocument<{ path: string }>(r.stdout).path;
  atBackup = await exactTree(mountpoint);
}, 300_000);

afterAll(async () => {
  await engine?.destroy();
  await sb.cleanup();
});

describe('the engine restarts during a backup', () => {
  let interrupted: RunResult | undefined;

  it('the backup fails (exit 1) and leaves no set', async () => {
    const seam = fakeZstd(join(sb.root, 'seam-backup'), 'gate');
    const before = sb.sets();
    const run = sb.spawnCli('backup', ['--to', sb.to, '--via', 'archive'], { env: { ...onEngine(), PATH: `${seam.binDir}:${process.env['PATH'] ?? ''}` }, direct: true });
    await waitFor('the compressor to start', () => existsSync(seam.started));
    await waitFor('the writer to be stopped', async () => !(await running(app)));
    await engine.restart();
    seam.open();
    interrupted = await within(run.result, 120_000);
    expect(interrupted?.code, interrupted === undefined ? 'hung' : show(interrupted)).toBe(1);
    expect(sb.sets().filter((s) => !before.includes(s))).toEqual([]);
  });

  it('the next backup finds the writer running or starts it, and succeeds', async () => {
    const r = await cli('backup', ['--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(await running(app)).toBe(true);
    expect(await containers()).toEqual([app]);
    const latest = await cli('verify', ['--backup', 'latest', '--to', sb.to, '--json']);
    expect(parseJsonDocument<{ set: string }>(latest.stdout).set).toBe(parseJsonDocument<{ path: string }>(r.stdout).path);
  });
});

describe('the engine restarts during a restore', () => {
  let old: string[];

  it('the restore fails (exit 1) with the live content untouched', async () => {
    await hostShell('set -e; cd "$1"; rm -f d/f1; printf changed > d/f2', mountpoint);
    old = await exactTree(mountpoint);
    expect(old).not.toEqual(atBackup);
    const seam = countingZstd(join(sb.root, 'seam-restore'), 0);
    const run = sb.spawnCli('restore', ['--backup', setPath, '--yes', '--via', 'archive'], { env: { ...onEngine(), PATH: `${seam.binDir}:${process.env['PATH'] ?? ''}` }, direct: true });
    await waitFor('the restore to stream', () => existsSync(seam.gated));
    await engine.restart();
    seam.open();
    const result = await within(run.result, 120_000);
    expect(result?.code, result === undefined ? 'hung' : show(result)).toBe(1);
  });

  it('the next run (a backup) removes what the restore staged, starts the app, and the live content is exactly as it was', async () => {
    const r = await cli('backup', ['--to', sb.to]);
    expect(r.code, show(r)).toBe(0);
    expect(await exactTree(mountpoint)).toEqual(old);
    expect(await running(app)).toBe(true);
    expect(await containers()).toEqual([app]);
  });

  it('a restore then gives back the set exactly', async () => {
    const r = await cli('restore', ['--backup', setPath, '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect(await exactTree(mountpoint)).toEqual(atBackup);
    expect(await running(app)).toBe(true);
    expect(await containers()).toEqual([app]);
  });
});
