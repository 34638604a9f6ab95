// An interrupted backup never yields a usable-looking set: without manifest.json
// it is never picked by `--backup latest`, and the next backup removes it.
//
// To interrupt "in the middle" without timing assumptions, the CLI runs with a
// test `zstd` first on PATH that waits for a gate file before exec'ing the real
// zstd: the backup is then provably mid-copy (set directory created, writers
// stopped, the volume's stream blocked) when the signal is sent.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendJournal, containerState, createVolume, docker, fakeZstd, groupAlive, inVolume, killTree, oneVolumeStack, parseJsonDocument, projectContainers, runService, Sandbox, show, uniqueProject, waitFor, within } from '../helpers/engine.js';

const sb = new Sandbox(uniqueProject('ir'));
const service = sb.container('app');

const seams: Array<ReturnType<typeof fakeZstd>> = [];

async function startGatedBackup(tag: string): Promise<{ pgid: number; result: ReturnType<Sandbox['spawnCli']>['result']; set: string; seam: ReturnType<typeof fakeZstd> }> {
  const seam = fakeZstd(join(sb.root, `seam-${tag}`), 'gate');
  seams.push(seam);
  const before = new Set(sb.sets());
  // Through the archive endpoint: a run of it leaves a helper container behind when killed.
  const run = sb.spawnCli('backup', ['--to', sb.to, '--via', 'archive'], { env: { PATH: `${seam.binDir}:${process.env['PATH'] ?? ''}` }, direct: true });
  const pgid = run.child.pid;
  if (pgid === undefined) throw new Error('no pid');
  // Mid-copy: the set directory exists, the compressor was started, the writer is stopped.
  const set = await waitFor('the new set directory', () => sb.sets().find((s) => !before.has(s)));
  await waitFor('the compressor to start', () => existsSync(seam.started));
  await waitFor('the writer to be stopped', async () => !(await containerState(service)).running);
  expect(existsSync(join(set, 'manifest.json'))).toBe(false);
  return { pgid, result: run.result, set, seam };
}

beforeAll(async () => {
  sb.writeStack(oneVolumeStack(sb.project));
  await createVolume(sb.project, 'data');
  await inVolume(sb.volume('data'), 'head -c 209715200 /dev/urandom > /d/big.bin && printf "small\\n" > /d/small.txt');
  await runService(sb.project, 'app', { mounts: [['data', '/data']] });
});

afterAll(async () => {
  // Release any compressor still waiting (the CLI runs its children in their own process groups).
  for (const seam of seams) seam.open();
  await sb.cleanup();
});

