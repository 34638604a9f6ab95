// Every kind of entry a real volume holds comes back exactly through backup
// and restore: compared as a full listing read on the host (raw name bytes,
// type, owner, mode, mtime, size, content hash, link target, hard link groups,
// capabilities), never following a symlink. Symlinks come back whatever their
// target: relative, absolute, dangling, or leaving the volume.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, createVolume, docker, exactTree, exec, hostShell, mountpointOf, parseJsonDocument, readManifestFile, runService, show, uniqueProject, oneVolumeStack } from '../helpers/engine.js';

// Runs on the host in the volume's directory (GNU tools), as root.
const POPULATE = String.raw`set -e
cd "$1"
printf 'regular\n' > regular
: > empty
printf 'shared\n' > hl-a; ln hl-a hl-b; mkdir -p sub/deeper; ln hl-a sub/deeper/hl-c
ln -s regular rel-inside
ln -s /etc/hostname abs
ln -s /nonexistent/x dangling
ln -s ../../etc/x up-out
ln -s .. sub/up-root
ln -s ../../.. sub/deeper/up-far
ln -P sub/deeper/up-far sub/hl-to-escaping-link
ln -s "$(printf '../../caf\351-target')" "$(printf 'caf\351-out')"
mkdir "$(printf 'dir-caf\351')"; ln -s ../../x "$(printf 'dir-caf\351/esc\nape')"
mkfifo fifo
mkdir d000 d700 d1777; chmod 000 d000; chmod 700 d700; chmod 1777 d1777
cp /bin/true setuid; chown 1000:1000 setuid; chmod 4755 setuid
printf 'g\n' > setgid; chown 0:1000 setgid; chmod 2750 setgid
printf 'nl\n' > "$(printf 'new\nline')"
printf 'tab\n' > "$(printf 'tab\there')"
printf 'latin1\n' > "$(printf 'caf\351')"
cp /bin/true capfile; setcap cap_net_bind_service+ep capfile
chown -h 1000:1000 abs up-out sub/deeper/up-far; chown -h 1234:5678 dangling
touch -h -d '2001-02-03 04:05:06' abs up-out dangling rel-inside sub/up-root sub/deeper/up-far
touch -d '2002-02-02 02:02:02' regular empty hl-a setuid
`;

// The directory times go last: creating entries changes them.
const DIRECTORY_TIMES = String.raw`set -e
cd "$1"
touch -d '1999-09-09 09:09:09' sub/deeper sub d000 d700 d1777 many "$(printf 'dir-caf\351')"
chown 1000:1000 .; chmod 0750 .; touch -d '2003-03-03 03:03:03' .
`;

const MANY = 30_000;

const hex = (name: string): string => Buffer.from(name, 'latin1').toString('hex');
const line = (tree: string[], name: string): string | undefined => tree.find((l) => l.startsWith(`${hex(name)} `));
const subLines = (tree: string[]): string[] => tree.filter((l) => l.startsWith(hex('./sub')));
/** A listing without content and link-group facts, for a part of a volume whose hard links reach outside it. */
const withoutLinkFacts = (tree: string[]): string[] => tree.map((l) => l.replace(/ (size=\d+ sha256=\w+ links=\d+|hardlink-of=\w+)$/, ''));

/**
 * Where the sets go: a directory of set directories, or a restic repository
 * (there a whole volume read on the local path is a directory snapshot, and a
 * --path backup a tar stream: both must come back exactly).
 */
interface Destination {
  label: string;
  /** --to for the sandbox's sets. */
  to: (sb: Sandbox) => string;
  /** --backup (and --to) naming the set a backup made. */
  set: (sb: Sandbox, made: { id: string; path: string }) => string[];
  env: (sb: Sandbox) => Record<string, string>;
  /** Arguments of the first backup (a repository is created then). */
  first: string[];
}

