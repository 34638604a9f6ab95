// Faults of a backup into a restic repository: the server goes away in the
// middle of an upload, and the repository's disk fills up. Each time: exit 1,
// no set that `latest` picks, the writers running again, nothing lost; after a
// dropped connection the next run removes our dead run's stale lock (and
// never a live one: restic-servers.test.ts) and succeeds.
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQLITE_IMAGE, Sandbox, containerState, createVolume, docker, exec, hostShell, mountpointOf, parseJsonDocument, runService, sha256Of, show, uniqueProject, waitFor, type RunResult } from '../helpers/engine.js';
import { startRestServer, type Server } from '../helpers/restic-servers.js';

const sb = new Sandbox(uniqueProject('rf'));
let work: string;
let passwordFile: string;
let rest: Server;
let bigMount: string;

const STACK = `app: ${sb.project}
helper: { image: stowage-test/busybox:1 }
volumes:
  big: {}
  db:
    backup: { method: sqlite, databases: [app.db] }
services:
  app:
    image: stowage-test/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    mounts: [big:/data]
  sql:
    image: ${SQLITE_IMAGE}
    command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
    mounts: [db:/data]
environments:
  dev: {}
`;

function env(): Record<string, string> {
  return { RESTIC_PASSWORD_FILE: passwordFile, RESTIC_CACHE_DIR: join(work, 'cache') };
}

/** A restic run over a connection that died retries for minutes before it gives up: a hang is only much later. */
const GIVES_UP_MS = 420_000;

const cli = (script: 'backup' | 'verify' | 'restore', args: string[]): Promise<RunResult> => sb.cli(script, args, { env: env(), hangAfterMs: GIVES_UP_MS });

async function stockRestic(repository: string, args: string[]): Promise<RunResult> {
  return exec('restic', ['-r', repository, ...args], { env: env() });
}

function packsIn(repoDir: string): number {
  const data = join(repoDir, 'data');
  if (!existsSync(data)) return 0;
  return readdirSync(data).reduce((n, sub) => n + readdirSync(join(data, sub)).length, 0);
}

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'stowage-restic-faults-'));
  passwordFile = join(work, 'password');
  writeFileSync(passwordFile, 'faults test password\n', { mode: 0o600 });
  rest = await startRestServer(work);
  sb.writeStack(STACK);
  await createVolume(sb.project, 'big');
  await createVolume(sb.project, 'db');
  bigMount = await mountpointOf(sb.volume('big'));
  await hostShell('printf "small\\n" > "$1/small"', bigMount);
  await runService(sb.project, 'app', { mounts: [['big', '/data']] });
  await runService(sb.project, 'sql', { image: SQLITE_IMAGE, mounts: [['db', '/data']] });
  await docker('exec', sb.container('sql'), 'sqlite3', '/data/app.db', "CREATE TABLE t(v TEXT); INSERT INTO t VALUES ('x');");
}, 300_000);

afterAll(async () => {
  await rest?.stop();
  await sb.cleanup();
  if (work !== undefined) rmSync(work, { recursive: true, force: true });
});

describe('the connection to the repository drops in the middle of a backup', () => {
  const name = 'dropped';
  let earlier: string;
  let failed: RunResult;

  beforeAll(async () => {
    const first = await cli('backup', ['--to', `restic:${rest.repository(name)}`, '--init', '--json']);
    expect(first.code, show(first)).toBe(0);
    earlier = parseJsonDocument<{ id: string }>(first.stdout).id;
    // Enough random data that restic is still uploading when the server goes.
    await hostShell('head -c 400000000 /dev/urandom > "$1/random.bin"', bigMount);
    const packs = packsIn(join(rest.dataDir, name));
    const run = sb.spawnCli('backup', ['--to', `restic:${rest.repository(name)}`], { env: env() });
    // The db volume (an online copy, first) is in; the big one is being uploaded: stop the server now.
    await waitFor('restic uploading the big volume', () => packsIn(join(rest.dataDir, name)) >= packs + 2, 3000, 100);
    await rest.stop();
    failed = await run.result;
    await rest.start();
  }, GIVES_UP_MS + 120_000);

  it('fails with exit 1, saying the repository cannot be reached', () => {
    expect(failed.code, show(failed)).toBe(1);
    expect(failed.stderr).toMatch(/cannot reach restic:rest:http:\/\/127\.0\.0\.1:\d+\/dropped/);
  });

  it('starts the writers it stopped again', async () => {
    expect((await containerState(sb.container('app'))).running).toBe(true);
  });

  it('leaves no set that latest picks: the volume that got in is an incomplete set', async () => {
    const snapshots = (JSON.parse((await stockRestic(rest.repository(name), ['snapshots', '--json', '--no-lock'])).stdout) as Array<{ tags?: string[] }> | null) ?? [];
    const sets = new Set(snapshots.map((s) => s.tags?.find((t) => t.startsWith('set='))));
    expect(sets.size).toBe(2);
    // A restore's plan (it reads and checks the set it would restore) names the set latest is.
    const planned = await sb.cli('restore', ['--to', `restic:${rest.repository(name)}`, '--backup', 'latest', '--dry-run'], { env: env(), hangAfterMs: GIVES_UP_MS });
    expect(planned.code, show(planned)).toBe(0);
    expect(planned.stdout).toContain(`restore from restic:${rest.repository(name)} set ${earlier} `);
  });

  it('the next run removes the stale lock our dead restic left, forgets the incomplete set and succeeds', async () => {
    const locks = (await stockRestic(rest.repository(name), ['list', 'locks', '--no-lock'])).stdout.split('\n').filter((l) => l !== '');
    expect(locks.length).toBeGreaterThanOrEqual(1);
    const next = await cli('backup', ['--to', `restic:${rest.repository(name)}`, '--json']);
    expect(next.code, show(next)).toBe(0);
    expect(next.stderr).toMatch(/removing \d+ stale restic locks? of dead runs on this host/);
    expect(next.stderr).toMatch(/forgot incomplete set \d{8}T\d{6}Z/);
    expect((await stockRestic(rest.repository(name), ['list', 'locks', '--no-lock'])).stdout.trim()).toBe('');
    const verified = await cli('verify', ['--to', `restic:${rest.repository(name)}`, '--backup', parseJsonDocument<{ id: string }>(next.stdout).id]);
    expect(verified.code, show(verified)).toBe(0);
  });
});

