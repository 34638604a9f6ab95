// Nothing is lost under faults, races and hostile backup sets. Each case says
// what it did; each asserts the volume (exactly the old or exactly the new
// content), the sets (`latest` never points at a bad one), the containers
// (running again, or stopped with a clear message) and that nothing stowage
// made is left behind.
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  deployedWithBackup,
  Sandbox,
  containerState,
  countingZstd,
  docker,
  exactTree,
  exec,
  groupAlive,
  hostShell,
  parseJsonDocument,
  projectContainers,
  readManifestFile,
  freezeSwaps,
  runningHelpers,
  show,
  uniqueProject,
  waitFor,
  within,
  writeManifestFile,
  type RunResult,
} from '../helpers/engine.js';

const sb = new Sandbox(uniqueProject('fl'));
const app = sb.container('app');
const lockName = `${sb.project}-stowage-lock`;
let mountpoint: string;
/** The content at backup time (what a restore brings back) and the set holding it. */
let atBackup: string[];
let setPath: string;


/** Many top-level entries make a swap slow enough to be caught in the middle. */
const POPULATE = String.raw`set -e
cd "$1"
i=0; while [ $i -lt 3000 ]; do printf "$i\n" > "file-$i"; i=$((i+1)); done
mkdir sub; printf 'keep\n' > sub/keep.txt; printf 'a\n' > a.txt
`;

/** The live content after the backup: what a failed restore must leave exactly as it is. */
const CHANGE = String.raw`set -e
cd "$1"
rm -f file-1 file-2; printf changed > file-3; printf new > added.txt
`;

beforeAll(async () => {
  ({ mountpoint, setPath, atBackup } = await deployedWithBackup(sb, POPULATE, ['dev', 'prod']));
}, 300_000);

afterAll(async () => {
  await sb.cleanup();
});

async function changeLiveContent(): Promise<string[]> {
  await hostShell(`${CHANGE}\nrm -f "$1/added-$$"`, mountpoint);
  return exactTree(mountpoint);
}

async function expectNothingLeftBehind(): Promise<void> {
  expect(await projectContainers(sb.project)).toEqual([app]);
  expect(readdirSync(mountpoint).filter((n) => n.startsWith('.stowage-'))).toEqual([]);
}

/** A copy of the good set with its manifest changed by `edit`, in a root of its own. */
function tamperedSet(tag: string, edit: (m: ReturnType<typeof readManifestFile>) => void): string {
  const dir = join(sb.root, `tampered-${tag}`, sb.project, '20000101T000000Z');
  mkdirSync(join(dir, '..'), { recursive: true });
  cpSync(setPath, dir, { recursive: true });
  const manifest = readManifestFile(dir);
  edit(manifest);
  writeManifestFile(dir, manifest);
  return dir;
}

describe('a hostile or damaged manifest is a verification failure and touches nothing', () => {
  const cases: Array<[string, (m: ReturnType<typeof readManifestFile>) => void]> = [
    ['paths leading out of the volume (../a.txt)', (m) => void (m.artifacts[0] !== undefined && (m.artifacts[0]['paths'] = ['../a.txt']))],
    ['an absolute path', (m) => void (m.artifacts[0] !== undefined && (m.artifacts[0]['paths'] = ['/etc/passwd']))],
    ['a file name outside the set directory', (m) => void (m.artifacts[0] !== undefined && (m.artifacts[0].file = '../../outside.tar.zst'))],
    ['the same volume twice', (m) => void m.artifacts.push({ ...(m.artifacts[0] ?? { volume: 'data', file: 'x', method: 'tar', bytes: 0, sha256: '' }) })],
    ['an unknown method', (m) => void (m.artifacts[0] !== undefined && (m.artifacts[0].method = 'rsync'))],
    ['no artifacts at all', (m) => void (m.artifacts = [])],
  ];

  it.each(cases)('%s: verify exits 3 and restore exits 3, the volume and the app as they were', async (_what, edit) => {
    const set = tamperedSet(_what.replace(/\W+/g, '-'), edit);
    const verify = await sb.cli('verify', ['--backup', set]);
    expect(verify.code, show(verify)).toBe(3);
    const before = await exactTree(mountpoint);
    const { startedAt } = await containerState(app);
    const restore = await sb.cli('restore', ['--backup', set, '--yes']);
    expect(restore.code, show(restore)).toBe(3);
    expect(await exactTree(mountpoint)).toEqual(before);
    expect(await containerState(app)).toEqual({ running: true, startedAt });
    await expectNothingLeftBehind();
  });

  it('paths the archive does not hold: verify exits 3 naming them', async () => {
    const set = tamperedSet('missing-path', (m) => void (m.artifacts[0] !== undefined && (m.artifacts[0]['paths'] = ['not-in-the-archive.txt'])));
    const r = await sb.cli('verify', ['--backup', set]);
    expect(r.code, show(r)).toBe(3);
    expect(r.stdout + r.stderr).toMatch(/lists not-in-the-archive\.txt, which the archive does not hold/);
  });

  it('a manifest that is not JSON: verify exits 3, and latest skips that set', async () => {
    const r1 = await sb.cli('backup', ['--to', sb.to, '--json']);
    expect(r1.code, show(r1)).toBe(0);
    const newest = parseJsonDocument<{ path: string }>(r1.stdout).path;
    writeFileSync(join(newest, 'manifest.json'), '{"format": 1, "artifa');
    const verify = await sb.cli('verify', ['--backup', newest]);
    expect(verify.code, show(verify)).toBe(3);
    const latest = await sb.cli('verify', ['--backup', 'latest', '--to', sb.to, '--json']);
    expect(latest.code, show(latest)).toBe(0);
    expect(parseJsonDocument<{ set: string }>(latest.stdout).set).not.toBe(newest);
    expect(latest.stderr).toMatch(/damaged manifest and is skipped/);
  });
});