const DESTINATIONS: Destination[] = [
  { label: 'a set directory', to: (sb) => sb.to, set: (_sb, made) => ['--backup', made.path], env: () => ({}), first: [] },
  {
    label: 'a restic repository',
    to: (sb) => `restic:${join(sb.root, 'repository')}`,
    set: (sb, made) => ['--to', `restic:${join(sb.root, 'repository')}`, '--backup', made.id],
    env: (sb) => ({ RESTIC_PASSWORD: 'exactness test only', RESTIC_CACHE_DIR: join(sb.root, 'restic-cache') }),
    first: ['--init'],
  },
];

describe.each(DESTINATIONS)('into $label', (destination) => {
  const sb = new Sandbox(uniqueProject('ex'));
  const volume = sb.volume('data');
  const cli = (script: 'backup' | 'verify' | 'restore', args: string[]): ReturnType<Sandbox['cli']> => sb.cli(script, args, { env: destination.env(sb) });
  let mountpoint: string;
  let before: string[];
  let made: { id: string; path: string };
  let backupStderr: string;

  beforeAll(async () => {
    sb.writeStack(oneVolumeStack(sb.project));
    await createVolume(sb.project, 'data');
    mountpoint = await mountpointOf(volume);
    await hostShell(POPULATE, mountpoint);
    mkdirSync(join(mountpoint, 'many'));
    for (let i = 0; i < MANY; i++) writeFileSync(join(mountpoint, 'many', `f${i}`), `${i}\n`);
    await hostShell(DIRECTORY_TIMES, mountpoint);
    before = await exactTree(mountpoint);
    await runService(sb.project, 'app', { mounts: [['data', '/data']] });
    const r = await cli('backup', ['--to', destination.to(sb), ...destination.first, '--json']);
    expect(r.code, show(r)).toBe(0);
    made = parseJsonDocument<{ id: string; path: string }>(r.stdout);
    backupStderr = r.stderr;
  }, 600_000);

  afterAll(async () => {
    await sb.cleanup();
  });

  describe('the fixture volume', () => {
    it('holds every kind of entry under test', () => {
      expect(line(before, './abs')).toMatch(/ symlink 1000:1000 .* mtime=981173106 target=/);
      expect(line(before, './up-out')).toContain(`target=${hex('../../etc/x')}`);
      expect(line(before, './sub/hl-to-escaping-link')).toMatch(/ symlink /);
      expect(line(before, './fifo')).toMatch(/ fifo /);
      expect(line(before, './d000')).toMatch(/ dir 0:0 0 /);
      expect(line(before, './d1777')).toMatch(/ dir 0:0 1777 /);
      expect(line(before, './setuid')).toMatch(/ 1000:1000 4755 /);
      expect(line(before, './new\nline')).toBeDefined();
      expect(line(before, './caf\xe9')).toBeDefined();
      expect(line(before, '.')).toMatch(/ dir 1000:1000 750 mtime=1046660583/);
      expect(before.some((l) => l.startsWith('capability /capfile'))).toBe(true);
      expect(before.filter((l) => l.startsWith(hex('./many/')))).toHaveLength(MANY);
    });
  });

  describe('backup then restore', () => {
    it('backs up a volume whose symlinks point anywhere, and the set verifies', async () => {
      const r = await cli('verify', destination.set(sb, made));
      expect(r.code, show(r)).toBe(0);
    });

    it('restores the exact tree over changed content', async () => {
      await hostShell('set -e; cd "$1"; rm -rf sub abs "$(printf \'new\\nline\')"; printf changed > regular; ln -sfn /elsewhere dangling; mkdir added; chmod 755 d000; touch -d 2020-01-01 .', mountpoint);
      expect(await exactTree(mountpoint)).not.toEqual(before);
      const r = await cli('restore', [...destination.set(sb, made), '--yes']);
      expect(r.code, show(r)).toBe(0);
      expect(await exactTree(mountpoint)).toEqual(before);
    });

    it('restores the exact tree into a volume that no longer exists', async () => {
      await docker('rm', '--force', sb.container('app'));
      await docker('volume', 'rm', volume);
      const r = await cli('restore', [...destination.set(sb, made), '--yes']);
      expect(r.code, show(r)).toBe(0);
      mountpoint = await mountpointOf(volume);
      expect(await exactTree(mountpoint)).toEqual(before);
      await runService(sb.project, 'app', { mounts: [['data', '/data']] });
    });

    it('restores one path whose links leave the volume, leaving the rest as it is', async () => {
      await hostShell('set -e; cd "$1"; rm -rf sub; printf other > regular', mountpoint);
      const r = await cli('restore', [...destination.set(sb, made), '--volume', 'data', '--path', 'sub', '--yes']);
      expect(r.code, show(r)).toBe(0);
      const after = await exactTree(mountpoint);
      // sub/deeper/hl-c was a second name of ./hl-a, which stays as it is: it comes back as a file of its own.
      expect(withoutLinkFacts(subLines(after))).toEqual(withoutLinkFacts(subLines(before)));
      expect(line(after, './sub/deeper/hl-c')).toContain(`sha256=${/sha256=(\w+)/.exec(line(before, './hl-a') ?? '')?.[1] ?? '?'}`);
      expect(line(after, './regular')).toContain(`size=5`);
      await hostShell('printf "regular\\n" > "$1/regular"; touch -d "2002-02-02 02:02:02" "$1/regular"', mountpoint);
    });
  });

  describe('backup of one path', () => {
    it('holds the path exactly, hard links to files outside it included, and restores it', async () => {
      const r = await cli('backup', ['--to', destination.to(sb), '--volume', 'data', '--path', 'sub', '--json']);
      expect(r.code, show(r)).toBe(0);
      const partial = parseJsonDocument<{ id: string; path: string }>(r.stdout);
      await hostShell('set -e; cd "$1"; rm -rf sub', mountpoint);
      const restored = await cli('restore', [...destination.set(sb, partial), '--yes']);
      expect(restored.code, show(restored)).toBe(0);
      const after = await exactTree(mountpoint);
      expect(withoutLinkFacts(subLines(after))).toEqual(withoutLinkFacts(subLines(before)));
      expect(line(after, './sub/deeper/hl-c')).toContain(`sha256=${/sha256=(\w+)/.exec(line(before, './hl-a') ?? '')?.[1] ?? '?'}`);
    });
  });

  it('backup output names no socket or device in a volume that has none', () => {
    expect(backupStderr).not.toMatch(/is not in the backup/);
  });
});

