// Encrypted backups are plain age files: what stowage encrypts the stock age
// CLI decrypts, and what the stock age CLI encrypts stowage verifies and restores.
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Sandbox, containerState, createVolume, hostShell, inVolume, must, parseJsonDocument, readManifestFile, runService, sha256Of, show, snapshot, uniqueProject, writeManifestFile,
} from '../helpers/engine.js';

const POPULATE = `cd /d && printf 'top secret\\n' > secrets.env && chmod 0600 secrets.env && chown 1000:1000 secrets.env &&
  mkdir -p docs && head -c 200000 /dev/urandom > docs/blob.bin && ln -s docs/blob.bin link && chown 1000:1000 /d && chmod 0750 /d`;
const DAMAGE = 'cd /d && rm -rf docs && printf "changed\\n" > secrets.env && printf x > extra';

const stackYaml = (project: string, recipient: string | undefined): string => `app: ${project}
helper: { image: stowage-test/busybox:1 }
${recipient === undefined ? '' : `backups:\n  encryption:\n    recipients: [${recipient}]\n`}volumes:
  data: {}
services:
  app:
    image: stowage-test/busybox:1
    mounts: [data:/data]
environments:
  dev: {}
`;

const enc = new Sandbox(uniqueProject('en'));
const plain = new Sandbox(uniqueProject('ep'));
let key: string;
let recipient: string;

beforeAll(async () => {
  key = join(enc.root, 'age.key');
  await must('age-keygen', ['-o', key]);
  const found = /public key: (age1[0-9a-z]+)/.exec(readFileSync(key, 'utf8'));
  if (found?.[1] === undefined) throw new Error('age-keygen wrote no public key');
  recipient = found[1];
  for (const [sb, r] of [[enc, recipient], [plain, undefined]] as const) {
    sb.writeStack(stackYaml(sb.project, r));
    await createVolume(sb.project, 'data');
    await inVolume(sb.volume('data'), POPULATE);
    await runService(sb.project, 'app', { mounts: [['data', '/data']] });
  }
});

afterAll(async () => {
  await enc.cleanup();
  await plain.cleanup();
});

describe('a stack with backups.encryption.recipients', () => {
  let setPath: string;
  let artifact: string;
  let original: string[];

  beforeAll(async () => {
    original = await snapshot(enc.volume('data'));
    const r = await enc.cli('backup', ['--to', enc.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    setPath = parseJsonDocument<{ path: string }>(r.stdout).path;
    const a = readManifestFile(setPath).artifacts[0];
    if (a === undefined) throw new Error('no artifact');
    artifact = join(setPath, a.file);
  });

  it('writes *.age artifacts, marked encrypted in the manifest, with no plaintext copy beside them', () => {
    const m = readManifestFile(setPath);
    expect(m.artifacts[0]?.file).toMatch(/\.age$/);
    expect(m.artifacts[0]?.encrypted).toBe(true);
    expect(readFileSync(artifact).subarray(0, 21).toString('latin1')).toBe('age-encryption.org/v1');
    expect(existsSync(artifact.replace(/\.age$/, ''))).toBe(false);
  });

  it('the stock age -d -i key | zstd -d | tar -t reads the artifact', async () => {
    const listing = await hostShell('age -d -i "$1" "$2" | zstd -dc | tar -tf -', key, artifact);
    expect(listing).toMatch(/secrets\.env/);
    expect(listing).toMatch(/docs\/blob\.bin/);
  });

  it('verify --identity passes and reads the archive to its end', async () => {
    const r = await enc.cli('verify', ['--backup', setPath, '--identity', key, '--json']);
    expect(r.code, show(r)).toBe(0);
    const doc = parseJsonDocument<{ ok: boolean; artifacts: Array<{ checked: string[] }> }>(r.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.artifacts[0]?.checked.join(', ')).toMatch(/sha256.*archive read to the end/);
  });

  it('verify without an identity says that only the checksum was verified', async () => {
    const r = await enc.cli('verify', ['--backup', setPath, '--json']);
    const doc = parseJsonDocument<{ artifacts: Array<{ checked: string[]; warnings: string[] }> }>(r.stdout);
    expect(doc.artifacts[0]?.checked).not.toContain(expect.stringMatching(/archive read/));
    expect(doc.artifacts[0]?.warnings.join('\n')).toMatch(/identity/);
  });

  it('restore without --identity fails before it stops anything or touches the volume', async () => {
    await inVolume(enc.volume('data'), DAMAGE);
    const before = await snapshot(enc.volume('data'));
    const started = (await containerState(enc.container('app'))).startedAt;
    const r = await enc.cli('restore', ['--backup', setPath, '--yes'], { env: { STOWAGE_AGE_IDENTITY: undefined } });
    expect(r.code, show(r)).not.toBe(0);
    expect(r.stderr).toMatch(/--identity/);
    // The identity is needed from the start: nothing may be stopped or written before that is known.
    expect((await containerState(enc.container('app'))).startedAt, 'the service was stopped and started').toBe(started);
    expect(await snapshot(enc.volume('data'))).toEqual(before);
  });

  it('restore --identity gives back the exact tree', async () => {
    const r = await enc.cli('restore', ['--backup', setPath, '--identity', key, '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect(await snapshot(enc.volume('data'))).toEqual(original);
  });
});

describe('an artifact encrypted afterwards with the stock age -r', () => {
  let setPath: string;
  let original: string[];

  beforeAll(async () => {
    original = await snapshot(plain.volume('data'));
    const r = await plain.cli('backup', ['--to', plain.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    setPath = parseJsonDocument<{ path: string }>(r.stdout).path;
    const manifest = readManifestFile(setPath);
    const a = manifest.artifacts[0];
    if (a === undefined) throw new Error('no artifact');
    const clear = join(setPath, a.file);
    const sealed = `${clear}.age`;
    await must('age', ['-r', recipient, '-o', sealed, clear]);
    rmSync(clear);
    a.file = `${a.file}.age`;
    a.bytes = statSync(sealed).size;
    a.sha256 = sha256Of(sealed);
    a.encrypted = true;
    writeManifestFile(setPath, manifest);
  });

  it('verifies with --identity', async () => {
    const r = await plain.cli('verify', ['--backup', setPath, '--identity', key, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ artifacts: Array<{ checked: string[] }> }>(r.stdout).artifacts[0]?.checked.join(', ')).toMatch(/archive read to the end/);
  });

  it('restores with --identity to the exact tree', async () => {
    await inVolume(plain.volume('data'), DAMAGE);
    const r = await plain.cli('restore', ['--backup', setPath, '--identity', key, '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect(await snapshot(plain.volume('data'))).toEqual(original);
  });
});