describe('empty and doubled selections', () => {
  it('backup --path of a path that is not there exits 1 naming it, and makes no set', async () => {
    const before = sb.sets();
    const r = await sb.cli('backup', ['--to', sb.to, '--volume', 'data', '--path', 'nonexistent']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/--path nonexistent matches nothing in the volume/);
    expect(sb.sets()).toEqual(before);
    expect((await containerState(app)).running).toBe(true);
  });

  it.each([['backup'], ['restore']] as const)('%s --path . is refused with exit 2 before anything stops', async (script) => {
    const { startedAt } = await containerState(app);
    const r = await sb.cli(script, [...(script === 'restore' ? ['--backup', setPath, '--yes'] : ['--to', sb.to]), '--volume', 'data', '--path', '.']);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/is the whole volume/);
    expect(await containerState(app)).toEqual({ running: true, startedAt });
  });

  it('backup --volume data --volume data makes one artifact', async () => {
    const r = await sb.cli('backup', ['--to', sb.to, '--volume', 'data', '--volume', 'data', '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ artifacts: unknown[] }>(r.stdout).artifacts).toHaveLength(1);
  });

  it('restore --volume data --volume data swaps once and gives back the set', async () => {
    const r = await sb.cli('restore', ['--backup', setPath, '--volume', 'data', '--volume', 'data', '--yes', '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ restored: unknown[] }>(r.stdout).restored).toHaveLength(1);
    expect(await exactTree(mountpoint)).toEqual(atBackup);
  });
});

describe('a set made in another environment', () => {
  let prodSet: string;

  beforeAll(() => {
    prodSet = tamperedSet('prod', (m) => void (m.env = 'prod'));
  });

  it('is refused without --from-env (exit 2), naming the environment and the flag', async () => {
    const r = await sb.cli('restore', ['--backup', prodSet, '--yes']);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/made in environment prod.*--from-env prod/);
  });

  it('is restored with --from-env prod, and the plan names where it was made', async () => {
    const r = await sb.cli('restore', ['--backup', prodSet, '--from-env', 'prod', '--dry-run']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`made in ${sb.project}-prod`));
  });

  it('is never what --backup latest picks for another environment', async () => {
    const root = join(sb.root, 'tampered-prod');
    const r = await sb.cli('restore', ['--backup', 'latest', '--to', root, '--yes']);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/no complete backup set .* made in environment dev.*--from-env prod/);
  });
});

