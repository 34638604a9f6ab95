// clean-start on the real engine: exactly the stack's containers, volumes and
// directory content go; a decoy project whose names share the prefix stays;
// refusals change nothing; a second run is a no-op.
import { randomBytes } from 'node:crypto';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Model } from '../../src/config/model.js';
import { selectStack } from '../../src/config/select.js';
import { Runner } from '../../src/engine/command.js';
import { usage } from '../../src/engine/usage.js';
import { cleanStart, describeCleanStart, planCleanStart } from '../../src/ops/clean-start.js';
import { repoRoot, runScript, type RunResult } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';

// Random per run: other engineers may run this file at the same time on the same engine.
const PROJECT = `stwcs${randomBytes(3).toString('hex')}`;
const DECOY = `${PROJECT}-decoy`;
const IMAGE = 'stowage-test/busybox:1';
const SERVICE_COMMAND = `["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]`;

const temp = new TempDirs();
let root: string;
let stacksDir: string;

function docker(...args: string[]): string {
  return execFileSync('docker', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
}

function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

function stackFile(app: string, filesDir: string): string {
  return yamlText`
    app: ${app}
    helper: { image: ${IMAGE} }
    volumes:
      data: {}
      db: {}
      scratch: { backup: { method: none, reason: regenerated on start } }
      files: {}
    services:
      app:
        image: ${IMAGE}
        command: ${SERVICE_COMMAND}
        mounts: [data:/data, scratch:/scratch, files:/files]
      worker:
        image: ${IMAGE}
        command: ${SERVICE_COMMAND}
        mounts: [db:/db]
    environments:
      dev:
        volumes:
          files: { bind: ${filesDir} }
      prod:
        volumes:
          files: { bind: ${filesDir} }
  `;
}

function model(app: string, env = 'dev'): Model {
  return selectStack(`${app}-${env}`, stacksDir).model;
}

function labelArgs(labels: Record<string, string>): string[] {
  return Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]);
}

/** Creates the model's volumes, directories and running containers, as a deploy would, and puts data in each. */
function deploy(m: Model, options: { unlabelledContainer?: string; volumeLabels?: Record<string, Record<string, string> | null> } = {}): void {
  for (const v of m.volumes) {
    if (v.kind === 'bind') mkdirSync(v.hostPath ?? '', { recursive: true });
    else {
      const override = options.volumeLabels?.[v.key];
      docker('volume', 'create', ...labelArgs(override === undefined ? v.labels : (override ?? {})), v.name);
    }
  }
  for (const c of m.containers) {
    const labels = options.unlabelledContainer === c.service ? {} : c.labels;
    docker('run', '-d', '--name', c.name, ...labelArgs(labels), ...c.mounts.flatMap((mt) => ['--mount', `type=${mt.type},source=${mt.source},target=${mt.target}`]), c.image, ...(c.command ?? []));
    for (const mt of c.mounts) docker('exec', c.name, 'sh', '-c', `mkdir -p "$1/sub" && echo "${m.project} ${mt.volume}" > "$1/sub/content.txt"`, 'seed', mt.target);
  }
}

function removeProject(project: string): void {
  const containers = lines(docker('ps', '-aq', '--filter', `label=stowage.project=${project}`));
  if (containers.length > 0) docker('rm', '--force', ...containers);
  for (const name of [`${project}-app`, `${project}-worker`]) execFileSync('docker', ['rm', '--force', name], { stdio: 'ignore' });
  const declared = lines(docker('volume', 'ls', '-q', '--filter', `name=^${project}_(data|db|scratch|files)$`));
  const volumes = [...lines(docker('volume', 'ls', '-q', '--filter', `label=stowage.project=${project}`)), ...declared];
  if (volumes.length > 0) docker('volume', 'rm', '--force', ...new Set(volumes));
}

