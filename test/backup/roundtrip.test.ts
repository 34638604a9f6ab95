// Backup then restore gives back the volume exactly: every kind of entry, with
// its owner, mode, time and links, and the volume root itself. The backup set
// on disk follows the contract in docs/architecture.md, "Backup set".
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, createVolume, entry, inVolume, parseJsonDocument, readManifestFile, runService, sha256Of, show, snapshot, uniqueProject, hostShell, oneVolumeStack } from '../helpers/engine.js';

const sb = new Sandbox(uniqueProject('rt'));
const volume = sb.volume('data');

const LONG_NAME = `${'long-file-name-'.repeat(10)}end.txt`; // 157 characters: beyond ustar's 100
const LONG_DIR = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(60)}/${'g'.repeat(60)}`; // 243 bytes of directories
const LONG_PATH = `${LONG_DIR}/${'h'.repeat(40)}.txt`; // 288 bytes: beyond 255
const NON_ASCII = 'café-日本語-ünïcødé Ω.txt';

// chown before chmod: chown clears setuid/setgid.
const POPULATE = `set -e
cd /d
mkdir -p docs/sub emptydir "$LONG_DIR" owned shared
printf 'hello\\n' > docs/readme.txt
printf 'secret=1\\n' > secrets.env
head -c 1048576 /dev/urandom > docs/random.bin
: > empty-file
printf 'long\\n' > "$LONG_NAME"
printf 'deep\\n' > "$LONG_PATH"
printf 'unicode\\n' > "$NON_ASCII"
printf 'spaces\\n' > 'name with spaces.txt'
printf 'app\\n' > owned/app.txt; chown 1000:1000 owned/app.txt owned
printf 'other\\n' > owned/other.txt; chown 1234:4321 owned/other.txt
printf 'nobody\\n' > owned/nobody.txt; chown 65534:65534 owned/nobody.txt
cp /bin/busybox setuid-tool; chown 1000:1000 setuid-tool; chmod 4755 setuid-tool
printf 'g\\n' > setgid-file; chown 0:1000 setgid-file; chmod 2750 setgid-file
chown 1000:1000 shared; chmod 2775 shared
mkdir sticky; chmod 1777 sticky
chmod 0600 secrets.env; chown 1000:1000 secrets.env
printf 'x\\n' > no-perms; chmod 0000 no-perms
ln -s docs/readme.txt rel-link
ln -s ../readme.txt docs/sub/up-link
ln -s does-not-exist-yet dangling-link
ln -s docs dir-link
ln docs/readme.txt hardlink-to-readme
ln docs/readme.txt docs/sub/second-hardlink
mkfifo fifo
touch -d '2001-02-03 04:05:06' docs/readme.txt
touch -d '2010-10-10 10:10:10' docs/random.bin "$LONG_NAME" "$LONG_PATH" "$NON_ASCII" secrets.env setuid-tool
touch -d '1999-12-31 23:59:59' docs/sub emptydir owned shared sticky "$LONG_DIR"
touch -d '2002-02-02 02:02:02' docs
chown 1000:1000 /d; chmod 0750 /d; touch -d '2003-03-03 03:03:03' /d
`;

const DAMAGE = `set -e
cd /d
rm -rf docs/sub emptydir secrets.env "$LONG_NAME"
printf 'modified\\n' > docs/readme.txt
printf 'new\\n' > added.txt
mkdir added-dir
chmod 0777 owned
chown 0:0 setuid-tool
rm -f dangling-link; ln -s elsewhere dangling-link
chmod 0755 /d; chown 0:0 /d
`;

let before: string[];
let setPath: string;
let backupStdout: string;

beforeAll(async () => {
  sb.writeStack(oneVolumeStack(sb.project));
  await createVolume(sb.project, 'data');
  await inVolume(volume, `LONG_NAME='${LONG_NAME}' LONG_DIR='${LONG_DIR}' LONG_PATH='${LONG_PATH}' NON_ASCII='${NON_ASCII}'; ${POPULATE}`);
  await runService(sb.project, 'app', { mounts: [['data', '/data']] });
  before = await snapshot(volume);
  const r = await sb.cli('backup', ['--to', sb.to, '--json']);
  expect(r.code, show(r)).toBe(0);
  backupStdout = r.stdout;
  setPath = parseJsonDocument<{ path: string }>(r.stdout).path;
});

afterAll(async () => {
  await sb.cleanup();
});

describe('backup then restore of a volume holding every kind of entry', () => {
  it('the fixture volume really holds the entries under test', () => {
    expect(entry(before, '.')).toMatch(/^\. 1000:1000 750 1046660583 /);
    expect(entry(before, './setuid-tool')).toMatch(/ 1000:1000 4755 /);
    expect(entry(before, './setgid-file')).toMatch(/ 0:1000 2750 /);
    expect(entry(before, './shared')).toMatch(/ 1000:1000 2775 /);
    expect(entry(before, './sticky')).toMatch(/ 1777 /);
    expect(entry(before, './owned/other.txt')).toMatch(/ 1234:4321 /);
    expect(entry(before, './dangling-link')).toMatch(/symbolic link .* -> does-not-exist-yet$/);
    expect(entry(before, './docs/readme.txt')).toMatch(/ 981173106 3 regular file /);
    expect(entry(before, `./${LONG_PATH}`)).toBeDefined();
    expect(Buffer.byteLength(`./${LONG_PATH}`)).toBeGreaterThan(255);
    expect(entry(before, `./${NON_ASCII}`)).toBeDefined();
    expect(entry(before, './emptydir')).toMatch(/directory/);
    expect(entry(before, './fifo')).toMatch(/fifo/);
  });

  it('restore --yes after damage gives back the exact tree: owners, modes, setuid/setgid, times, links, names, and the root', async () => {
    await inVolume(volume, `LONG_NAME='${LONG_NAME}'; ${DAMAGE}`);
    expect(await snapshot(volume)).not.toEqual(before);
    const r = await sb.cli('restore', ['--backup', setPath, '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect(await snapshot(volume)).toEqual(before);
  });

  it('leaves no staging or old-content directories behind in the volume', async () => {
    const names = await inVolume(volume, 'ls -a /d');
    expect(names).not.toMatch(/\.stowage-/);
  });

  it('starts the service container it stopped for the restore again', async () => {
    expect((await hostShell(`docker inspect --format '{{.State.Running}}' ${sb.container('app')}`)).trim()).toBe('true');
  });
});

describe('backup --json and the backup set on disk', () => {
  it('prints exactly one JSON document with id, path and artifacts {volume,file,bytes,sha256}', () => {
    const doc = parseJsonDocument<{ id: string; path: string; artifacts: Array<Record<string, unknown>> }>(backupStdout);
    expect(doc.id).toMatch(/^\d{8}T\d{6}Z$/);
    expect(doc.path).toBe(join(sb.setsDir, doc.id));
    expect(doc.artifacts).toHaveLength(1);
    expect(doc.artifacts[0]).toMatchObject({ volume: 'data', file: expect.any(String), bytes: expect.any(Number), sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('names the set <to>/<project>/<UTC timestamp> and makes it mode 0700', () => {
    expect(setPath.startsWith(`${sb.setsDir}/`)).toBe(true);
    expect(statSync(setPath).mode & 0o777).toBe(0o700);
  });

  it('writes manifest.json with mode 0600 and the contract fields', () => {
    expect(statSync(join(setPath, 'manifest.json')).mode & 0o777).toBe(0o600);
    const m = readManifestFile(setPath);
    expect(m.format).toBe(1);
    expect(m.project).toBe(sb.project);
    expect(m.env).toBe('dev');
    expect(m.created).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    expect(m.artifacts).toHaveLength(1);
    expect(m.artifacts[0]).toMatchObject({ volume: 'data', method: 'tar', file: expect.stringMatching(/^[^/]+$/) });
  });

  it('records how long the artifact took, within the duration of the whole run (status.mjs charts both)', () => {
    const m = readManifestFile(setPath);
    const run = m['durationSeconds'];
    const own = m.artifacts[0]?.['durationSeconds'];
    if (typeof run !== 'number' || typeof own !== 'number') throw new Error(`durations missing: run ${String(run)}, artifact ${String(own)}`);
    expect(own).toBeGreaterThan(0);
    expect(own).toBeLessThanOrEqual(run);
  });

  it('records in the manifest the size and sha256 of the artifact as stored, equal to what --json printed', async () => {
    const m = readManifestFile(setPath);
    const a = m.artifacts[0];
    if (a === undefined) throw new Error('no artifact');
    const file = join(setPath, a.file);
    expect(statSync(file).size).toBe(a.bytes);
    expect((await hostShell('sha256sum "$1" | cut -d" " -f1', file)).trim()).toBe(a.sha256);
    expect(sha256Of(file)).toBe(a.sha256);
    const printed = parseJsonDocument<{ artifacts: Array<{ file: string; bytes: number; sha256: string }> }>(backupStdout).artifacts[0];
    expect(printed).toMatchObject({ file: a.file, bytes: a.bytes, sha256: a.sha256 });
  });

  it('stores the artifact with mode 0600 in a standard format: zstd -d | tar -t lists the volume', async () => {
    const a = readManifestFile(setPath).artifacts[0];
    if (a === undefined) throw new Error('no artifact');
    const file = join(setPath, a.file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const listing = await hostShell('zstd -dc "$1" | tar -tf -', file);
    expect(listing).toContain('docs/readme.txt');
    expect(listing).toContain(LONG_PATH);
    expect(listing).toContain(NON_ASCII);
  });
});