describe('what the engine cannot carry', () => {
  let specials: Sandbox;
  let specialsMount: string;

  beforeAll(async () => {
    specials = new Sandbox(uniqueProject('sp'));
    specials.writeStack(oneVolumeStack(specials.project));
    await createVolume(specials.project, 'data');
    specialsMount = await mountpointOf(specials.volume('data'));
    await hostShell('set -e; cd "$1"; printf k > keep; mknod null-device c 1 3; python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.bind(sys.argv[1])" "$1/app.sock"', specialsMount);
  });

  afterAll(async () => {
    await specials.cleanup();
  });

  it('names every socket and device file it leaves out, records them in the manifest, and the set restores', async () => {
    const r = await specials.cli('backup', ['--to', specials.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stderr).toMatch(/socket \.\/app\.sock is not in the backup/);
    expect(r.stderr).toMatch(/character-device \.\/null-device is not in the backup/);
    const set = parseJsonDocument<{ path: string }>(r.stdout).path;
    expect(readManifestFile(set).artifacts[0]?.['skipped']).toEqual([
      { path: 'app.sock', kind: 'socket' },
      { path: 'null-device', kind: 'character-device' },
    ]);
    const restored = await specials.cli('restore', ['--backup', set, '--yes']);
    expect(restored.code, show(restored)).toBe(0);
    expect((await exec('ls', [specialsMount])).stdout.split('\n').filter((n) => n !== '')).toEqual(['keep']);
  });
});
