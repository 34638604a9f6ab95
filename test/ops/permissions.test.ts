// fix-permissions: the declared owner on the whole tree, the declared mode on
// the root only, per-file rules, secrets never readable by group or others,
// missing host directories prepared; --dry-run and --check change nothing.
// Engine behaviour is tested on the real engine with a project of its own.
import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, writeFileSync, chmodSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { resolveModel, type Model, type VolumeModel } from '../../src/config/model.js';
import { loadStackFile } from '../../src/config/load.js';
import { Runner } from '../../src/engine/command.js';
import { findPattern, parsePermissionRecords, permissionArguments } from '../../src/engine/permissions.js';
import { fixPermissions, normalizeRulePath, permissionTarget, summarizeRecords, type PermissionsResult, type VolumePermissions } from '../../src/ops/permissions.js';
import { runScript } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';

const BUSYBOX = 'stowage-test/busybox:1';
const id = randomBytes(3).toString('hex');
const projects = { dev: `permtest-${id}-dev`, prod: `permtest-${id}-prod`, edge: `permtest-${id}-edge`, links: `permtest-${id}-links` };
const temp = new TempDirs();
const work = temp.make('stowage-perm-');
const hostRoot = join(work, 'srv', 'permtest');
const bindDir = join(work, 'bind-data');

const stackText = yamlText`
  app: permtest
  helper:
    image: ${BUSYBOX}
  volumes:
    data:
      owner: "1000:1000"
      mode: "0750"
      files:
        - { path: secrets.env, mode: "0600", owner: "1000:1000", secret: true }
        - { path: jwt.key, secret: true }
        - { path: database.sqlite, mode: "0640", owner: "1000:1000" }
        - { path: root-owned.conf, mode: "0644", owner: "0:0" }
  services:
    app:
      image: ${BUSYBOX}
      command: ["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]
      user: "1000:1000"
      mounts: [data:/data]
  environments:
    dev:
      project: ${projects.dev}
    prod:
      project: ${projects.prod}
      hostRoot: ${hostRoot}
      volumeBacking: host
    edge:
      project: ${projects.edge}
      volumes:
        data: { bind: ${bindDir} }
`;
const stacksDir = temp.stacksDir({ 'permtest.yaml': stackText });
const stackFile = join(stacksDir, 'permtest.yaml');
const modelOf = (env: keyof typeof projects): Model => resolveModel(loadStackFile(stackFile).stack, env, { stackFile });
const dev = modelOf('dev');
const devVolume = dev.volumes[0] as VolumeModel;