describe('one lock per project and engine, whatever the backup root', () => {
  it('a backup to another --to while a restore runs is refused (exit 1) and the restore finishes exactly', async () => {
    await changeLiveContent();
    const seam = countingZstd(join(sb.root, 'seam-lock'), 0);
    const restore = sb.spawnCli('restore', ['--backup', setPath, '--yes'], { env: { PATH: `${seam.binDir}:${process.env['PATH'] ?? ''}` }, direct: true });
    try {
      await waitFor('the restore to stream', () => existsSync(seam.gated));
      const other = await sb.cli('backup', ['--to', join(sb.root, 'other-root')]);
      expect(other.code, show(other)).toBe(1);
      expect(other.stderr).toMatch(/another stowage run holds the lock of project .* \(restore, pid \d+/);
      // A prune of another root, and a clean start, wait their turn the same way and change nothing.
      const pruning = await sb.cli('backup', ['--to', join(sb.root, 'other-root'), '--prune']);
      expect(pruning.code, show(pruning)).toBe(1);
      const cleanStart = await exec('npx', ['zx', 'scripts/clean-start.mjs', '--stack', sb.stack, '--stacks-dir', sb.stacksDir, '--no-backup', '--yes'], { hangAfterMs: 75_000 });
      expect(cleanStart.code, show(cleanStart)).toBe(1);
      expect(cleanStart.stderr).toMatch(/another stowage run holds the lock/);
      expect(await projectContainers(sb.project)).toEqual(expect.arrayContaining([app]));
    } finally {
      seam.open();
    }
    const done = await restore.result;
    expect(done.code, show(done)).toBe(0);
    expect(await exactTree(mountpoint)).toEqual(atBackup);
    expect((await containerState(app)).running).toBe(true);
    await expectNothingLeftBehind();
  });

  it('a restore from a copy of a set elsewhere creates nothing next to the copy', async () => {
    const copy = join(sb.root, 'copies', 'a-copy-of-a-set');
    mkdirSync(join(sb.root, 'copies'), { recursive: true });
    cpSync(setPath, copy, { recursive: true });
    const r = await sb.cli('restore', ['--backup', copy, '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect(readdirSync(join(sb.root, 'copies'))).toEqual(['a-copy-of-a-set']);
    expect(existsSync(join(sb.root, sb.project))).toBe(false);
  });

  it('a restore SIGKILLed while staging is undone by a backup to another root: staged copy removed, never archived, app started', async () => {
    const old = await changeLiveContent();
    const seam = countingZstd(join(sb.root, 'seam-kill-staging'), 0);
    const restore = sb.spawnCli('restore', ['--backup', setPath, '--yes'], { env: { PATH: `${seam.binDir}:${process.env['PATH'] ?? ''}` }, direct: true });
    const pgid = restore.child.pid ?? 0;
    await waitFor('the restore to stream', () => existsSync(seam.gated));
    await waitFor('the app to be stopped', async () => !(await containerState(app)).running);
    process.kill(-pgid, 'SIGKILL');
    seam.open();
    await within(restore.result, 30_000);
    await waitFor('the killed restore to be gone', () => !groupAlive(pgid));
    expect(readdirSync(mountpoint).some((n) => n.startsWith('.stowage-restore-'))).toBe(true);
    const otherRoot = join(sb.root, 'another-root');
    const r = await sb.cli('backup', ['--to', otherRoot, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stderr).toMatch(/removed the staged copy an interrupted restore .* left in volume/);
    expect(r.stderr).toMatch(/started .* again: an interrupted run/);
    expect(await exactTree(mountpoint)).toEqual(old);
    const artifact = join(parseJsonDocument<{ path: string }>(r.stdout).path, 'data.tar.zst');
    expect((await hostShell('zstd -dc "$1" | tar -tf -', artifact)).split('\n').filter((n) => n.includes('.stowage-'))).toEqual([]);
    expect((await containerState(app)).running).toBe(true);
    await expectNothingLeftBehind();
  });
});

describe('an interrupted swap', () => {
  // 20,000 more entries at the volume root make the swap last long enough to be caught mid-way
  // (busybox runs mv as a builtin: a few thousand entries move in a fraction of a second).
  let swapSet: string;
  let atSwapBackup: string[];

  beforeAll(async () => {
    for (let i = 0; i < 20_000; i++) writeFileSync(join(mountpoint, `many-${i}`), `${i}\n`);
    const r = await sb.cli('backup', ['--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    swapSet = parseJsonDocument<{ path: string }>(r.stdout).path;
    atSwapBackup = await exactTree(mountpoint);
  }, 300_000);

  async function restoreCaughtMidSwap(onSwap: (restore: { pgid: number }) => Promise<void>): Promise<RunResult | undefined> {
    const restore = sb.spawnCli('restore', ['--backup', swapSet, '--yes'], { direct: true });
    const pgid = restore.child.pid ?? 0;
    // inotify, not polling: the moment the swap makes its old-content directory, it is mid-swap,
    // and it is frozen there at once (its helper is killed next; the freeze makes that deterministic).
    const caught = new Promise<void>((resolve, reject) => {
      const watcher = watch(mountpoint, (_event, name) => {
        if (typeof name === 'string' && name.startsWith('.stowage-old-')) {
          watcher.close();
          if (freezeSwaps().length === 0) reject(new Error('the swap made its old-content directory, but no swap process was found to freeze'));
          else resolve();
        }
      });
      void restore.result.then((r) => {
        watcher.close();
        reject(new Error(`the restore ended before its swap was caught: ${show(r)}`));
      });
    });
    await caught;
    await onSwap({ pgid });
    return within(restore.result, 120_000);
  }

  it('whose helper is killed (OOM, engine crash) is finished by the restore itself: exactly the set, app running', async () => {
    await changeLiveContent();
    const result = await restoreCaughtMidSwap(async () => {
      const helpers = await runningHelpers(sb.project);
      expect(helpers.length).toBeGreaterThan(0);
      await docker('kill', ...helpers);
    });
    expect(result?.code, result === undefined ? 'hung' : show(result)).toBe(0);
    expect(await exactTree(mountpoint)).toEqual(atSwapBackup);
    expect((await containerState(app)).running).toBe(true);
    await expectNothingLeftBehind();
  });

  it('whose restore and helper are both SIGKILLed keeps the app stopped, and the next backup finishes the swap first, then archives exactly the set', async () => {
    await changeLiveContent();
    await restoreCaughtMidSwap(async ({ pgid }) => {
      process.kill(-pgid, 'SIGKILL');
      const helpers = await runningHelpers(sb.project);
      if (helpers.length > 0) await exec('docker', ['kill', ...helpers]);
      await waitFor('the killed restore to be gone', () => !groupAlive(pgid));
    });
    expect((await containerState(app)).running).toBe(false);
    expect(readdirSync(mountpoint)).toContain('.stowage-swap.json');
    const r = await sb.cli('backup', ['--to', sb.to, '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stderr).toMatch(/finished the restore an interrupted run .* had begun to swap into volume/);
    expect(await exactTree(mountpoint)).toEqual(atSwapBackup);
    const newest = parseJsonDocument<{ path: string }>(r.stdout).path;
    expect((await hostShell('zstd -dc "$1" | tar -tf - | grep -c "stowage-" || true', join(newest, 'data.tar.zst'))).trim()).toBe('0');
    const latest = await sb.cli('verify', ['--backup', 'latest', '--to', sb.to, '--json']);
    expect(parseJsonDocument<{ set: string; ok: boolean }>(latest.stdout)).toMatchObject({ set: newest, ok: true });
    expect((await containerState(app)).running).toBe(true);
    await expectNothingLeftBehind();
  });

  it('a volume holding content moved aside that no journal explains is refused by backup (exit 1), which names it and stops nothing', async () => {
    await hostShell('mkdir "$1/.stowage-old-unknown" && printf x > "$1/.stowage-old-unknown/x"', mountpoint);
    const { startedAt } = await containerState(app);
    const before = sb.sets();
    const r = await sb.cli('backup', ['--to', sb.to]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/\.stowage-old-unknown/);
    expect(sb.sets()).toEqual(before);
    expect(await containerState(app)).toEqual({ running: true, startedAt });
    await hostShell('rm -rf "$1/.stowage-old-unknown"', mountpoint);
  });
});

describe('a full backup disk', () => {
  const tmpfs = join('/tmp', `stowage-full-${sb.project}`);

  beforeAll(async () => {
    mkdirSync(tmpfs, { recursive: true });
    await exec('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', tmpfs]);
    await hostShell('head -c 4000000 /dev/urandom > "$1/random.bin"', mountpoint);
  });

  afterAll(async () => {
    await exec('umount', [tmpfs]);
    await hostShell('rm -f "$1/random.bin"', mountpoint);
  });

  it('fails with exit 1 naming the filesystem and its free space, leaves no set, the app running and no lock', async () => {
    const r = await sb.cli('backup', ['--to', tmpfs]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/no space left on the filesystem of .*stowage-full.* \(.* free of .*\)/);
    expect(readdirSync(join(tmpfs, sb.project)).filter((n) => /^\d{8}T/.test(n))).toEqual([]);
    expect((await containerState(app)).running).toBe(true);
    await expectNothingLeftBehind();
    const next = await sb.cli('backup', ['--to', sb.to]);
    expect(next.code, show(next)).toBe(0);
  });
});

describe('private copies a killed verify left', () => {
  it('are removed by the next run of any command', async () => {
    const gone = await exec('sh', ['-c', 'sh -c "echo \\$\\$"']);
    const deadPid = gone.stdout.trim();
    const dir = join('/tmp', `stowage-${process.getuid?.() ?? 0}`, `verify-${deadPid}-1-abcdef`);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(dir, 'db-0'), 'plaintext database copy');
    const r = await sb.cli('verify', ['--backup', setPath]);
    expect(r.code, show(r)).toBe(0);
    expect(existsSync(dir)).toBe(false);
  });
});

describe('an engine that does not answer', () => {
  it('is named as such, not as a failing docker command', async () => {
    const r = await sb.cli('backup', ['--to', sb.to], { env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } });
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/cannot reach the Docker engine/);
  });
});

it('the lock is gone after all of the above', async () => {
  expect(await projectContainers(sb.project)).not.toContain(lockName);
  expect(readFileSync(join(setPath, 'manifest.json'), 'utf8')).toContain('"format": 1');
});
