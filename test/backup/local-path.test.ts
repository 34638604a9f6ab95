// The local fast path: backup and restore read and write the volume's own
// directory on this machine, after proving it is the directory the engine
// mounts. Round trips through each path and across them come back exactly; the
// local path also keeps user xattrs and holes, which the archive endpoint
// cannot; a decoy directory of the same name is never read or written.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, createVolume, exactTree, exec, hostShell, mountpointOf, parseJsonDocument, runService, show, uniqueProject, oneVolumeStack } from '../helpers/engine.js';

const sb = new Sandbox(uniqueProject('lp'));
let mountpoint: string;
let original: string[];

// On the host, in the volume's directory: every kind of entry, user xattrs and a sparse file.
const POPULATE = String.raw`set -e
cd "$1"
printf 'hello\n' > regular; : > empty
printf 'shared\n' > hl-a; mkdir -p sub/deeper; ln hl-a sub/deeper/hl-b
ln -s /etc/hostname abs; ln -s ../../etc/x up-out; ln -s nowhere dangling
ln -s ../../.. sub/deeper/up-far
mkfifo fifo
mkdir d000 d1777; chmod 000 d000; chmod 1777 d1777
cp /bin/true setuid; chown 1000:1000 setuid; chmod 4755 setuid
printf 'caf\n' > "$(printf 'caf\351')"; printf 'nl\n' > "$(printf 'new\nline')"
cp /bin/true capfile; setcap cap_net_bind_service+ep capfile
setfattr -n user.checksum -v abc123 regular; setfattr -n user.empty sub
truncate -s 64M sparse; printf tail >> sparse
chown -h 1000:1000 abs; touch -h -d '2001-02-03 04:05:06' abs up-out
touch -d '2002-02-02 02:02:02' regular hl-a
touch -d '1999-09-09 09:09:09' sub/deeper sub d000 d1777
chown 1000:1000 .; chmod 0750 .; touch -d '2003-03-03 03:03:03' .
`;

const STACK = oneVolumeStack(sb.project);

/** What the archive endpoint cannot carry: user xattrs, and holes (they come back allocated). */
const endpointKeeps = (tree: string[]): string[] => tree.filter((l) => !l.startsWith('xattr ')).map((l) => l.replace(/ blocks~\d+$/, ''));

async function backupVia(via: string): Promise<{ path: string; via: Array<{ volume: string; via: string; reason: string }> }> {
  const r = await sb.cli('backup', ['--to', sb.to, '--via', via, '--json']);
  expect(r.code, show(r)).toBe(0);
  return parseJsonDocument(r.stdout);
}

async function damage(): Promise<void> {
  await hostShell('set -e; cd "$1"; rm -rf sub regular sparse; printf changed > hl-a; mkdir added', mountpoint);
}

beforeAll(async () => {
  sb.writeStack(STACK);
  await createVolume(sb.project, 'data');
  mountpoint = await mountpointOf(sb.volume('data'));
  await hostShell(POPULATE, mountpoint);
  original = await exactTree(mountpoint, { xattrs: true, blocks: true });
  await runService(sb.project, 'app', { mounts: [['data', '/data']] });
}, 300_000);

afterAll(async () => {
  await sb.cleanup();
});

describe('the fixture', () => {
  it('holds user xattrs and a sparse file', () => {
    expect(original.some((l) => l.startsWith('xattr user.checksum='))).toBe(true);
    expect(original.find((l) => l.startsWith(Buffer.from('./sparse', 'latin1').toString('hex')))).toMatch(/blocks~0$/);
  });
});

describe.each([
  ['local', 'local'],
  ['local', 'archive'],
  ['archive', 'local'],
  ['archive', 'archive'],
])('backup through %s, restore through %s', (readVia, writeVia) => {
  it('gives back the volume exactly (all of it on the local path, what the endpoint carries otherwise)', async () => {
    const set = await backupVia(readVia);
    expect(set.via).toEqual([expect.objectContaining({ volume: 'data', via: readVia })]);
    await damage();
    const r = await sb.cli('restore', ['--backup', set.path, '--via', writeVia, '--yes', '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ via: Array<{ via: string }> }>(r.stdout).via).toEqual([expect.objectContaining({ via: writeVia })]);
    const after = await exactTree(mountpoint, { xattrs: true, blocks: true });
    if (readVia === 'local' && writeVia === 'local') expect(after).toEqual(original);
    else expect(endpointKeeps(after)).toEqual(endpointKeeps(original));
  });
});

describe('--dry-run', () => {
  it('says which path each volume takes, and why, in the plan and in --json', async () => {
    const r = await sb.cli('backup', ['--to', sb.to, '--dry-run', '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ via: unknown[] }>(r.stdout).via).toEqual([{ volume: 'data', via: 'local', reason: expect.stringContaining(`${mountpoint} is the directory the engine mounts`) }]);
    expect(r.stderr).toMatch(/tar --create .*--directory=/);
  });
});

describe('a decoy directory at the volume\'s path', () => {
  // In a mount namespace of its own, a tmpfs over the volume's directory stands for a stale
  // directory of the same name (an engine in a VM, another mount namespace): same path, other files.
  const inDecoyNamespace = (script: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> =>
    exec('unshare', ['--mount', '--propagation', 'private', 'sh', '-c', `mount -t tmpfs decoy "$1" && printf decoy > "$1/decoy-only" && shift && ${script}`, 'sh', mountpoint, ...args], { env: { NO_COLOR: '1' } });

  it('is not taken by auto: the backup goes through the engine and holds the real content', async () => {
    const r = await inDecoyNamespace('npx zx scripts/backup.mjs --stack "$1" --stacks-dir "$2" --to "$3" --json', sb.stack, sb.stacksDir, sb.to);
    expect(r.code, show(r)).toBe(0);
    const doc = parseJsonDocument<{ path: string; via: Array<{ via: string; reason: string }> }>(r.stdout);
    expect(doc.via).toEqual([expect.objectContaining({ via: 'archive', reason: expect.stringContaining('is not the directory the engine mounts') })]);
    const listing = await hostShell('zstd -dc "$1/data.tar.zst" | tar -tf -', doc.path);
    expect(listing).toContain('./hl-a');
    expect(listing).not.toContain('decoy-only');
  });

  it('makes --via local fail with exit 1 before anything stops', async () => {
    const r = await inDecoyNamespace('npx zx scripts/backup.mjs --stack "$1" --stacks-dir "$2" --to "$3" --via local', sb.stack, sb.stacksDir, sb.to);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/--via local: volume data cannot take the local path: .*is not the directory the engine mounts/);
  });

  it('is never written by a restore', async () => {
    const set = await backupVia('archive');
    const before = await exactTree(mountpoint);
    const r = await inDecoyNamespace('npx zx scripts/restore.mjs --stack "$1" --stacks-dir "$2" --backup "$3" --yes --json && ls -A "$4"', sb.stack, sb.stacksDir, set.path, mountpoint);
    expect(r.code, show(r)).toBe(0);
    // Inside the namespace the decoy is untouched; outside, the real volume was restored.
    expect(r.stdout.trim().split('\n').pop()).toBe('decoy-only');
    expect(await exactTree(mountpoint)).toEqual(before);
  });
});