describe('the repository\'s disk is full', () => {
  let full: string;
  let mounted = false;

  beforeAll(async () => {
    full = join(work, 'full');
    mkdirSync(full);
    await docker('version'); // the engine answers before anything is mounted
    const m = await exec('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'stowage-test-full', full]);
    expect(m.code, show(m)).toBe(0);
    mounted = true;
  });

  afterAll(async () => {
    if (mounted) await exec('umount', [full]);
  });

  it('fails with exit 1 naming the full repository; the writers run, the volume and the earlier set are whole', async () => {
    await hostShell('rm -f "$1/random.bin"', bigMount);
    const repo = `restic:${join(full, 'repo')}`;
    const first = await cli('backup', ['--to', repo, '--init', '--json']);
    expect(first.code, show(first)).toBe(0);
    const earlier = parseJsonDocument<{ id: string }>(first.stdout).id;
    await hostShell('head -c 40000000 /dev/urandom > "$1/random.bin"', bigMount);
    const hash = sha256Of(join(bigMount, 'random.bin'));
    const r = await cli('backup', ['--to', repo]);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toMatch(/is full/);
    expect((await containerState(sb.container('app'))).running).toBe(true);
    expect(sha256Of(join(bigMount, 'random.bin'))).toBe(hash);
    const verified = await cli('verify', ['--to', repo, '--backup', 'latest', '--json']);
    expect(verified.code, show(verified)).toBe(0);
    expect(parseJsonDocument<{ set: string }>(verified.stdout).set).toMatch(new RegExp(`set ${earlier}$`));
  });
});

describe('a damaged repository', () => {
  function packs(repoDir: string): Set<string> {
    const data = join(repoDir, 'data');
    return new Set(readdirSync(data).flatMap((sub) => readdirSync(join(data, sub)).map((name) => join(data, sub, name))));
  }

  it('verify exits 3 naming the volume whose data is damaged, and not the volume that reads back whole', async () => {
    const repoDir = join(work, 'damaged');
    const repo = `restic:${repoDir}`;
    const first = await cli('backup', ['--to', repo, '--init', '--volume', 'db']);
    expect(first.code, show(first)).toBe(0);
    const before = packs(repoDir);
    await hostShell('head -c 3000000 /dev/urandom > "$1/unique.bin"', bigMount);
    const big = await cli('backup', ['--to', repo, '--volume', 'big']);
    expect(big.code, show(big)).toBe(0);
    const bigPacks = [...packs(repoDir)].filter((p) => !before.has(p));
    expect(bigPacks.length).toBeGreaterThan(0);
    const both = await cli('backup', ['--to', repo, '--json']);
    expect(both.code, show(both)).toBe(0);
    const id = parseJsonDocument<{ id: string }>(both.stdout).id;
    // Bytes in the middle of every pack only the big volume's data went into are overwritten, as a failing disk would.
    for (const pack of bigPacks) {
      const fd = openSync(pack, 'r+');
      try {
        writeSync(fd, Buffer.alloc(256, 0x5a), 0, 256, Math.floor(statSync(pack).size / 2));
      } finally {
        closeSync(fd);
      }
    }
    const r = await cli('verify', ['--to', repo, '--backup', id, '--json']);
    expect(r.code, show(r)).toBe(3);
    const doc = parseJsonDocument<{ repository: { ok: boolean }; artifacts: Array<{ volume: string; ok: boolean }> }>(r.stdout);
    expect(doc.repository.ok).toBe(false);
    expect(doc.artifacts.map((a) => [a.volume, a.ok])).toEqual([['big', false], ['db', true]]);
    expect(r.stderr).toMatch(/verification failed: volume big\b/);
  });
});