/** Everything of a project the engine and the host show: containers with their state, volumes with their content, the bind directory. */
function snapshot(project: string, filesDir: string): string {
  const containers = docker('ps', '-a', '--filter', `name=^${project}-`, '--format', '{{.Names}} {{.State}} {{.Labels}}');
  const volumes = lines(docker('volume', 'ls', '-q', '--filter', `name=^${project}_`)).sort();
  const content = volumes.map((v) => `${v}: ${docker('run', '--rm', '--mount', `type=volume,source=${v},target=/d,readonly`, IMAGE, 'find', '/d')}`);
  const files = existsSync(filesDir) ? docker('run', '--rm', '--mount', `type=bind,source=${filesDir},target=/d,readonly`, IMAGE, 'find', '/d') : '(no directory)';
  return [containers.split('\n').sort().join('\n'), ...content, `files: ${files}`].join('\n');
}

const ours = (): string => snapshot(PROJECT, join(root, 'files'));
const decoy = (): string => snapshot(DECOY, join(root, 'decoy-files'));

function clean(args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  return runScript('clean-start', ['--stack', `${PROJECT}-dev`, '--stacks-dir', stacksDir, ...args], { env });
}

let decoyBefore: string;

beforeAll(() => {
  for (const p of [PROJECT, DECOY]) removeProject(p);
  root = temp.make('stowage-cs-');
  stacksDir = temp.stacksDir({ [`${PROJECT}.yaml`]: stackFile(PROJECT, join(root, 'files')), [`${DECOY}.yaml`]: stackFile(DECOY, join(root, 'decoy-files')) });
  deploy(model(DECOY));
  // A container whose name starts with ours and that is labelled for the decoy project.
  docker('run', '-d', '--name', `${PROJECT}-app-copy`, ...labelArgs({ 'stowage.project': DECOY, 'stowage.env': 'dev' }), IMAGE, 'sh', '-c', "trap 'exit 0' TERM; while :; do sleep 1; done");
  // An unlabelled volume whose name starts with ours but that the stack does not declare.
  docker('volume', 'create', `${PROJECT}_data-old`);
  decoyBefore = decoy();
});

beforeEach(() => {
  removeProject(PROJECT);
  execFileSync('rm', ['-rf', join(root, 'files'), join(root, 'backups')]);
});

afterAll(() => {
  for (const p of [PROJECT, DECOY]) removeProject(p);
  execFileSync('docker', ['rm', '--force', `${PROJECT}-app-copy`], { stdio: 'ignore' });
  execFileSync('docker', ['volume', 'rm', '--force', `${PROJECT}_data-old`], { stdio: 'ignore' });
  temp.removeAll();
});

