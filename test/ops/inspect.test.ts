// inspect: what the reference docs do with `docker run --rm -v vol:/data
// alpine ls|cat`, read-only: ls lists a directory, cat prints a file's bytes
// through the archive endpoint (no shell needed), info says what the volume is,
// how big it is and who uses it. On the real engine, with a project of its own.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { UsageError } from '../../src/config/errors.js';
import { loadStackFile } from '../../src/config/load.js';
import { resolveModel, type Model, type VolumeModel } from '../../src/config/model.js';
import type { ByteSink } from '../../src/engine/archive.js';
import { Runner } from '../../src/engine/command.js';
import { parseListing } from '../../src/engine/permissions.js';
import { catVolumeFile, listVolume, modeString, volumeInfo, volumePath } from '../../src/ops/inspect-volume.js';
import { runScript } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';

const BUSYBOX = 'stowage-test/busybox:1';
const id = randomBytes(3).toString('hex');
const project = `insptest-${id}`;
const bindProject = `insptest-${id}-bind`;
// A fixture image like the other stowage-test images: kept, because removing images is slow on this engine (a minute).
const noShellImage = 'stowage-test/noshell:1';
const temp = new TempDirs();
const bindDir = join(temp.make('stowage-inspect-'), 'data');
const SLEEPER = `["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]`;

const stacksDir = temp.stacksDir({
  'insptest.yaml': yamlText`
    app: insptest
    helper:
      image: ${BUSYBOX}
    volumes:
      data:
        owner: "1000:1000"
        mode: "0750"
        files:
          - { path: secrets.env, mode: "0600", owner: "1000:1000", secret: true }
      never: {}
    services:
      app:
        image: ${BUSYBOX}
        command: ${SLEEPER}
        mounts: [data:/data, never:/never]
      reader:
        image: ${BUSYBOX}
        command: ${SLEEPER}
        mounts: [data:/data:ro]
    environments:
      dev:
        project: ${project}
      edge:
        project: ${bindProject}
        volumes:
          data: { bind: ${bindDir} }
  `,
});
const stackFile = join(stacksDir, 'insptest.yaml');
const modelOf = (env: string): Model => resolveModel(loadStackFile(stackFile).stack, env, { stackFile });
const dev = modelOf('dev');
const volumeOf = (model: Model, key: string): VolumeModel => {
  const found = model.volumes.find((v) => v.key === key);
  if (found === undefined) throw new Error(`no volume ${key}`);
  return found;
};
const data = volumeOf(dev, 'data');
const SECRETS = 'JWT_SECRET=abc\nENCRYPTION_KEY=def\n';