describe('SIGKILL of the backup process group mid-copy', () => {
  let killedSet: string;

  it('leaves a set without manifest.json', async () => {
    const { pgid, result, set, seam } = await startGatedBackup('kill1');
    killedSet = set;
    process.kill(-pgid, 'SIGKILL');
    seam.open();
    await within(result, 30_000);
    await waitFor('every process of the killed group to exit', () => !groupAlive(pgid));
    expect(existsSync(set)).toBe(true);
    expect(existsSync(join(set, 'manifest.json'))).toBe(false);
  });

  it('verify --backup latest exits 2 when the only set is the incomplete one', async () => {
    const r = await sb.cli('verify', ['--backup', 'latest', '--to', sb.to]);
    expect(r.code, show(r)).toBe(2);
  });

  // SIGKILL cannot be caught: the killed run leaves its writer stopped and its
  // helper behind. Its lock's journal says so, and the next run undoes both.
  it('leaves the writer stopped and its helper container behind (nothing can run on SIGKILL)', async () => {
    expect((await containerState(service)).running).toBe(false);
    expect((await projectContainers(sb.project)).filter((c) => c.includes('-stowage-helper-'))).toHaveLength(1);
  });

  it('the next backup starts that writer again, removes that helper, says so, then backs up with the writer stopped and started as usual', async () => {
    const r = await sb.cli('backup', ['--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stderr).toMatch(/taking over the lock of project .*: its owner, pid \d+ on this host, is gone/);
    expect(r.stderr).toMatch(/started .*app again: an interrupted run \(a backup run \(pid \d+ on [^)]*\)\) had stopped it/);
    expect(r.stderr).toMatch(/removed 1 helper container left by an interrupted run/);
    expect(parseJsonDocument<{ stopped: string[] }>(r.stdout).stopped).toEqual([service]);
    expect((await containerState(service)).running).toBe(true);
    expect(await projectContainers(sb.project)).toEqual([service]);
  });

  it('that backup took over the dead run\'s lock, released its own and removed the incomplete set', async () => {
    expect(existsSync(killedSet)).toBe(false);
    expect(sb.sets()).toHaveLength(1);
    expect(await projectContainers(sb.project)).not.toContain(`${sb.project}-stowage-lock`);
  });

  it('after another SIGKILL, --backup latest picks the older complete set, never the incomplete one', async () => {
    const [complete] = sb.sets();
    const { pgid, result, set, seam } = await startGatedBackup('kill2');
    process.kill(-pgid, 'SIGKILL');
    seam.open();
    await within(result, 30_000);
    await waitFor('every process of the killed group to exit', () => !groupAlive(pgid));
    expect(set > (complete ?? '')).toBe(true);
    const r = await sb.cli('verify', ['--backup', 'latest', '--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ set: string }>(r.stdout).set).toBe(complete);
  });

  it('leaves the writer stopped, and says so, when it stopped again well after the killed run had stopped it (someone else stopped it)', async () => {
    // The run killed above left `stopped <service> <time>` in the lock's journal; a later entry makes that stop lie ten minutes back.
    await appendJournal(sb.project, `stopped ${service} ${Date.now() - 600_000}`);
    expect((await containerState(service)).running).toBe(false);
    const r = await sb.cli('backup', ['--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stderr).toMatch(new RegExp(`left ${service} stopped: .*someone else stopped it since`));
    expect((await containerState(service)).running).toBe(false);
    expect(await projectContainers(sb.project)).not.toContain(`${sb.project}-stowage-lock`);
    await docker('start', service);
  });
});

describe('SIGTERM of the backup process group mid-copy', () => {
  let termResult: { code: number; stdout: string; stderr: string };
  let termSet: string;
  let containersBefore: string[];

  it('exits with a non-zero code', async () => {
    containersBefore = await projectContainers(sb.project);
    const { pgid, result, set, seam } = await startGatedBackup('term');
    termSet = set;
    process.kill(-pgid, 'SIGTERM');
    // Generous bound: this detects a hang, it does not measure anything.
    const settled = await within(result, 60_000);
    seam.open();
    if (settled === undefined) {
      const killed = await killTree(pgid);
      throw new Error(`the backup did not exit within 60 s of SIGTERM (hung); killed processes ${killed.join(', ')}`);
    }
    termResult = settled;
    expect(termResult.code, show(termResult)).not.toBe(0);
  });

  it('has started the stopped service container again by the time it exits', async () => {
    expect((await containerState(service)).running).toBe(true);
  });

  it('has removed the helper container it created, and the one the SIGKILLed run left (only the service remains)', async () => {
    expect(await projectContainers(sb.project)).toEqual(containersBefore.filter((c) => !c.includes('-stowage-helper-')));
  });

  it('leaves no set that --backup latest would pick, and the next backup succeeds and removes it', async () => {
    const r = await sb.cli('backup', ['--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(existsSync(termSet)).toBe(false);
    const names = readdirSync(sb.setsDir).filter((n) => /^\d{8}T\d{6}Z$/.test(n));
    for (const n of names) expect(existsSync(join(sb.setsDir, n, 'manifest.json')), n).toBe(true);
  });
});

describe('SIGTERM mid-copy of a small volume (whose whole stream fits in the pipe buffers)', () => {
  const small = new Sandbox(uniqueProject('is'));
  const smallService = small.container('app');

  beforeAll(async () => {
    small.writeStack(oneVolumeStack(small.project));
    await createVolume(small.project, 'data');
    await inVolume(small.volume('data'), 'printf "small\\n" > /d/small.txt');
    await runService(small.project, 'app', { mounts: [['data', '/data']] });
  });

  afterAll(async () => {
    await small.cleanup();
  });

  it('exits non-zero with the stopped service container running again and no helper left', async () => {
    const seam = fakeZstd(join(small.root, 'seam'), 'gate');
    seams.push(seam);
    const before = await containerState(smallService);
    const run = small.spawnCli('backup', ['--to', small.to], { env: { PATH: `${seam.binDir}:${process.env['PATH'] ?? ''}` }, direct: true });
    const pgid = run.child.pid;
    if (pgid === undefined) throw new Error('no pid');
    await waitFor('the compressor to start', () => existsSync(seam.started));
    // The whole stream fits in the pipes, so docker cp may be done and the writer already started again.
    await waitFor('the writer to have been stopped', async () => {
      const now = await containerState(smallService);
      return !now.running || now.startedAt !== before.startedAt;
    });
    process.kill(-pgid, 'SIGTERM');
    const settled = await within(run.result, 60_000);
    seam.open();
    if (settled === undefined) throw new Error(`the backup did not exit within 60 s of SIGTERM (hung); killed ${(await killTree(pgid)).join(', ')}`);
    expect(settled.code, show(settled)).not.toBe(0);
    expect((await containerState(smallService)).running).toBe(true);
    expect(await projectContainers(small.project)).toEqual([smallService]);
  });
});