describe('clean-start removes exactly the stack', () => {
  it('removes its containers and volumes and empties its directory, and nothing of a decoy project sharing its prefix', async () => {
    deploy(model(PROJECT));
    const result = await clean(['--yes', '--no-backup', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({
      project: PROJECT,
      env: 'dev',
      dryRun: false,
      backup: null,
      backupSkipped: '--no-backup',
      removed: {
        containers: expect.arrayContaining([`${PROJECT}-app`, `${PROJECT}-worker`]),
        volumes: [`${PROJECT}_data`, `${PROJECT}_db`, `${PROJECT}_scratch`],
        directories: [{ volume: 'files', path: join(root, 'files'), entries: 1 }],
      },
    });
    expect(lines(docker('ps', '-aq', '--filter', `label=stowage.project=${PROJECT}`))).toEqual([]);
    expect(lines(docker('volume', 'ls', '-q', '--filter', `label=stowage.project=${PROJECT}`))).toEqual([]);
    expect(readdirSync(join(root, 'files'))).toEqual([]);
    expect(decoy()).toBe(decoyBefore);
    expect(docker('ps', '-a', '--filter', `name=^${PROJECT}-app-copy$`, '--format', '{{.State}}')).toBe('running');
    expect(docker('volume', 'ls', '-q', '--filter', `name=^${PROJECT}_data-old$`)).toBe(`${PROJECT}_data-old`);
  });

  it('keeps the emptied directory itself, with its owner and mode', async () => {
    deploy(model(PROJECT));
    execFileSync('chown', ['1000:1000', join(root, 'files')]);
    execFileSync('chmod', ['0750', join(root, 'files')]);
    expect((await clean(['--yes', '--no-backup'])).code).toBe(0);
    expect(execFileSync('stat', ['-c', '%u:%g %a', join(root, 'files')], { encoding: 'utf8' }).trim()).toBe('1000:1000 750');
  });

  it('removes a declared volume that carries no stowage labels (made by older tooling)', async () => {
    deploy(model(PROJECT), { volumeLabels: { data: null } });
    const result = await clean(['--yes', '--no-backup', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ removed: { volumes: expect.arrayContaining([`${PROJECT}_data`]) } });
    expect(docker('volume', 'ls', '-q', '--filter', `name=^${PROJECT}_data$`)).toBe('');
  });

  it('leaves a volume with a declared name alone when it carries another project\'s labels', async () => {
    deploy(model(PROJECT), { volumeLabels: { db: { 'stowage.project': DECOY, 'stowage.env': 'dev' } } });
    const result = await clean(['--yes', '--no-backup', '--json']);
    expect(result.code).toBe(0);
    const doc: unknown = JSON.parse(result.stdout);
    expect(doc).toMatchObject({ skipped: [{ kind: 'volume', name: `${PROJECT}_db`, reason: expect.stringContaining(`stowage.project=${DECOY}`) }] });
    expect(doc).toMatchObject({ removed: { volumes: [`${PROJECT}_data`, `${PROJECT}_scratch`] } });
    expect(docker('volume', 'ls', '-q', '--filter', `name=^${PROJECT}_db$`)).toBe(`${PROJECT}_db`);
  });

  it('leaves a container with the stack\'s name but without its labels alone, and refuses (exit 1) while it uses the stack\'s volume', async () => {
    deploy(model(PROJECT), { unlabelledContainer: 'worker' });
    const before = ours();
    const result = await clean(['--yes', '--no-backup']);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`volume ${PROJECT}_db is used by container ${PROJECT}-worker`);
    expect(result.stderr).toContain('nothing was changed');
    expect(ours()).toBe(before);
  });
});

describe('symbolic links are removed as links, never followed', () => {
  it('empties a directory holding links of every kind; what they point to on the host stays', async () => {
    deploy(model(PROJECT));
    const files = join(root, 'files');
    const outside = join(root, 'outside');
    mkdirSync(outside, { recursive: true });
    writeFileSync(join(outside, 'keep.txt'), 'kept\n');
    mkdirSync(join(outside, 'dir'), { recursive: true });
    writeFileSync(join(outside, 'dir', 'inner.txt'), 'inner\n');
    // Absolute to a host file and a host directory, dangling, leaving the directory (../outside), and /etc.
    symlinkSync(join(outside, 'keep.txt'), join(files, 'abs'));
    symlinkSync(join(outside, 'dir'), join(files, 'absdir'));
    symlinkSync('/nonexistent', join(files, 'dangling'));
    symlinkSync('../outside/dir', join(files, 'up'));
    symlinkSync('/etc', join(files, 'etcdir'));
    const result = await clean(['--yes', '--no-backup', '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ removed: { directories: [{ volume: 'files', path: files, entries: 6 }] } });
    expect(readdirSync(files)).toEqual([]);
    expect(readFileSync(join(outside, 'keep.txt'), 'utf8')).toBe('kept\n');
    expect(readFileSync(join(outside, 'dir', 'inner.txt'), 'utf8')).toBe('inner\n');
    expect(existsSync('/etc/hostname')).toBe(true);
  });
});

describe('backup first', () => {
  it('backs up and verifies before removing: a complete set with a manifest exists afterwards', async () => {
    deploy(model(PROJECT));
    const to = join(root, 'backups');
    const result = await clean(['--yes', '--to', to, '--json']);
    expect(result.code).toBe(0);
    const doc: unknown = JSON.parse(result.stdout);
    expect(doc).toMatchObject({ backup: { path: expect.stringContaining(join(to, PROJECT)), verified: true, artifacts: 3 }, backupSkipped: null });
    const sets = readdirSync(join(to, PROJECT)).filter((n) => /^\d{8}T\d{6}Z$/.test(n));
    expect(sets).toHaveLength(1);
    const manifest: unknown = JSON.parse(readFileSync(join(to, PROJECT, sets[0] ?? '', 'manifest.json'), 'utf8'));
    // scratch has backup method none: it is removed without a copy, as the stack file says.
    expect(manifest).toMatchObject({ format: 1, project: PROJECT, env: 'dev', artifacts: [{ volume: 'data' }, { volume: 'db' }, { volume: 'files' }] });
    expect(lines(docker('volume', 'ls', '-q', '--filter', `label=stowage.project=${PROJECT}`))).toEqual([]);
  });

  it('the backup holds the data that was removed', async () => {
    deploy(model(PROJECT));
    const to = join(root, 'backups');
    expect((await clean(['--yes', '--to', to])).code).toBe(0);
    const set = join(to, PROJECT, readdirSync(join(to, PROJECT)).find((n) => /^\d{8}T\d{6}Z$/.test(n)) ?? '');
    const listing = execFileSync('sh', ['-c', 'zstd -dc "$1" | tar -xOf - ./sub/content.txt', 'list', join(set, 'data.tar.zst')], { encoding: 'utf8' });
    expect(listing).toBe(`${PROJECT} data\n`);
  });

  it('with --no-backup makes no backup set', async () => {
    deploy(model(PROJECT));
    const to = join(root, 'backups');
    expect((await clean(['--yes', '--no-backup', '--to', to])).code).toBe(0);
    expect(existsSync(join(to, PROJECT))).toBe(false);
  });

  it('aborts with exit 1 and removes nothing when the backup fails', async () => {
    deploy(model(PROJECT));
    const before = ours();
    const notADirectory = join(root, 'a-file');
    writeFileSync(notADirectory, '');
    const result = await clean(['--yes', '--to', join(notADirectory, 'backups')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('aborted, nothing was removed: the backup failed');
    expect(ours()).toBe(before);
  });

  it('aborts with exit 1 and removes nothing when the new set fails verification', async () => {
    deploy(model(PROJECT));
    const before = ours();
    const to = join(root, 'backups');
    const m = model(PROJECT);
    // Damage the artifact between backup and verification, as a failing disk would: verification opens a progress bar per artifact first.
    let damaged = false;
    const progress = (label: string) => {
      if (label.startsWith('verify ') && !damaged) {
        const dir = join(to, PROJECT);
        const set = readdirSync(dir).find((n) => existsSync(join(dir, n, 'manifest.json')));
        writeFileSync(join(dir, set ?? '', 'data.tar.zst'), 'garbage');
        damaged = true;
      }
      return { add: () => undefined, finish: () => undefined };
    };
    await expect(cleanStart(m, { runner: new Runner(), backupTo: to, confirm: async () => undefined, progress })).rejects.toThrow(/aborted, nothing was removed: backup set .* failed verification/);
    expect(damaged).toBe(true);
    expect(ours()).toBe(before);
  });
});

describe('refusals and dry runs', () => {
  it('refuses without --yes and without a terminal (exit 2) before the backup, changing nothing', async () => {
    deploy(model(PROJECT));
    const before = ours();
    const to = join(root, 'backups');
    const result = await clean(['--to', to]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('refusing without a terminal to confirm; pass --yes');
    expect(ours()).toBe(before);
    expect(existsSync(to)).toBe(false);
    expect(decoy()).toBe(decoyBefore);
  });

  it('refuses (exit 2) to empty a directory that holds the backup directory', async () => {
    deploy(model(PROJECT));
    const before = ours();
    const result = await clean(['--yes', '--to', join(root, 'files', 'backups')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`refusing to empty ${join(root, 'files')} (volume files): it holds the backup directory`);
    expect(ours()).toBe(before);
  });

  it('--dry-run prints pasteable docker commands and changes nothing', async () => {
    deploy(model(PROJECT));
    const before = ours();
    const to = join(root, 'backups');
    const result = await clean(['--dry-run', '--to', to]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`^docker stop --time 30 (${PROJECT}-app ${PROJECT}-worker|${PROJECT}-worker ${PROJECT}-app)$`, 'm'));
    expect(result.stdout).toContain(`\ndocker rm --force ${PROJECT}-app\n`);
    expect(result.stdout).toContain(`\ndocker volume rm ${PROJECT}_data\n`);
    expect(result.stdout).toContain(`--mount type=bind,source=${join(root, 'files')},target=/d,bind-nonrecursive=true ${IMAGE} -c `);
    expect(result.stdout).toContain(`dry run: clean start of project ${PROJECT} (dev)`);
    expect(ours()).toBe(before);
    expect(existsSync(join(to, PROJECT))).toBe(false);
  });

  it('--dry-run --json prints one document listing what it would remove', async () => {
    deploy(model(PROJECT));
    const result = await clean(['--dry-run', '--no-backup', '--json']);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ dryRun: true, wouldRemove: { volumes: [`${PROJECT}_data`, `${PROJECT}_db`, `${PROJECT}_scratch`] } });
  });

  it('in production asks for the project name: a wrong name changes nothing (exit 2)', async () => {
    deploy(model(PROJECT, 'prod'));
    const before = ours();
    const result = await throughTerminal(['--stack', `${PROJECT}-prod`, '--stacks-dir', stacksDir, '--no-backup'], 'pim\n');
    expect(result.output).toContain(`Type the project name (${PROJECT}) to proceed`);
    expect(result.code).toBe(2);
    expect(ours()).toBe(before);
  });

  it('in production proceeds when the project name is typed', async () => {
    deploy(model(PROJECT, 'prod'));
    const result = await throughTerminal(['--stack', `${PROJECT}-prod`, '--stacks-dir', stacksDir, '--no-backup'], `${PROJECT}\n`);
    expect(result.code).toBe(0);
    expect(lines(docker('volume', 'ls', '-q', '--filter', `label=stowage.project=${PROJECT}`))).toEqual([]);
  });
});

describe('idempotence', () => {
  it('a second run removes nothing and exits 0', async () => {
    deploy(model(PROJECT));
    const to = join(root, 'backups');
    expect((await clean(['--yes', '--to', to])).code).toBe(0);
    const second = await clean(['--yes', '--to', to, '--json']);
    expect(second.code).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ backup: null, backupSkipped: 'nothing to remove', removed: { containers: [], volumes: [], directories: [] } });
    expect(readdirSync(join(to, PROJECT)).filter((n) => /^\d{8}T\d{6}Z$/.test(n))).toHaveLength(1);
  });

  it('on an already clean stack needs no confirmation', async () => {
    const result = await clean([]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('containers:  removed none');
  });
});

describe('commands as data', () => {
  it('empties a directory through a non-recursive bind mount, so a filesystem mounted below it is never reached', () => {
    const cmd = usage.emptyDirectory('busybox:1.36', { type: 'bind', source: '/srv/pim/data', readOnly: true }, { 'stowage.project': 'pim' });
    expect(cmd.mutates).toBe(true);
    expect(cmd.args).toContain('type=bind,source=/srv/pim/data,target=/d,bind-nonrecursive=true');
    expect(cmd.args[cmd.args.indexOf('-c') + 1]).toContain('find . -mindepth 1 -maxdepth 1 -exec rm -rf -- {} +');
  });
});

describe('plan (read-only)', () => {
  it('describes what will go, what is not backed up and what is left alone', async () => {
    deploy(model(PROJECT), { volumeLabels: { db: { 'stowage.project': DECOY } } });
    const plan = await planCleanStart(model(PROJECT), new Runner(), join(root, 'backups'));
    const text = describeCleanStart(plan);
    expect(text).toContain(`volumes:    ${PROJECT}_data, ${PROJECT}_scratch`);
    expect(text).toContain('not backed up: scratch (backup method none: regenerated on start)');
    expect(text).toContain(`left alone: volume ${PROJECT}_db: carries stowage.project=${DECOY}`);
    expect(plan.backupVolumes).toEqual(['data', 'files']);
  });
});

/** Runs clean-start under a pseudo-terminal (util-linux script), typing `input`. */
function throughTerminal(args: string[], input: string): Promise<{ code: number; output: string }> {
  const commandLine = [process.execPath, join(repoRoot, 'scripts/clean-start.mjs'), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', commandLine, '/dev/null'], { cwd: repoRoot, stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      output += chunk;
      if (output.includes('to proceed: ') && !child.stdin.writableEnded) child.stdin.end(input);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, output }));
  });
}
