// Restores never write outside the target. Hand-crafted artifacts with a valid
// manifest (right size, right sha256) but unsafe entries are refused by verify
// (exit 3) and by restore (exit 3), and the volume is left exactly as it was.
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createVolume, exec, inVolume, oneVolumeStack, projectContainers, runService, Sandbox, sha256Of, show, snapshot, uniqueProject, writeManifestFile } from '../helpers/engine.js';

const sb = new Sandbox(uniqueProject('ml'));
const volume = sb.volume('data');

/**
 * Writes a PAX tar stream to stdout. Every archive starts like the engine's
 * (a `./` root entry and one ordinary file), then the case's entries follow.
 */
const MAKE_TAR = String.raw`
import io, sys, tarfile, time
case = sys.argv[1]
out = tarfile.open(fileobj=sys.stdout.buffer, mode='w|', format=tarfile.PAX_FORMAT)
now = int(time.time())
def add(name, kind=tarfile.REGTYPE, data=b'', linkname='', mode=0o644, **extra):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = now
    info.linkname = linkname
    for k, v in extra.items():
        setattr(info, k, v)
    if kind == tarfile.REGTYPE:
        info.size = len(data)
        out.addfile(info, io.BytesIO(data))
    else:
        out.addfile(info)
add('./', tarfile.DIRTYPE, mode=0o755)
add('./harmless.txt', data=b'harmless\n')
if case == 'absolute':
    add('/stowage-evil-absolute.txt', data=b'evil\n')
elif case == 'dotdot':
    add('./../stowage-evil-dotdot.txt', data=b'evil\n')
elif case == 'nested-dotdot':
    add('./sub/', tarfile.DIRTYPE, mode=0o755)
    add('./sub/../../stowage-evil-nested.txt', data=b'evil\n')
elif case == 'symlink-escape':
    add('./link', tarfile.SYMTYPE, linkname='../../etc')
    add('./link/stowage-evil.conf', data=b'evil\n')
elif case == 'symlink-absolute':
    add('./link', tarfile.SYMTYPE, linkname='/etc')
    add('./link/stowage-evil.conf', data=b'evil\n')
elif case == 'symlink-chain':
    # each link alone stays inside; followed together, "l" is the parent of the root
    add('./sub/', tarfile.DIRTYPE, mode=0o755)
    add('./sub/up', tarfile.SYMTYPE, linkname='..')
    add('./l', tarfile.SYMTYPE, linkname='sub/up/..')
elif case == 'symlink-chain-reversed':
    # the same, with the outer link before the link it goes through
    add('./l', tarfile.SYMTYPE, linkname='sub/up/..')
    add('./sub/', tarfile.DIRTYPE, mode=0o755)
    add('./sub/up', tarfile.SYMTYPE, linkname='..')
elif case == 'replaces-symlink':
    add('./link', tarfile.SYMTYPE, linkname='/etc/passwd')
    add('./link', data=b'evil\n')
elif case == 'symlink-replaces-dir':
    add('./sub/', tarfile.DIRTYPE, mode=0o755)
    add('./sub', tarfile.SYMTYPE, linkname='/etc')
elif case == 'hardlink-missing':
    add('./hl', tarfile.LNKTYPE, linkname='./not-in-the-archive.txt')
elif case == 'hardlink-absolute':
    add('./hl', tarfile.LNKTYPE, linkname='/etc/passwd')
elif case == 'hardlink-dotdot':
    add('./hl', tarfile.LNKTYPE, linkname='../outside.txt')
elif case == 'chardev':
    add('./null', tarfile.CHRTYPE, devmajor=1, devminor=3, mode=0o666)
elif case == 'blockdev':
    add('./disk', tarfile.BLKTYPE, devmajor=7, devminor=0, mode=0o660)
elif case == 'benign':
    add('./sub/', tarfile.DIRTYPE, mode=0o755)
    add('./sub/up', tarfile.SYMTYPE, linkname='../harmless.txt')
    add('./hl', tarfile.LNKTYPE, linkname='./harmless.txt')
else:
    raise SystemExit('unknown case ' + case)
out.close()
`;

