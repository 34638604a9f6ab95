// The host tar commands of the local path, run for real on a temporary directory.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { hostTarCreate, parseIdentities, sameDirectory, seenByRunningContainer } from '../../src/engine/local-path.js';
import type { ContainerState } from '../../src/engine/inspect.js';

const dir = mkdtempSync(join(tmpdir(), 'stowage-local-path-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function listing(args: string[]): string[] {
  return execFileSync('sh', ['-c', '"$@" | tar -tf -', 'sh', 'tar', ...args], { encoding: 'latin1' }).split('\n').filter((l) => l !== '');
}

describe('hostTarCreate', () => {
  const root = join(dir, 'volume');
  mkdirSync(join(root, 'sub/deeper'), { recursive: true });
  writeFileSync(join(root, 'app.db'), 'live');
  writeFileSync(join(root, '.stowage-sqlite-x.y-0'), 'copy');
  writeFileSync(join(root, 'a*b'), 'star');
  writeFileSync(join(root, 'aXb'), 'x');
  writeFileSync(join(root, 'sub/deeper/f'), 'f');
  writeFileSync(join(root, 'sub/other'), 'o');
  const excludeFile = join(dir, 'exclude');
  writeFileSync(excludeFile, './app.db\n./a*b\n');

  it('names entries ./path, leaves out exactly what it is told (no wildcards) and writes a copy under the live name', () => {
    const cmd = hostTarCreate(root, { excludeFile, include: [], rename: [['.stowage-sqlite-x.y-0', 'app.db']] });
    expect(cmd.program).toBe('tar');
    const names = listing(cmd.args);
    expect(names).toContain('./app.db');
    expect(names).toContain('./aXb');
    expect(names).not.toContain('./a*b');
    expect(names.filter((n) => n === './app.db')).toHaveLength(1);
    expect(names.some((n) => n.includes('stowage-sqlite'))).toBe(false);
  });

  it('selects paths with their ancestors\' own entries only', () => {
    const names = listing(hostTarCreate(root, { excludeFile: undefined, include: ['sub/deeper'], rename: [] }).args);
    expect(names).toEqual(['./', './sub/', './sub/deeper/', './sub/deeper/f']);
  });
});

describe('the proof that a directory is the engine\'s', () => {
  it('accepts the same device and inode, and names the difference otherwise', () => {
    const st = statSync(dir, { bigint: true });
    expect(sameDirectory(dir, { dev: st.dev, ino: st.ino })).toBeUndefined();
    expect(sameDirectory(dir, { dev: st.dev, ino: st.ino + 1n })).toMatch(/is not the directory the engine mounts/);
    expect(sameDirectory(join(dir, 'missing'), { dev: st.dev, ino: st.ino })).toMatch(/does not exist here/);
    expect(sameDirectory(dir, undefined)).toMatch(/could not read/);
  });

  it('reads what a helper printed', () => {
    expect(parseIdentities('2049 1234\nmissing\n', 2)).toEqual([{ dev: 2049n, ino: 1234n }, undefined]);
    expect(() => parseIdentities('2049 1234\n', 2)).toThrow();
  });
});

describe('the proof through a running container (/proc/<pid>/root)', () => {
  // A stand-in for /proc: <pid>/cgroup and <pid>/root/<mount destination>, as the kernel shows a container's process.
  const proc = join(dir, 'proc');
  const id = 'f301c9638e6f6bf374690399a083d7f418828035b4ec3def878157b328f7dcf5';
  mkdirSync(join(proc, '41/root/data'), { recursive: true });
  writeFileSync(join(proc, '41/cgroup'), `0::/docker/${id}\n`);
  mkdirSync(join(proc, '42/root/srv/data'), { recursive: true });
  symlinkSync('/srv/data', join(proc, '42/root/data'));
  writeFileSync(join(proc, '42/cgroup'), `0::/system.slice/docker-${id}.scope\n`);
  mkdirSync(join(proc, '43/root/data'), { recursive: true });
  writeFileSync(join(proc, '43/cgroup'), '0::/user.slice/some-other-process\n');

  const volume = { kind: 'named' as const, name: 'shop_data', hostPath: undefined };
  const container = (pid: number, overrides: Partial<ContainerState> = {}): ContainerState => ({
    Id: id,
    Name: '/shop-app',
    State: { Running: true, Status: 'running', Pid: pid },
    Config: { Image: 'x', Labels: null, User: '', Env: null },
    Mounts: [{ Type: 'volume', Name: 'shop_data', Source: '/var/lib/docker/volumes/shop_data/_data', Destination: '/data', RW: true }],
    ...overrides,
  });

  it('sees the volume root where the container mounts it, when the process is the container\'s', () => {
    const st = statSync(join(proc, '41/root/data'), { bigint: true });
    expect(seenByRunningContainer(volume, [container(41)], proc)).toEqual({ dev: st.dev, ino: st.ino, by: 'container shop-app' });
  });

  it('proves nothing through a process whose cgroup does not name the container (another pid namespace, a reused pid)', () => {
    expect(seenByRunningContainer(volume, [container(43)], proc)).toBeUndefined();
  });

  it('proves nothing through a symlink on the way (an absolute one would resolve on this host)', () => {
    expect(seenByRunningContainer(volume, [container(42)], proc)).toBeUndefined();
  });

  it('proves nothing through a stopped container or one that mounts another volume', () => {
    expect(seenByRunningContainer(volume, [container(41, { State: { Running: false, Status: 'exited', Pid: 0 } })], proc)).toBeUndefined();
    expect(seenByRunningContainer({ ...volume, name: 'other_data' }, [container(41)], proc)).toBeUndefined();
  });

  it('matches a bind mount by its host directory', () => {
    const bind = { kind: 'bind' as const, name: 'files', hostPath: '/opt/shop/files' };
    const mounted = container(41, { Mounts: [{ Type: 'bind', Source: '/opt/shop/files', Destination: '/data', RW: true }] });
    expect(seenByRunningContainer(bind, [mounted], proc)?.by).toBe('container shop-app');
    expect(seenByRunningContainer(bind, [container(41)], proc)).toBeUndefined();
  });
});
