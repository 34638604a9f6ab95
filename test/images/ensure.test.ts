// `npm test` and `npm run bench` on a machine that never built the test images:
// they build what is missing once, reuse it afterwards, and say what to do when
// they cannot. The images everyone else uses stay untouched: these tests build
// into a tag prefix of their own and remove only that.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ensureTestImages, testImageTag } from './ensure.js';
import { repoRoot } from '../helpers/run.js';

const prefix = `stowage-test-fresh-${randomBytes(3).toString('hex')}`;
const tag = testImageTag('busybox', prefix);

function imageId(name: string): string | undefined {
  const r = spawnSync('docker', ['image', 'inspect', '--format', '{{.Id}}', name], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

afterAll(() => {
  spawnSync('docker', ['image', 'rm', '--force', tag], { stdio: 'ignore' });
});

describe('test images on a machine that never built them', () => {
  it('are built on the first run and reused, unchanged, on the next', async () => {
    expect(imageId(tag)).toBeUndefined();

    const lines: string[] = [];
    const first = await ensureTestImages(['busybox'], { prefix, log: (line) => lines.push(line) });
    expect(first).toEqual({ built: [tag], reused: [] });
    expect(lines[0]).toBe(`building the test images ${tag} (once: later runs reuse them)`);
    const id = imageId(tag);
    expect(id).toMatch(/^sha256:/);
    const user = spawnSync('docker', ['run', '--rm', '--network', 'none', tag, 'id', 'app'], { encoding: 'utf8' });
    expect(user.stdout.trim()).toBe('uid=1000(app) gid=1000(app) groups=1000(app)');

    const second = await ensureTestImages(['busybox'], { prefix, log: (line) => lines.push(`again: ${line}`) });
    expect(second).toEqual({ built: [], reused: [tag] });
    expect(lines.filter((l) => l.startsWith('again: '))).toEqual([]);
    expect(imageId(tag)).toBe(id);
  });

  it('fail with what to do when no engine answers', async () => {
    const missing = `${prefix}-noengine`;
    await expect(ensureTestImages(['busybox'], { prefix: missing, env: { DOCKER_HOST: 'unix:///nonexistent/docker.sock' } })).rejects.toThrow(
      `the test images ${missing}/busybox:1 are missing and could not be built: the Docker engine is not reachable (Cannot connect to the Docker daemon at unix:///nonexistent/docker.sock. Is the docker daemon running?); start it`,
    );
  });

  it('fail with what to do when they are missing and the user is not root, and build nothing', () => {
    const missing = `${prefix}-nonroot`;
    // A member of the socket's group: it reaches the engine, but cannot build.
    const socketGroup = statSync('/var/run/docker.sock').gid;
    const home = mkdtempSync(join(tmpdir(), 'stowage-nonroot-'));
    try {
      const r = spawnSync(
        'setpriv',
        ['--reuid=65534', '--regid=65534', `--groups=${socketGroup}`, 'bash', join(repoRoot, 'test/images/build.sh'), 'busybox'],
        { encoding: 'utf8', env: { ...process.env, HOME: home, STOWAGE_TEST_IMAGE_PREFIX: missing } },
      );
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(
        `build.sh: ERROR: ${missing}/busybox:1 missing, and building needs root (apt-get, and files owned by uids 999/1000 in the images); ` +
          `run once as root: sudo STOWAGE_TEST_IMAGE_PREFIX=${missing} bash test/images/build.sh busybox, then run the tests again\n`,
      );
      expect(imageId(`${missing}/busybox:1`)).toBeUndefined();
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  });

  it('are named by a prefix that must be a Docker repository name', () => {
    const r = spawnSync('bash', [join(repoRoot, 'test/images/build.sh'), 'busybox'], { encoding: 'utf8', env: { ...process.env, STOWAGE_TEST_IMAGE_PREFIX: 'Not/A Name' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("STOWAGE_TEST_IMAGE_PREFIX='Not/A Name' is not a Docker repository name");
  });
});