let counter = 0;

/** A set directory holding the crafted artifact and a manifest whose size and sha256 are right. */
async function craftedSet(kase: string): Promise<string> {
  counter += 1;
  const dir = join(sb.root, 'crafted', sb.project, `200001010000${String(counter).padStart(2, '0')}Z`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'data.tar.zst');
  const made = await exec('sh', ['-c', 'python3 -c "$1" "$2" | zstd -q -c > "$3"', 'sh', MAKE_TAR, kase, file]);
  if (made.code !== 0) throw new Error(`crafting ${kase} failed: ${made.stderr}`);
  writeManifestFile(dir, {
    format: 1,
    project: sb.project,
    env: 'dev',
    created: new Date().toISOString(),
    artifacts: [{ volume: 'data', file: 'data.tar.zst', method: 'tar', format: 'tar+zstd', bytes: statSync(file).size, sha256: sha256Of(file) }],
  });
  return dir;
}

let containersBefore: string[];

beforeAll(async () => {
  sb.writeStack(oneVolumeStack(sb.project));
  await createVolume(sb.project, 'data');
  await inVolume(volume, 'cd /d && printf "live\\n" > live.txt && mkdir keep && printf k > keep/k');
  await runService(sb.project, 'app', { mounts: [['data', '/data']] });
  containersBefore = await projectContainers(sb.project);
});

afterAll(async () => {
  await sb.cleanup();
});

describe('crafted archives: the control cases', () => {
  it('a crafted archive with only safe entries (in-volume symlink, hard link to an earlier entry) verifies', async () => {
    const set = await craftedSet('benign');
    const r = await sb.cli('verify', ['--backup', set]);
    expect(r.code, show(r)).toBe(0);
  });

  // A symlink's target is data: links that lead out only when followed through each other are restored as they are.
  it.each(['symlink-chain', 'symlink-chain-reversed'])('%s verifies and restores its links exactly, without following them', async (kase) => {
    const set = await craftedSet(kase);
    const r = await sb.cli('restore', ['--backup', set, '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect(await inVolume(volume, 'readlink /d/l; readlink /d/sub/up')).toBe('sub/up/..\n..\n');
  });
});

const CASES: Array<[string, string]> = [
  ['absolute', 'an absolute path'],
  ['dotdot', 'a ../ path'],
  ['nested-dotdot', 'a sub/../../ path'],
  ['symlink-escape', 'a symlink escaping the volume (link -> ../../etc) followed by a file written through it'],
  ['symlink-absolute', 'a symlink to an absolute path followed by a file written through it'],
  ['replaces-symlink', 'a file that replaces a symlink of the same name'],
  ['symlink-replaces-dir', 'a symlink that replaces a directory of the same name'],
  ['hardlink-missing', 'a hard link to a path that is not in the archive'],
  ['hardlink-absolute', 'a hard link to an absolute path (/etc/passwd)'],
  ['hardlink-dotdot', 'a hard link to ../outside.txt'],
  ['chardev', 'a character device'],
  ['blockdev', 'a block device'],
];

describe.each(CASES)('an artifact holding %s', (kase, _description) => {
  let set: string;

  beforeAll(async () => {
    set = await craftedSet(kase);
  });

  it('is refused by verify with exit 3', async () => {
    const r = await sb.cli('verify', ['--backup', set]);
    expect(r.code, show(r)).toBe(3);
    expect(r.stdout + r.stderr).toMatch(/unsafe entry|escapes|outside|device|\.\./);
  });

  it('is refused by restore --yes with exit 3, leaving the volume and the engine as they were', async () => {
    const before = await snapshot(volume);
    const r = await sb.cli('restore', ['--backup', set, '--yes']);
    expect(r.code, show(r)).toBe(3);
    expect(await snapshot(volume)).toEqual(before);
    expect(await projectContainers(sb.project)).toEqual(containersBefore);
  });
});