function docker(args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a root shell script against the dev volume (the test's own fixture container). */
function inVolume(script: string): string {
  return docker(['run', '--rm', '--label', `stowage.project=${projects.dev}`, '--network', 'none', '--mount', `type=volume,source=${devVolume.name},target=/v`, BUSYBOX, 'sh', '-c', script]);
}

/** What the tests set up before each run: everything root-owned, secrets world-readable, the root world-writable. */
const MESSY = `set -e
cd /v && rm -rf ./* ./.[!.]* 2>/dev/null || true
mkdir -p email/attachments uploads
echo 'JWT_SECRET=s3cret' > secrets.env && chmod 0644 secrets.env
echo 'key' > jwt.key && chmod 0666 jwt.key
echo 'a' > email/attachments/a.txt && chmod 0644 email/attachments/a.txt
chmod 0755 email uploads
echo 'conf' > root-owned.conf && chmod 0644 root-owned.conf
chown -R 0:0 /v && chmod 0777 /v
`;

/** path -> "uid:gid mode" for every entry of the dev volume. */
function devState(): Map<string, string> {
  const out = inVolume('cd /v && find . -exec stat -c "%n|%u:%g %a" {} +');
  return new Map(out.trim().split('\n').map((line) => line.split('|') as [string, string]));
}

function quietRunner(options: { dryRun?: boolean; plan?: string[] } = {}): Runner {
  return new Runner({ dryRun: options.dryRun ?? false, printPlan: (line) => options.plan?.push(line) });
}

function only(result: PermissionsResult): VolumePermissions {
  expect(result.volumes).toHaveLength(1);
  return result.volumes[0] as VolumePermissions;
}

function modeOf(path: string): string {
  return (lstatSync(path).mode & 0o7777).toString(8);
}

function ownerOf(path: string): string {
  const s = lstatSync(path);
  return `${s.uid}:${s.gid}`;
}

beforeAll(() => {
  docker(['volume', 'create', '--label', `stowage.project=${projects.dev}`, '--label', 'stowage.env=dev', '--label', 'stowage.volume=data', devVolume.name]);
});

afterAll(() => {
  for (const project of Object.values(projects)) {
    const containers = docker(['ps', '-aq', '--filter', `label=stowage.project=${project}`]).split('\n').filter((c) => c !== '');
    if (containers.length > 0) docker(['rm', '-f', ...containers]);
    const volumes = docker(['volume', 'ls', '-q', '--filter', `label=stowage.project=${project}`]).split('\n').filter((v) => v !== '');
    if (volumes.length > 0) docker(['volume', 'rm', '-f', ...volumes]);
  }
  temp.removeAll();
});

describe('what the stack file asks for (pure)', () => {
  test('a secret file without a mode rule gets 0600, and 0700 if it is a directory', () => {
    const target = permissionTarget(devVolume);
    expect(target.rules.find((r) => r.path === 'jwt.key')).toMatchObject({ fileMode: 0o600, dirMode: 0o700 });
  });

  test('a secret rule whose mode would let group or others read it is tightened, not obeyed', () => {
    const loose: VolumeModel = { ...devVolume, files: [{ path: 'secrets.env', mode: 0o644, owner: undefined, secret: true }] };
    expect(permissionTarget(loose).rules[0]).toMatchObject({ fileMode: 0o600, dirMode: 0o600 });
  });

  test('only the root gets the volume mode; no rule covers the tree', () => {
    const target = permissionTarget(devVolume);
    expect(target.rootMode).toBe(0o750);
    expect(target.rules.map((r) => r.path)).toEqual(['secrets.env', 'jwt.key', 'database.sqlite', 'root-owned.conf']);
  });

  test('rule paths are normalized the way the helper names entries', () => {
    expect(normalizeRulePath('./secrets.env')).toBe('secrets.env');
    expect(normalizeRulePath('email//attachments/')).toBe('email/attachments');
    expect(normalizeRulePath('.')).toBe('.');
  });

  test('find patterns match a rule path literally, glob characters included', () => {
    expect(findPattern('odd*name[1]?.txt')).toBe('/v/odd\\*name\\[1]\\?.txt');
    expect(findPattern('.')).toBe('/v');
  });

  test('the helper is told: action, example limit, owner, root mode, then five words per rule', () => {
    expect(permissionArguments('check', 3, { owner: { uid: 1000, gid: 1000 }, rootMode: 0o750, rules: [{ path: 'jwt.key', owner: undefined, fileMode: 0o600, dirMode: 0o700 }] })).toEqual([
      'check', '3', '1000:1000', '750', 'jwt.key', '/v/jwt.key', '-', '600', '700',
    ]);
  });

  test('output without its end record is an error, not "no differences"', () => {
    expect(() => parsePermissionRecords('count\0owner\x003\0')).toThrow(/ended without an "end" record/);
    expect(() => parsePermissionRecords('owner\0root\x001000:1000\0x\0end\0')).toThrow(/does not match/);
  });

  test('counts from several helper batches are summed and examples are capped', () => {
    const out = 'owner\x000:0\x001000:1000\0a\0owner\x000:0\x001000:1000\0b\0count\0owner\x002\0owner\x000:0\x001000:1000\0c\0count\0owner\x001\0mode\x00644\x00600\0s\0count\0mode\x001\0missing\0db\0end\0';
    const findings = summarizeRecords(parsePermissionRecords(out), 2);
    expect(findings.changed).toEqual({ owner: 3, mode: 1 });
    expect(findings.examples.owner.map((e) => e.path)).toEqual(['a', 'b']);
    expect(findings.examples.mode).toEqual([{ path: 's', current: '0644', wanted: '0600' }]);
    expect(findings.missing).toEqual(['db']);
  });
});

describe('a named volume on the engine', () => {
  test('the tree gets the owner, the root the mode, and secrets.env 0600 even when it was 0644 and owned by root', async () => {
    inVolume(MESSY);
    const result = await fixPermissions(dev, { runner: quietRunner(), volumes: [], check: false });
    const state = devState();
    for (const [path, meta] of state) {
      if (path === './root-owned.conf') continue;
      expect(meta.split(' ')[0], path).toBe('1000:1000');
    }
    expect(state.get('.')).toBe('1000:1000 750');
    expect(state.get('./secrets.env')).toBe('1000:1000 600');
    expect(result.applied).toBe(true);
    expect(only(result).via).toBe(`volume ${devVolume.name}`);
  });

  test('modes inside the tree are left as they were: no blanket chmod', async () => {
    inVolume(MESSY);
    await fixPermissions(dev, { runner: quietRunner(), volumes: [], check: false });
    const state = devState();
    expect(state.get('./email')).toBe('1000:1000 755');
    expect(state.get('./email/attachments/a.txt')).toBe('1000:1000 644');
  });

  test('a rule owner different from the volume owner wins over the tree owner', async () => {
    inVolume(MESSY);
    await fixPermissions(dev, { runner: quietRunner(), volumes: [], check: false });
    expect(devState().get('./root-owned.conf')).toBe('0:0 644');
  });

  test('it reports what it changed: counts and examples of each kind', async () => {
    inVolume(MESSY);
    const v = only(await fixPermissions(dev, { runner: quietRunner(), volumes: [], check: false }));
    // Root, email, email/attachments, a.txt, uploads, jwt.key by the tree; secrets.env by its rule.
    expect(v.changed).toEqual({ owner: 7, mode: 3 });
    expect(v.examples.owner).toContainEqual({ path: 'secrets.env', current: '0:0', wanted: '1000:1000' });
    expect(v.examples.mode).toEqual([
      { path: '.', current: '0777', wanted: '0750' },
      { path: 'secrets.env', current: '0644', wanted: '0600' },
      { path: 'jwt.key', current: '0666', wanted: '0600' },
    ]);
  });

  test('a second run changes nothing', async () => {
    inVolume(MESSY);
    await fixPermissions(dev, { runner: quietRunner(), volumes: [], check: false });
    const before = devState();
    const again = only(await fixPermissions(dev, { runner: quietRunner(), volumes: [], check: false }));
    expect(again.changed).toEqual({ owner: 0, mode: 0 });
    expect(devState()).toEqual(before);
  });

  test('a secret file without a mode rule is made 0600: never readable by group or others', async () => {
    inVolume(MESSY);
    await fixPermissions(dev, { runner: quietRunner(), volumes: [], check: false });
    expect(devState().get('./jwt.key')).toBe('1000:1000 600');
  });

  test('--dry-run changes nothing, reports the counts and prints the docker command that would fix them', async () => {
    inVolume(MESSY);
    const before = devState();
    const plan: string[] = [];
    const result = await fixPermissions(dev, { runner: quietRunner({ dryRun: true, plan }), volumes: [], check: false });
    expect(devState()).toEqual(before);
    expect(result.applied).toBe(false);
    expect(only(result).changed).toEqual({ owner: 7, mode: 3 });
    expect(plan).toHaveLength(1);
    expect(plan[0]).toMatch(/^docker run --rm .*--mount type=volume,source=permtest-\w+-dev_data,target=\/v .* stowage fix 10 1000:1000 750 /s);
  });

  test('--check compares through a read-only mount and changes nothing', async () => {
    inVolume(MESSY);
    const before = devState();
    const plan: string[] = [];
    const result = await fixPermissions(dev, { runner: quietRunner({ plan }), volumes: [], check: true });
    expect(devState()).toEqual(before);
    expect(plan).toEqual([]);
    expect(result.differences).toBe(10);
  });

  test('a missing file of a rule is reported and not created (the application creates it)', async () => {
    inVolume(MESSY);
    const v = only(await fixPermissions(dev, { runner: quietRunner(), volumes: [], check: false }));
    expect(v.missing).toEqual(['database.sqlite']);
    expect(v.examples.missing).toEqual(['database.sqlite']);
    expect(devState().has('./database.sqlite')).toBe(false);
  });

  test('a rule naming a symbolic link is skipped and the link target keeps its mode', async () => {
    inVolume(`${MESSY}\nrm /v/secrets.env && echo t > /v/target && chmod 0644 /v/target && ln -s target /v/secrets.env`);
    const v = only(await fixPermissions(dev, { runner: quietRunner(), volumes: [], check: false }));
    expect(v.skipped).toEqual([{ path: 'secrets.env', reason: 'is a symbolic link to target; stowage never follows links, so neither the link nor its target was changed' }]);
    expect(devState().get('./target')).toBe('1000:1000 644');
  });

  test('file names with newlines and tabs are counted and reported intact', async () => {
    inVolume(`${MESSY}\ntouch "/v/uploads/new
line" "/v/uploads/tab	name"`);
    const v = only(await fixPermissions(dev, { runner: quietRunner(), volumes: [], check: true, examples: 20 }));
    expect(v.changed.owner).toBe(9);
    expect(v.examples.owner.map((e) => e.path)).toEqual(expect.arrayContaining(['uploads/new\nline', 'uploads/tab\tname']));
  });

  test('a volume that does not exist is not created', async () => {
    const missing = resolveModel(loadStackFile(stackFile).stack, 'dev', { stackFile });
    const renamed: Model = { ...missing, project: `${projects.dev}-none`, volumes: missing.volumes.map((v) => ({ ...v, name: `${projects.dev}-none_data` })) };
    const v = only(await fixPermissions(renamed, { runner: quietRunner(), volumes: [], check: false }));
    expect(v.note).toMatch(/does not exist yet/);
    expect(docker(['volume', 'ls', '-q', '--filter', `name=${projects.dev}-none_data`]).trim()).toBe('');
  });
});

describe('host directories', () => {
  const prod = modelOf('prod');
  const hostPath = join(hostRoot, 'data');

  test('--check reports a missing host directory of a host-backed volume and creates nothing', async () => {
    const result = await fixPermissions(prod, { runner: quietRunner(), volumes: [], check: true });
    expect(only(result).missingHostPath).toBe(hostPath);
    expect(result.differences).toBe(1);
    expect(existsSync(join(work, 'srv'))).toBe(false);
  });

  test('--dry-run prints the helper command that would create it and creates nothing', async () => {
    const plan: string[] = [];
    await fixPermissions(prod, { runner: quietRunner({ dryRun: true, plan }), volumes: [], check: false });
    expect(plan).toHaveLength(1);
    expect(plan[0]).toContain(`--mount type=bind,source=${work},target=/h `);
    expect(plan[0]).toMatch(/ stowage srv\/permtest\/data 1000:1000 750$/);
    expect(existsSync(join(work, 'srv'))).toBe(false);
  });

  test('a missing host directory of a host-backed volume is created with the declared owner and mode', async () => {
    const v = only(await fixPermissions(prod, { runner: quietRunner(), volumes: [], check: false }));
    expect(v.createdHostPath).toBe(hostPath);
    expect(ownerOf(hostPath)).toBe('1000:1000');
    expect(modeOf(hostPath)).toBe('750');
    // Parents are created as mkdir -p would: root's, 0755.
    expect(`${ownerOf(hostRoot)} ${modeOf(hostRoot)}`).toBe('0:0 755');
  });

  test('preparing the host directory creates no Docker volume (pulumi up / compose up does)', () => {
    expect(docker(['volume', 'ls', '-q', '--filter', `label=stowage.project=${projects.prod}`]).trim()).toBe('');
  });

  test('once the host directory exists, a second run changes nothing', async () => {
    const result = await fixPermissions(prod, { runner: quietRunner(), volumes: [], check: false });
    expect(only(result).createdHostPath).toBeUndefined();
    expect(result.differences).toBe(0);
  });

  test('a bind-mounted volume: the host directory\'s tree gets the owner, secrets their modes', async () => {
    mkdirSync(join(bindDir, 'uploads'), { recursive: true });
    writeFileSync(join(bindDir, 'secrets.env'), 'JWT_SECRET=x\n');
    chmodSync(join(bindDir, 'secrets.env'), 0o644);
    writeFileSync(join(bindDir, 'jwt.key'), 'k\n');
    chmodSync(join(bindDir, 'jwt.key'), 0o644);
    symlinkSync('secrets.env', join(bindDir, 'uploads', 'link'));
    chmodSync(bindDir, 0o777);
    const v = only(await fixPermissions(modelOf('edge'), { runner: quietRunner(), volumes: [], check: false }));
    expect(v.via).toBe(`bind ${bindDir}`);
    expect(`${ownerOf(bindDir)} ${modeOf(bindDir)}`).toBe('1000:1000 750');
    expect(`${ownerOf(join(bindDir, 'secrets.env'))} ${modeOf(join(bindDir, 'secrets.env'))}`).toBe('1000:1000 600');
    expect(`${ownerOf(join(bindDir, 'jwt.key'))} ${modeOf(join(bindDir, 'jwt.key'))}`).toBe('1000:1000 600');
    expect(ownerOf(join(bindDir, 'uploads'))).toBe('1000:1000');
    // The link itself changes owner (chown -h); its target is handled as the file it is.
    expect(ownerOf(join(bindDir, 'uploads', 'link'))).toBe('1000:1000');
    const again = only(await fixPermissions(modelOf('edge'), { runner: quietRunner(), volumes: [], check: false }));
    expect(again.changed).toEqual({ owner: 0, mode: 0 });
  });
});

describe('symbolic links are never followed', () => {
  // Links of every kind, and rules through them. An absolute link into /v reaches the volume itself inside the helper,
  // so following one would show on files the test can see; /etc and the others would reach the helper's own files.
  const linksStack = yamlText`
    app: permlinks
    helper:
      image: ${BUSYBOX}
    volumes:
      data:
        owner: "1000:1000"
        mode: "0750"
        files:
          - { path: root-owned.conf, mode: "0644", owner: "0:0" }
          - { path: abs, mode: "0600" }
          - { path: etcdir/hostname, mode: "0600", owner: "0:0" }
          - { path: dangling/x, mode: "0600" }
          - { path: up/x, mode: "0600" }
          - { path: reldir/secret.txt, mode: "0600" }
          - { path: vdir/secret.txt, mode: "0600", owner: "0:0" }
    services:
      app:
        image: ${BUSYBOX}
        mounts: [data:/data]
    environments:
      dev:
        project: ${projects.links}
      prod:
        project: ${projects.links}
        hostRoot: ${join(work, 'dangling-root', 'srv')}
        volumeBacking: host
  `;
  const linksDir = temp.stacksDir({ 'permlinks.yaml': linksStack });
  const linksModel = (env: string): Model => resolveModel(loadStackFile(join(linksDir, 'permlinks.yaml')).stack, env, { stackFile: join(linksDir, 'permlinks.yaml') });
  const model = linksModel('dev');
  const volume = `${projects.links}_data`;
  const LINKS = ['abs -> /etc/hostname', 'dangling -> /nonexistent', 'up -> ../../etc/x', 'etcdir -> /etc', 'reldir -> sub', 'vdir -> /v/sub', 'conflink -> root-owned.conf'];
  const seed = `set -e
cd /v && rm -rf ./* ./.[!.]* 2>/dev/null || true
mkdir sub && echo s > sub/secret.txt && chmod 0644 sub/secret.txt
echo conf > root-owned.conf && chmod 0644 root-owned.conf
ln -s /etc/hostname abs && ln -s /nonexistent dangling && ln -s ../../etc/x up && ln -s /etc etcdir
ln -s sub reldir && ln -s /v/sub vdir && ln -s root-owned.conf conflink
chown -hR 0:0 /v && chmod 0777 /v
`;
  const inLinks = (script: string): string =>
    docker(['run', '--rm', '--label', `stowage.project=${projects.links}`, '--network', 'none', '--mount', `type=volume,source=${volume},target=/v`, BUSYBOX, 'sh', '-c', script]);
  /** path -> "uid:gid mode [-> target]" of every entry, links described as themselves. */
  const state = (): Map<string, string> =>
    new Map(
      inLinks('cd /v && find . | while IFS= read -r f; do if [ -L "$f" ]; then printf "%s|%s -> %s\\n" "$f" "$(stat -c "%u:%g" "$f")" "$(readlink "$f")"; else printf "%s|%s\\n" "$f" "$(stat -c "%u:%g %a" "$f")"; fi; done')
        .trim()
        .split('\n')
        .map((line) => line.split('|') as [string, string]),
    );

  beforeAll(() => {
    docker(['volume', 'create', '--label', `stowage.project=${projects.links}`, '--label', 'stowage.env=dev', '--label', 'stowage.volume=data', volume]);
  });

  test('the tree owner reaches every link itself (lchown), and no target: not in the volume, not through a link', async () => {
    inLinks(seed);
    await fixPermissions(model, { runner: quietRunner(), volumes: [], check: false });
    const after = state();
    for (const link of LINKS) expect(after.get(`./${link.split(' ')[0] ?? ''}`), link).toBe(`1000:1000 -> ${link.split(' -> ')[1] ?? ''}`);
    // conflink -> root-owned.conf got the tree owner; its target keeps the owner its own rule gives it.
    expect(after.get('./root-owned.conf')).toBe('0:0 644');
    // reldir and vdir lead to sub: the rules written through them did not change sub/secret.txt.
    expect(after.get('./sub/secret.txt')).toBe('1000:1000 644');
    expect(after.get('.')).toBe('1000:1000 750');
  });

  test('a rule that names a link, or goes through one, is refused with the link and its target, whatever it points to', async () => {
    inLinks(seed);
    const v = only(await fixPermissions(model, { runner: quietRunner(), volumes: [], check: false }));
    const through = (link: string, target: string): string => `goes through ${link}, a symbolic link to ${target}; stowage never follows links, so nothing was changed`;
    expect(v.skipped).toEqual([
      { path: 'abs', reason: 'is a symbolic link to /etc/hostname; stowage never follows links, so neither the link nor its target was changed' },
      { path: 'etcdir/hostname', reason: through('etcdir', '/etc') },
      { path: 'dangling/x', reason: through('dangling', '/nonexistent') },
      { path: 'up/x', reason: through('up', '../../etc/x') },
      { path: 'reldir/secret.txt', reason: through('reldir', 'sub') },
      { path: 'vdir/secret.txt', reason: through('vdir', '/v/sub') },
    ]);
    expect(v.missing).toEqual([]);
  });

  test('--check reports the same refusals and changes nothing, links included', async () => {
    inLinks(seed);
    const before = state();
    const v = only(await fixPermissions(model, { runner: quietRunner(), volumes: [], check: true }));
    expect(v.skipped.map((s) => s.path)).toEqual(['abs', 'etcdir/hostname', 'dangling/x', 'up/x', 'reldir/secret.txt', 'vdir/secret.txt']);
    expect(state()).toEqual(before);
  });

  test('a second run changes nothing', async () => {
    inLinks(seed);
    await fixPermissions(model, { runner: quietRunner(), volumes: [], check: false });
    const before = state();
    const again = only(await fixPermissions(model, { runner: quietRunner(), volumes: [], check: false }));
    expect(again.changed).toEqual({ owner: 0, mode: 0 });
    expect(state()).toEqual(before);
  });

  test('a host directory whose path goes through a dangling link is not created inside the helper: refused, naming the link', async () => {
    // <work>/dangling-root -> /stowage-nowhere-<id> on the host: the helper would resolve it in its own filesystem.
    const nowhere = `/stowage-nowhere-${id}`;
    symlinkSync(nowhere, join(work, 'dangling-root'));
    await expect(fixPermissions(linksModel('prod'), { runner: quietRunner(), volumes: [], check: false })).rejects.toThrow(
      `dangling-root below the host directory that exists is a symbolic link to ${nowhere}; stowage never follows links`,
    );
    expect(existsSync(nowhere)).toBe(false);
  });
});

describe('the command line', () => {
  const cli = (args: string[]) => runScript('fix-permissions', ['--stacks-dir', stacksDir, '--stack', 'permtest-dev', ...args]);

  test('--check --json exits 3 and prints one document with the differences', async () => {
    inVolume(MESSY);
    const run = await cli(['--check', '--json']);
    expect(run.code).toBe(3);
    const doc = JSON.parse(run.stdout) as { differences: number; applied: boolean; volumes: Array<{ changed: { owner: number; mode: number } }> };
    expect(doc.applied).toBe(false);
    expect(doc.differences).toBe(10);
    expect(doc.volumes[0]?.changed).toEqual({ owner: 7, mode: 3 });
  });

  test('fixing exits 0, and --check afterwards exits 0 with no differences', async () => {
    inVolume(MESSY);
    expect((await cli([])).code).toBe(0);
    const check = await cli(['--check']);
    expect(check.code).toBe(0);
    expect(check.stdout).toContain('no differences');
  });

  test('an unknown volume is bad usage: exit 2, nothing touched', async () => {
    const run = await cli(['--volume', 'nope']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('has no volume "nope"; declared: data');
  });
});
