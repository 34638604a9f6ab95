// A damaged artifact is caught before anything is touched, and a set without
// its manifest (an interrupted backup) is never used and is cleaned up.
import { cpSync, mkdirSync, openSync, readFileSync, readSync, closeSync, renameSync, writeSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { selectStack } from '../../src/config/select.js';
import { Runner } from '../../src/engine/command.js';
import { restore } from '../../src/backup/restore.js';
import { containerState, createVolume, docker, inVolume, oneVolumeStack, parseJsonDocument, readManifestFile, runService, Sandbox, show, snapshot, uniqueProject } from '../helpers/engine.js';

const sb = new Sandbox(uniqueProject('in'));
const volume = sb.volume('data');
let goodSet: string;

function flipOneByte(path: string, offset: number): void {
  const fd = openSync(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, offset);
    b[0] = (b[0] ?? 0) ^ 0x01;
    writeSync(fd, b, 0, 1, offset);
  } finally {
    closeSync(fd);
  }
}

beforeAll(async () => {
  sb.writeStack(oneVolumeStack(sb.project));
  await createVolume(sb.project, 'data');
  await inVolume(volume, 'cd /d && head -c 300000 /dev/urandom > blob.bin && printf "v1\\n" > note.txt && mkdir sub && printf x > sub/x');
  await runService(sb.project, 'app', { mounts: [['data', '/data']] });
  const r = await sb.cli('backup', ['--to', sb.to, '--json']);
  expect(r.code, show(r)).toBe(0);
  goodSet = parseJsonDocument<{ path: string }>(r.stdout).path;
});

afterAll(async () => {
  await sb.cleanup();
});

describe('an artifact with one byte flipped', () => {
  let damaged: string;
  let file: string;

  beforeAll(() => {
    // A copy of the good set with the same manifest, in a separate root so `latest` is unaffected.
    damaged = join(sb.root, 'damaged', sb.project, '20000101T000000Z');
    mkdirSync(join(damaged, '..'), { recursive: true });
    cpSync(goodSet, damaged, { recursive: true });
    const artifact = readManifestFile(damaged).artifacts[0];
    if (artifact === undefined) throw new Error('no artifact');
    file = artifact.file;
    flipOneByte(join(damaged, file), Math.floor(artifact.bytes / 2));
  });

  it('makes verify exit 3 and name the artifact', async () => {
    const r = await sb.cli('verify', ['--backup', damaged]);
    expect(r.code, show(r)).toBe(3);
    expect(r.stdout + r.stderr).toContain(file);
  });

  it('says that the artifact no longer matches the sha256 in the manifest (the diagnosis, not only "zstd failed")', async () => {
    const r = await sb.cli('verify', ['--backup', damaged, '--json']);
    expect(r.code, show(r)).toBe(3);
    const doc = parseJsonDocument<{ artifacts: Array<{ file: string; problems: string[] }> }>(r.stdout);
    const problems = doc.artifacts.find((a) => a.file === file)?.problems ?? [];
    expect(problems.join('\n')).toMatch(/sha256 [0-9a-f]{64} does not match the manifest/);
  });

  it('makes verify --json report the artifact as not ok, in one JSON document', async () => {
    const r = await sb.cli('verify', ['--backup', damaged, '--json']);
    expect(r.code, show(r)).toBe(3);
    const doc = parseJsonDocument<{ ok: boolean; artifacts: Array<{ file: string; ok: boolean; problems: string[] }> }>(r.stdout);
    expect(doc.ok).toBe(false);
    expect(doc.artifacts.find((a) => a.file === file)?.ok).toBe(false);
  });

  it('makes restore exit 3 and leave the volume exactly as it is', async () => {
    await inVolume(volume, 'printf "v2\\n" > /d/note.txt && printf new > /d/added');
    const before = await snapshot(volume);
    const r = await sb.cli('restore', ['--backup', damaged, '--yes']);
    expect(r.code, show(r)).toBe(3);
    expect(await snapshot(volume)).toEqual(before);
  });

  it('the undamaged original still verifies', async () => {
    const r = await sb.cli('verify', ['--backup', goodSet]);
    expect(r.code, show(r)).toBe(0);
  });
});