function docker(args: string[], input?: string): string {
  return execFileSync('docker', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

const runner = (): Runner => new Runner({ printPlan: () => undefined });

function collect(): { sink: ByteSink; bytes: () => Buffer } {
  const chunks: Buffer[] = [];
  return {
    sink: { write: (c) => chunks.push(Buffer.from(c)) > 0, end: () => undefined, once: () => undefined },
    bytes: () => Buffer.concat(chunks),
  };
}

const labels = (service: string): string[] => ['--label', `stowage.project=${project}`, '--label', 'stowage.env=dev', '--label', `stowage.service=${service}`];
let blobSha = '';

beforeAll(() => {
  docker(['volume', 'create', '--label', `stowage.project=${project}`, '--label', 'stowage.env=dev', '--label', 'stowage.volume=data', data.name]);
  const seed = `set -e
cd /v
printf '%s' "$SECRETS" > secrets.env && chmod 0600 secrets.env
mkdir -p email/attachments uploads
printf hello > email/attachments/a.txt
head -c 100000 /dev/urandom > blob.bin
chown -R 1000:1000 /v && chmod 0750 /v
# Links of every kind, made after chown -R (which follows links on the way): their targets are the application's business.
ln -s secrets.env link
ln -s /etc etcdir
ln -s /etc/hostname abs
ln -s /nonexistent dangling
ln -s ../../etc/x up
ln -s email reldir
ln -s .. email/back
chown -h 1000:1000 link etcdir abs dangling up reldir email/back
sha256sum blob.bin`;
  blobSha = docker(['run', '--rm', ...labels('seed'), '--network', 'none', '-e', `SECRETS=${SECRETS}`, '--mount', `type=volume,source=${data.name},target=/v`, BUSYBOX, 'sh', '-c', seed]).split(' ')[0] ?? '';
  docker(['run', '-d', '--name', `${project}-app`, ...labels('app'), '--network', 'none', '--mount', `type=volume,source=${data.name},target=/data`, BUSYBOX, 'sh', '-c', "trap 'exit 0' TERM; while :; do sleep 1; done"]);
  docker(['create', '--name', `${project}-reader`, ...labels('reader'), '--network', 'none', '--mount', `type=volume,source=${data.name},target=/data,readonly`, BUSYBOX, 'true']);
  // An image with one file and no shell: cat must not need one.
  if (spawnSync('docker', ['image', 'inspect', noShellImage], { stdio: 'ignore' }).status !== 0) {
    const root = temp.make('stowage-noshell-');
    mkdirSync(join(root, 'rootfs'));
    writeFileSync(join(root, 'rootfs', 'marker'), 'no shell here\n');
    execFileSync('tar', ['-C', join(root, 'rootfs'), '-cf', join(root, 'rootfs.tar'), '.']);
    docker(['import', join(root, 'rootfs.tar'), noShellImage]);
  }
  mkdirSync(bindDir, { recursive: true });
  writeFileSync(join(bindDir, 'settings.json'), '{"port":25}\n');
});

afterAll(() => {
  for (const p of [project, bindProject]) {
    const containers = docker(['ps', '-aq', '--filter', `label=stowage.project=${p}`]).split('\n').filter((c) => c !== '');
    if (containers.length > 0) docker(['rm', '-f', ...containers]);
    const volumes = docker(['volume', 'ls', '-q', '--filter', `label=stowage.project=${p}`]).split('\n').filter((v) => v !== '');
    if (volumes.length > 0) docker(['volume', 'rm', '-f', ...volumes]);
  }
  temp.removeAll();
});

describe('paths inside a volume (pure)', () => {
  test('the root is ".", however it is written', () => {
    expect(volumePath(undefined)).toBe('.');
    expect(volumePath('./')).toBe('.');
    expect(volumePath('email/attachments/')).toBe('email/attachments');
  });

  test('".." and absolute paths are refused as bad usage', () => {
    expect(() => volumePath('../etc/passwd')).toThrow(UsageError);
    expect(() => volumePath('email/../../x')).toThrow(UsageError);
    expect(() => volumePath('/etc/passwd')).toThrow(UsageError);
  });

  test('modes read as ls prints them', () => {
    expect(modeString({ type: 'directory', mode: 0o750 })).toBe('drwxr-x---');
    expect(modeString({ type: 'file', mode: 0o600 })).toBe('-rw-------');
    expect(modeString({ type: 'directory', mode: 0o2775 })).toBe('drwxrwsr-x');
    expect(modeString({ type: 'directory', mode: 0o1777 })).toBe('drwxrwxrwt');
  });

  test('a listing cut short is an error, not an empty directory', () => {
    expect(() => parseListing('dir\0entry\x0081a4 3 0 0 1700000000\0a\0\0')).toThrow(/ended without an "end" record/);
  });
});

describe('ls', () => {
  test('lists the root: name, type, size, owner, mode and mtime of every entry, dotfiles included, sorted', async () => {
    const listing = await listVolume(dev, data, '.', runner());
    expect(listing.directory).toBe(true);
    expect(listing.entries.map((e) => e.name)).toEqual(['abs', 'blob.bin', 'dangling', 'email', 'etcdir', 'link', 'reldir', 'secrets.env', 'up', 'uploads']);
    const secrets = listing.entries.find((e) => e.name === 'secrets.env');
    expect(secrets).toMatchObject({ type: 'file', size: Buffer.byteLength(SECRETS), uid: 1000, gid: 1000, mode: 0o600, target: undefined });
    expect(Math.abs((secrets?.mtime.getTime() ?? 0) - Date.now())).toBeLessThan(3_600_000);
    expect(listing.entries.find((e) => e.name === 'email')).toMatchObject({ type: 'directory' });
  });

  test('shows a symbolic link and its target without following it', async () => {
    const listing = await listVolume(dev, data, '.', runner());
    expect(listing.entries.find((e) => e.name === 'link')).toMatchObject({ type: 'symlink', target: 'secrets.env' });
  });

  test('lists a subdirectory given relative to the volume root', async () => {
    const listing = await listVolume(dev, data, 'email/attachments', runner());
    expect(listing.entries).toEqual([expect.objectContaining({ name: 'a.txt', type: 'file', size: 5 })]);
  });

  test('a file is listed as itself', async () => {
    const listing = await listVolume(dev, data, 'secrets.env', runner());
    expect(listing.directory).toBe(false);
    expect(listing.entries.map((e) => e.name)).toEqual(['secrets.env']);
  });

  test('an empty directory lists no entries', async () => {
    expect((await listVolume(dev, data, 'uploads', runner())).entries).toEqual([]);
  });

  test('a missing path is an error naming the path', async () => {
    await expect(listVolume(dev, data, 'nope', runner())).rejects.toThrow(/no such file or directory: nope/);
  });
});

describe('cat', () => {
  test('prints a file\'s bytes', async () => {
    const out = collect();
    const result = await catVolumeFile(dev, data, 'secrets.env', runner(), out.sink);
    expect(out.bytes().toString('utf8')).toBe(SECRETS);
    expect(result.bytes).toBe(Buffer.byteLength(SECRETS));
  });

  test('binary content comes through byte for byte', async () => {
    const out = collect();
    await catVolumeFile(dev, data, 'blob.bin', runner(), out.sink);
    expect(out.bytes()).toHaveLength(100000);
    expect(createHash('sha256').update(out.bytes()).digest('hex')).toBe(blobSha);
  });

  test('works with a helper image that has no shell (the helper is never started)', async () => {
    const saved = process.env['STOWAGE_HELPER_IMAGE'];
    process.env['STOWAGE_HELPER_IMAGE'] = noShellImage;
    try {
      const out = collect();
      await catVolumeFile(dev, data, 'email/attachments/a.txt', runner(), out.sink);
      expect(out.bytes().toString()).toBe('hello');
    } finally {
      if (saved === undefined) delete process.env['STOWAGE_HELPER_IMAGE'];
      else process.env['STOWAGE_HELPER_IMAGE'] = saved;
    }
  });

  test('a directory is refused as bad usage, pointing at ls', async () => {
    const out = collect();
    await expect(catVolumeFile(dev, data, 'email', runner(), out.sink)).rejects.toThrow(UsageError);
    await expect(catVolumeFile(dev, data, 'email', runner(), out.sink)).rejects.toThrow(/email is a directory; list it with ls email/);
    expect(out.bytes()).toHaveLength(0);
  });

  test('a symbolic link is not followed; the message names its target', async () => {
    await expect(catVolumeFile(dev, data, 'link', runner(), collect().sink)).rejects.toThrow(/link is a symbolic link to secrets.env/);
  });

  test('a missing file fails with the path and what to do', async () => {
    await expect(catVolumeFile(dev, data, 'email/nope.txt', runner(), collect().sink)).rejects.toThrow(/no such file: email\/nope.txt; see what is there with ls email/);
  });

  test('leaves no helper container behind, also after a failure', async () => {
    await catVolumeFile(dev, data, 'missing', runner(), collect().sink).catch(() => undefined);
    const helpers = docker(['ps', '-aq', '--filter', `label=stowage.project=${project}`, '--filter', 'label=stowage.helper=1']).trim();
    expect(helpers).toBe('');
  });
});

describe('symbolic links are shown or refused, never followed', () => {
  const LINKS: Array<[string, string]> = [
    ['link', 'secrets.env'],
    ['abs', '/etc/hostname'],
    ['dangling', '/nonexistent'],
    ['up', '../../etc/x'],
    ['etcdir', '/etc'],
    ['reldir', 'email'],
  ];
  // [path, the link on the way, its target]: absolute, dangling, leaving the volume, staying in it, deeper down.
  const THROUGH: Array<[string, string, string]> = [
    ['etcdir/passwd', 'etcdir', '/etc'],
    ['abs/x', 'abs', '/etc/hostname'],
    ['dangling/x', 'dangling', '/nonexistent'],
    ['up/x', 'up', '../../etc/x'],
    ['reldir/attachments/a.txt', 'reldir', 'email'],
    ['email/back/secrets.env', 'email/back', '..'],
  ];
  const refusal = (path: string, link: string, target: string): string => `volume data: ${path} goes through ${link}, a symbolic link to ${target}; inspect never follows links`;

  test.each(LINKS)('ls of the root shows %s with its target %s', async (name, target) => {
    const listing = await listVolume(dev, data, '.', runner());
    expect(listing.entries.find((e) => e.name === name)).toMatchObject({ type: 'symlink', target, uid: 1000, gid: 1000 });
  });

  test.each(LINKS)('ls %s lists the link itself, not what it points to', async (name, target) => {
    const listing = await listVolume(dev, data, name, runner());
    expect(listing.directory).toBe(false);
    expect(listing.entries).toEqual([expect.objectContaining({ name, type: 'symlink', target })]);
  });

  test.each(THROUGH)('ls %s is refused as bad usage, naming %s and its target %s', async (path, link, target) => {
    const failure = listVolume(dev, data, path, runner());
    await expect(failure).rejects.toThrow(UsageError);
    await expect(failure).rejects.toThrow(refusal(path, link, target));
  });

  test.each(LINKS)('cat %s is refused as bad usage, naming its target %s', async (name, target) => {
    const out = collect();
    const failure = catVolumeFile(dev, data, name, runner(), out.sink);
    await expect(failure).rejects.toThrow(UsageError);
    await expect(failure).rejects.toThrow(`volume data: ${name} is a symbolic link to ${target}; inspect never follows links`);
    expect(out.bytes()).toHaveLength(0);
  });

  test.each(THROUGH)('cat %s is refused as bad usage, naming %s and its target %s, and prints nothing', async (path, link, target) => {
    const out = collect();
    const failure = catVolumeFile(dev, data, path, runner(), out.sink);
    await expect(failure).rejects.toThrow(UsageError);
    await expect(failure).rejects.toThrow(refusal(path, link, target));
    expect(out.bytes()).toHaveLength(0);
  });

  test('cat through a link is refused with a helper image that has no shell, too', async () => {
    const saved = process.env['STOWAGE_HELPER_IMAGE'];
    process.env['STOWAGE_HELPER_IMAGE'] = noShellImage;
    try {
      await expect(catVolumeFile(dev, data, 'reldir/attachments/a.txt', runner(), collect().sink)).rejects.toThrow(refusal('reldir/attachments/a.txt', 'reldir', 'email'));
    } finally {
      if (saved === undefined) delete process.env['STOWAGE_HELPER_IMAGE'];
      else process.env['STOWAGE_HELPER_IMAGE'] = saved;
    }
  });

  test('a file below a file is missing, not read', async () => {
    await expect(catVolumeFile(dev, data, 'secrets.env/x', runner(), collect().sink)).rejects.toThrow(/no such file: secrets.env\/x; secrets.env is not a directory/);
    await expect(listVolume(dev, data, 'secrets.env/x', runner())).rejects.toThrow(/no such file or directory: secrets.env\/x/);
  });
});

describe('info', () => {
  test('says what the volume is: kind, Docker name, mountpoint, driver, labels', async () => {
    const info = await volumeInfo(dev, data, runner());
    expect(info).toMatchObject({ kind: 'named', name: data.name, exists: true, dockerVolume: true, driver: 'local' });
    expect(info.mountpoint).toMatch(new RegExp(`/volumes/${data.name}/_data$`));
    expect(info.labels).toMatchObject({ 'stowage.project': project, 'stowage.volume': 'data' });
  });

  test('measures the content: bytes and file count', async () => {
    const info = await volumeInfo(dev, data, runner());
    expect(info.size).toMatchObject({ files: 3, directories: 3, links: 7, other: 0, bytes: Buffer.byteLength(SECRETS) + 5 + 100000 });
    expect(info.size?.diskBytes).toBeGreaterThanOrEqual(100000);
  });

  test('lists the containers that use it, running or not, read-only or not', async () => {
    const info = await volumeInfo(dev, data, runner());
    // A helper of this very call may still be on its way out; it is flagged, not hidden.
    expect(info.containers.filter((c) => !c.helper)).toEqual([
      { name: `${project}-app`, image: BUSYBOX, running: true, status: 'running', readOnly: false, destination: '/data', service: 'app', helper: false },
      { name: `${project}-reader`, image: BUSYBOX, running: false, status: 'created', readOnly: true, destination: '/data', service: 'reader', helper: false },
    ]);
  });

  test('a bind volume: the host path is where the data is, and no Docker volume exists', async () => {
    const edge = modelOf('edge');
    const info = await volumeInfo(edge, volumeOf(edge, 'data'), runner());
    expect(info).toMatchObject({ kind: 'bind', exists: true, dockerVolume: false, hostPath: bindDir, mountpoint: bindDir, via: `bind ${bindDir}` });
    expect(info.size).toMatchObject({ files: 1, bytes: 12 });
  });

  test('a volume that does not exist is reported as such and not created', async () => {
    const info = await volumeInfo(dev, volumeOf(dev, 'never'), runner());
    expect(info).toMatchObject({ exists: false, dockerVolume: false, size: undefined, containers: [] });
    expect(docker(['volume', 'ls', '-q', '--filter', `name=^${project}_never$`]).trim()).toBe('');
  });
});

describe('the command line', () => {
  const cli = (args: string[]) => runScript('inspect', ['--stacks-dir', stacksDir, '--stack', 'insptest-dev', ...args]);

  test('cat writes the bytes to stdout and nothing else', async () => {
    const run = await cli(['--volume', 'data', 'cat', 'secrets.env']);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(SECRETS);
  });

  test('cat of a missing file exits 1 with a clear message', async () => {
    const run = await cli(['--volume', 'data', 'cat', 'nope.env']);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`volume data (volume ${data.name}): no such file: nope.env; see what is there with ls .`);
  });

  test('".." is refused with exit 2 before anything runs', async () => {
    const run = await cli(['--volume', 'data', 'ls', '../../etc']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('without a leading / or ".." segments');
  });

  test('an absolute path is refused with exit 2', async () => {
    expect((await cli(['--volume', 'data', 'cat', '/etc/passwd'])).code).toBe(2);
  });

  test('ls --json prints one document with the entries', async () => {
    const run = await cli(['--volume', 'data', 'ls', 'email/attachments', '--json']);
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ path: 'email/attachments', directory: true, entries: [{ name: 'a.txt', type: 'file', size: 5, owner: '1000:1000' }] });
  });

  test('cat --json carries the content and its encoding', async () => {
    const run = await cli(['--volume', 'data', 'cat', 'secrets.env', '--json']);
    // Like every --json document of a command that talks to an engine, it names the engine.
    expect(JSON.parse(run.stdout)).toEqual({ volume: 'data', path: 'secrets.env', bytes: Buffer.byteLength(SECRETS), encoding: 'utf8', content: SECRETS, engine: expect.objectContaining({ url: expect.any(String), source: expect.any(String) }) });
  });

  test('info is the default action and names the users in plain text', async () => {
    const run = await cli(['--volume', 'data']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`kind         named (Docker-managed volume)`);
    expect(run.stdout).toContain(`${project}-reader: created, read-only at /data`);
  });

  test('--volume is required when the stack has more than one', async () => {
    const run = await cli(['info']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--volume is required: stack insptest-dev has data, never');
  });

  test('cat through a symbolic link to /etc exits 2 naming the link, and prints nothing of the helper\'s /etc', async () => {
    const run = await cli(['--volume', 'data', 'cat', 'etcdir/passwd']);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('volume data: etcdir/passwd goes through etcdir, a symbolic link to /etc; inspect never follows links');
    expect(run.stderr).toContain('see the link itself with ls etcdir');
  });

  test('ls shows a link with its target and exits 0; ls through it exits 2', async () => {
    const shown = await cli(['--volume', 'data', 'ls', 'etcdir']);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/^lrwxrwxrwx +1000:1000 +4 +\S+ +etcdir -> \/etc$/m);
    const through = await cli(['--volume', 'data', 'ls', 'etcdir/ssl', '--json']);
    expect(through.code).toBe(2);
    expect(JSON.parse(through.stdout)).toMatchObject({ error: { kind: 'usage' } });
  });

  test('an unknown action is bad usage', async () => {
    const run = await cli(['--volume', 'data', 'rm', 'x']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('unknown action "rm"');
  });
});
