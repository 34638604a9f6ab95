// docs/restic.md's "Restoring by hand with stock restic", followed as it is
// written: the block after its `hand-restore` marker runs with sh, stock
// restic and jq only, and brings a volume's exact tree back from a set made
// by backup.mjs, for both ways a volume is stored (a directory snapshot read
// on the local path, a tar stream through the archive endpoint).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Sandbox, createVolume, exactTree, exec, hostShell, mountpointOf, oneVolumeStack, parseJsonDocument, repoRoot, runService, show, uniqueProject } from '../helpers/engine.js';

const MARKER = '<!-- hand-restore:';

/** The shell block right after the marker in docs/restic.md. */
function handRestoreBlock(markdown: string): string {
  const at = markdown.indexOf(MARKER);
  if (at === -1) throw new Error('docs/restic.md has no hand-restore marker');
  const fence = /```sh\n([\s\S]*?)```/.exec(markdown.slice(at));
  if (fence?.[1] === undefined) throw new Error('no ```sh block after the hand-restore marker in docs/restic.md');
  return fence[1];
}

const sb = new Sandbox(uniqueProject('hr'));
const block = handRestoreBlock(readFileSync(join(repoRoot, 'docs/restic.md'), 'utf8'));
let mountpoint: string;
let repository: string;
let env: Record<string, string>;

beforeAll(async () => {
  sb.writeStack(oneVolumeStack(sb.project));
  await createVolume(sb.project, 'data');
  mountpoint = await mountpointOf(sb.volume('data'));
  await hostShell(
    String.raw`set -e; cd "$1"
printf 'a\n' > a; mkdir -p d/e; printf 'b\n' > d/e/b; ln d/e/b d/hard; ln -s ../a d/up; ln -s /etc/hostname abs; mkfifo pipe
printf 'nl\n' > "$(printf 'new\nline')"; printf 'x\n' > "$(printf 'caf\351')"
cp /bin/true capfile; setcap cap_net_bind_service+ep capfile; cp /bin/true su; chown 1000:1000 su; chmod 4755 su
mkdir d000; chmod 000 d000; chown -R 1000:1000 d; chown -h 1234:5678 abs; touch -h -d '2001-02-03 04:05:06' abs
touch -d '1999-09-09 09:09:09' d/e d; chown 1000:1000 .; chmod 0750 .; touch -d '2003-03-03 03:03:03' .`,
    mountpoint,
  );
  await runService(sb.project, 'app', { mounts: [['data', '/data']] });
  repository = join(sb.root, 'repository');
  env = { RESTIC_PASSWORD: 'hand restore test only', RESTIC_CACHE_DIR: join(sb.root, 'cache') };
}, 300_000);

afterAll(async () => {
  await sb.cleanup();
});

describe.each([
  { how: 'a directory snapshot (the local path)', via: 'local', format: 'tree' },
  { how: 'a tar stream (the archive endpoint)', via: 'archive', format: 'tar' },
])('stock restic and jq restore $how exactly, as docs/restic.md says', ({ via, format }) => {
  it('backs up, then the documented steps bring the tree back', async () => {
    const made = await sb.cli('backup', ['--to', `restic:${repository}`, '--init', '--via', via, '--json'], { env });
    expect(made.code, show(made)).toBe(0);
    expect(made.stdout).toContain(`"file": "${format === 'tree' ? 'data' : 'data.tar'}"`);
    const id = parseJsonDocument<{ id: string }>(made.stdout).id;
    const target = join(sb.root, `by-hand-${via}`);
    mkdirSync(target);
    const work = join(sb.root, `work-${via}`);
    mkdirSync(work);
    const r = await exec('sh', ['-eu', '-c', block], {
      cwd: work,
      env: { ...env, RESTIC_REPOSITORY: repository, PROJECT: sb.project, ENV: 'dev', VOLUME: 'data', TARGET: target },
    });
    expect(r.code, show(r)).toBe(0);
    // The block picked the newest set: the one just made.
    expect(JSON.parse(readFileSync(join(work, 'manifest.json'), 'utf8'))).toMatchObject({ id });
    expect(await exactTree(target)).toEqual(await exactTree(mountpoint));
  });
});