describe('an artifact that changes after it was verified', () => {
  // The seam is the confirmation, which comes after verification and before anything is stopped or staged.
  async function restoreChangingArtifactAtConfirmation(change: (artifact: string) => void): Promise<unknown> {
    const copy = join(sb.root, `changed-${Date.now()}`);
    cpSync(goodSet, copy, { recursive: true });
    const { model } = selectStack(sb.stack, sb.stacksDir);
    const artifact = join(copy, readManifestFile(copy).artifacts[0]?.file ?? '');
    return restore(model, copy, { runner: new Runner(), volumes: [], paths: [], identity: undefined, confirm: async () => change(artifact) }).then(
      () => undefined,
      (err: unknown) => err,
    );
  }

  it('is refused when its bytes were rewritten in place (same size), with the volume exactly as it was', async () => {
    const before = await snapshot(volume);
    const err = await restoreChangingArtifactAtConfirmation((artifact) => flipOneByte(artifact, 2000));
    expect(String(err)).toMatch(/data\.tar\.zst changed since it was verified; nothing was changed/);
    expect(await snapshot(volume)).toEqual(before);
  });

  it('is refused when the file was replaced by another one', async () => {
    const before = await snapshot(volume);
    const err = await restoreChangingArtifactAtConfirmation((artifact) => {
      cpSync(artifact, `${artifact}.new`);
      renameSync(`${artifact}.new`, artifact);
    });
    expect(String(err)).toMatch(/changed since it was verified/);
    expect(await snapshot(volume)).toEqual(before);
  });

  it('is restored when it was only read in between (the check is not a false alarm)', async () => {
    const err = await restoreChangingArtifactAtConfirmation((artifact) => {
      readFileSync(artifact);
    });
    expect(err).toBeUndefined();
  });
});

describe('a restore whose containers change while the operator confirms', () => {
  it('asks again with the containers that run now, stops them for the restore and starts them again', async () => {
    const app = sb.container('app');
    await docker('stop', app);
    const { model } = selectStack(sb.stack, sb.stacksDir);
    const asked: string[][] = [];
    await restore(model, goodSet, {
      runner: new Runner(),
      volumes: [],
      paths: [],
      identity: undefined,
      confirm: async (plan) => {
        asked.push(plan.items.flatMap((i) => i.stop));
        if (asked.length === 1) await docker('start', app); // someone starts the service while the prompt waits
      },
    });
    expect(asked).toEqual([[], [app]]);
    expect((await containerState(app)).running).toBe(true);
  });
});

describe('a set without manifest.json', () => {
  it('is refused when named with --backup <dir> (exit 2)', async () => {
    const incomplete = join(sb.root, 'only-incomplete', sb.project, '20990101T000000Z');
    mkdirSync(incomplete, { recursive: true });
    writeFileSync(join(incomplete, 'data.tar.zst'), 'partial');
    const r = await sb.cli('verify', ['--backup', incomplete]);
    expect(r.code, show(r)).toBe(2);
  });

  it('is not picked by --backup latest: with no complete set, verify latest exits 2', async () => {
    const root = join(sb.root, 'only-incomplete');
    const r = await sb.cli('verify', ['--backup', 'latest', '--to', root]);
    expect(r.code, show(r)).toBe(2);
  });

  it('is not picked by --backup latest even when it is newer than a complete set', async () => {
    const newer = join(sb.setsDir, '29991231T235959Z');
    mkdirSync(newer, { mode: 0o700 });
    writeFileSync(join(newer, 'data.tar.zst'), 'partial');
    const r = await sb.cli('verify', ['--backup', 'latest', '--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ set: string }>(r.stdout).set).toBe(goodSet);
  });

  it('is removed by the next backup, which keeps the complete sets', async () => {
    const newer = join(sb.setsDir, '29991231T235959Z');
    expect(existsSync(newer)).toBe(true);
    const r = await sb.cli('backup', ['--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(existsSync(newer)).toBe(false);
    expect(existsSync(join(goodSet, 'manifest.json'))).toBe(true);
    const latest = parseJsonDocument<{ path: string }>(r.stdout).path;
    expect(existsSync(join(latest, 'manifest.json'))).toBe(true);
  });
});
