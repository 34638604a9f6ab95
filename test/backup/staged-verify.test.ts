// A restore reads its artifact once: it verifies while it stages. Nothing is
// swapped in before the whole artifact verified, and a failure late in the
// stream (a flipped byte in the last megabyte) leaves the live volume exactly
// as it was. On the local path a rollback writes only what changed: unchanged
// files are linked from the live volume into staging, and the result is still
// exactly the backup.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployedWithBackup, Sandbox, containerState, exactTree, hostShell, parseJsonDocument, readManifestFile, show, uniqueProject } from '../helpers/engine.js';

const sb = new Sandbox(uniqueProject('sv'));
let mountpoint: string;
let atBackup: string[];
let setPath: string;

const POPULATE = String.raw`set -e
cd "$1"
head -c 40000000 /dev/urandom > big.bin
mkdir -p mail/inbox notes
i=0; while [ $i -lt 1000 ]; do printf "message %d\n" $i > "mail/inbox/$i.eml"; i=$((i+1)); done
i=0; while [ $i -lt 200 ]; do printf "note %d\n" $i > "notes/$i.txt"; i=$((i+1)); done
head -c 4000000 /dev/urandom > tail.bin
chown -R 1000:1000 mail; touch -d '2005-05-05 05:05:05' notes/1.txt
`;

/** 1% of the files: some changed, some deleted, some added. */
const ONE_PERCENT = String.raw`set -e
cd "$1"
i=0; while [ $i -lt 5 ]; do printf "changed %d\n" $i > "mail/inbox/$i.eml"; i=$((i+1)); done
rm -f mail/inbox/500.eml mail/inbox/501.eml notes/7.txt
printf added > mail/inbox/new-1.eml; printf added > notes/new.txt
chmod 600 notes/3.txt; touch -d '2011-11-11 11:11:11' notes/4.txt
`;

beforeAll(async () => {
  ({ mountpoint, setPath, atBackup } = await deployedWithBackup(sb, POPULATE));
}, 300_000);

afterAll(async () => {
  await sb.cleanup();
});

describe.each(['local', 'archive'])('through the %s path', (via) => {
  it('a byte flipped in the last megabyte of the artifact fails the restore (exit 3); the live volume is exactly as it was, staging gone, the app running', async () => {
    await hostShell('printf changed > "$1/mail/inbox/9.eml"', mountpoint);
    const before = await exactTree(mountpoint);
    const damaged = join(sb.root, `damaged-${via}`, sb.project, '20000101T000000Z');
    execFileSync('sh', ['-c', 'mkdir -p "$2" && cp -a "$1"/. "$2"/', 'sh', setPath, damaged]);
    const artifact = join(damaged, 'data.tar.zst');
    const size = statSync(artifact).size;
    expect(size).toBeGreaterThan(2_000_000);
    execFileSync('sh', ['-c', 'printf "\\377" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none', 'sh', artifact, String(size - 500_000)]);
    const r = await sb.cli('restore', ['--backup', damaged, '--via', via, '--yes']);
    expect(r.code, show(r)).toBe(3);
    expect(r.stderr).toMatch(/verification of data\.tar\.zst failed while it was restored; nothing was swapped in/);
    expect(await exactTree(mountpoint)).toEqual(before);
    expect(readdirSync(mountpoint).filter((n) => n.startsWith('.stowage-'))).toEqual([]);
    expect((await containerState(sb.container('app'))).running).toBe(true);
  });

  it('a rollback after 1% of the files changed gives back exactly the backup', async () => {
    await hostShell(ONE_PERCENT, mountpoint);
    const r = await sb.cli('restore', ['--backup', setPath, '--via', via, '--yes', '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(await exactTree(mountpoint)).toEqual(atBackup);
    const [restored] = parseJsonDocument<{ restored: Array<{ unchangedFilesKept?: number }> }>(r.stdout).restored;
    // The local path keeps what did not change (about 99% of 1,202 files); the endpoint writes everything.
    if (via === 'local') expect(restored?.unchangedFilesKept).toBeGreaterThan(1150);
    else expect(restored?.unchangedFilesKept ?? 0).toBe(0);
  });
});

it('the set used above is whole (the damaged copies were separate)', () => {
  expect(readManifestFile(setPath).artifacts).toHaveLength(1);
});
