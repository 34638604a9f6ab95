// Containers stopped for a consistent tar copy are always started again: after
// a successful backup and after a failed one.
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, containerState, type ContainerFacts, type RunResult, createVolume, fakeZstd, inVolume, parseJsonDocument, projectContainers, readManifestFile, runService, show, uniqueProject, waitFor } from '../helpers/engine.js';

const STACK = (project: string, image: string, helper: string): string => `app: ${project}
helper: { image: ${helper} }
volumes:
  data:
    backup: { method: tar }
services:
  app:
    image: ${image}
    mounts: [data:/data]
environments:
  dev: {}
`;

const sb = new Sandbox(uniqueProject('dt'));
const app = sb.container('app');

beforeAll(async () => {
  sb.writeStack(STACK(sb.project, 'stowage-test/busybox:1', 'stowage-test/busybox:1'));
  await createVolume(sb.project, 'data');
  await inVolume(sb.volume('data'), 'head -c 2000000 /dev/urandom > /d/blob && printf "x\\n" > /d/x.txt');
  await runService(sb.project, 'app', { mounts: [['data', '/data']] });
});

afterAll(async () => {
  await sb.cleanup();
});

describe('a tar backup of a volume with a running writer', () => {
  it('stops the writer for the copy, reports it, and starts it again', async () => {
    const before = await containerState(app);
    const r = await sb.cli('backup', ['--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ stopped: string[] }>(r.stdout).stopped).toEqual([app]);
    const after = await containerState(app);
    expect(after.running).toBe(true);
    expect(after.startedAt).not.toBe(before.startedAt);
  });

  it('starts the writer again as soon as the volume has been read, while compression is still running', async () => {
    const seam = fakeZstd(join(sb.root, 'seam-hold'), 'hold');
    const before = await containerState(app);
    const run = sb.spawnCli('backup', ['--to', sb.to, '--json'], { env: { PATH: `${seam.binDir}:${process.env['PATH'] ?? ''}` } });
    try {
      await waitFor('the compressor to have read the whole volume', () => existsSync(seam.inputRead));
      const during = await waitFor('the writer to run again while the compressor holds its output', async () => {
        const state = await containerState(app);
        return state.running && state.startedAt !== before.startedAt ? state : undefined;
      }, 300);
      expect(during.running).toBe(true);
      expect(existsSync(seam.released), 'the compressor was still holding its output').toBe(false);
    } finally {
      seam.open();
    }
    const r = await run.result;
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ stopped: string[] }>(r.stdout).stopped).toEqual([app]);
  });

  it('records in the manifest which containers were stopped for the artifact', () => {
    const set = sb.sets().at(-1);
    if (set === undefined) throw new Error('no set');
    expect(readManifestFile(set).artifacts[0]?.['stopped']).toEqual([app]);
  });
});

describe('a tar backup that fails after the writer was stopped', () => {
  let failed: RunResult;
  let before: ContainerFacts;
  let setsBefore: string[];

  it('exits 1 when the compressor fails mid-copy, with the writer running again (it was stopped: new StartedAt)', async () => {
    const seam = fakeZstd(join(sb.root, 'seam-fail'), 'fail');
    setsBefore = sb.sets();
    before = await containerState(app);
    failed = await sb.cli('backup', ['--to', sb.to], { env: { PATH: `${seam.binDir}:${process.env['PATH'] ?? ''}` } });
    expect(failed.code, show(failed)).toBe(1);
    const after = await containerState(app);
    expect(after.running).toBe(true);
    expect(after.startedAt).not.toBe(before.startedAt);
  });

  it('leaves no half set and no helper container behind after that failure', async () => {
    expect(sb.sets()).toEqual(setsBefore);
    expect(await projectContainers(sb.project)).toEqual([app]);
  });

  it('says what failed: the compressor, with its own message (not a stream-internal "Premature close")', () => {
    expect(failed.stderr).toMatch(/zstd/);
    expect(failed.stderr).toMatch(/simulated failure/);
  });

  it('exits 1 when --to is a file, leaving the writer running', async () => {
    const file = join(sb.root, 'not-a-directory');
    writeFileSync(file, 'a file, not a directory\n');
    const r = await sb.cli('backup', ['--to', file]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain('not-a-directory');
    expect((await containerState(app)).running).toBe(true);
    expect(await projectContainers(sb.project)).toEqual([app]);
  });
});

describe('a tar backup that fails because no helper image is on the engine', () => {
  // The stack names images that are not on the engine; the running writer was
  // started from busybox. The helper is prepared before any writer is stopped.
  const other = new Sandbox(uniqueProject('dh'));
  const writer = other.container('app');

  beforeAll(async () => {
    other.writeStack(STACK(other.project, 'stowage-test/absent-image:0', 'stowage-test/absent-helper:0'));
    await createVolume(other.project, 'data');
    await inVolume(other.volume('data'), 'printf "x\\n" > /d/x.txt');
    await runService(other.project, 'app', { mounts: [['data', '/data']] });
  });

  afterAll(async () => {
    await other.cleanup();
  });

  it('exits 1 naming the missing helper image, without ever stopping the writer', async () => {
    const before = await containerState(writer);
    // Through the engine: the local path, proven through the running writer itself, needs no helper at all.
    const r = await other.cli('backup', ['--to', other.to, '--via', 'archive'], { env: { STOWAGE_HELPER_IMAGE: '' } });
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/helper image/);
    const after = await containerState(writer);
    expect(after.running).toBe(true);
    expect(after.startedAt).toBe(before.startedAt);
    expect(other.sets()).toEqual([]);
  });

  it('is no failure on the local path: the running writer proves the directory, and the host reads it', async () => {
    const r = await other.cli('backup', ['--to', other.to, '--via', 'local', '--json'], { env: { STOWAGE_HELPER_IMAGE: '' } });
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ via: Array<{ reason: string }> }>(r.stdout).via[0]?.reason).toMatch(/as container .*-app sees it/);
    expect((await containerState(writer)).running).toBe(true);
  });
});
