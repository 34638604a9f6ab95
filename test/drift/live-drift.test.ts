// drift.mjs --stack S on the real engine: a test stack is deployed from its
// generated Compose files (as Compose users do), then broken one way at a time;
// the report must name exactly the object and the kind of drift.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import type { ContainerModel, Model } from '../../src/config/model.js';
import { selectStack } from '../../src/config/select.js';
import { Runner } from '../../src/engine/command.js';
import { renderStackFile, writeRendered } from '../../src/ops/compose-files.js';
import { liveDrift, type DriftItem } from '../../src/ops/live-drift.js';
import { runCommand, runScript, type RunResult } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';

const IMAGE = 'stowage-test/busybox:1';
const SLEEP = `["sh", "-c", "trap 'exit 0' TERM; while :; do sleep 1; done"]`;
const PROJECT = `stwdrift${Math.random().toString(36).slice(2, 8).replace(/[^a-z0-9]/g, 'x')}`;
const STACK = `${PROJECT}-test`;
const OTHER_IMAGE = `${PROJECT}-other:1`;

const temp = new TempDirs();
const root = temp.make('stowage-drift-');
const stacksDir = join(root, 'stacks');
const composeDir = join(root, 'compose');
const hostDir = (name: string): string => join(root, 'host', name);

const secretEnv = { [`${PROJECT.toUpperCase()}_TOKEN`]: 'token-value-for-tests' };
let model: Model;

async function docker(...args: string[]): Promise<RunResult> {
  const result = await runCommand('docker', args);
  if (result.code !== 0) throw new Error(`docker ${args.join(' ')} failed: ${result.stderr}`);
  return result;
}

async function compose(...args: string[]): Promise<RunResult> {
  const files = [`${PROJECT}.yml`, `${PROJECT}.test.yml`].flatMap((f) => ['-f', join(composeDir, f)]);
  const result = await runCommand('docker-compose', ['-p', PROJECT, ...files, ...args], {
    cwd: composeDir,
    env: { ...secretEnv, COMPOSE_FILE: undefined, COMPOSE_PROJECT_NAME: undefined },
  });
  if (result.code !== 0) throw new Error(`docker-compose ${args.join(' ')} failed: ${result.stderr}`);
  return result;
}

/** Removes every container and volume of this test's project (by label and by name), never anything else. */
async function teardown(): Promise<void> {
  const containers = (await docker('ps', '-aq', '--filter', `label=stowage.project=${PROJECT}`)).stdout.split('\n').filter(Boolean);
  const named = (await docker('ps', '-aq', '--filter', `name=^${PROJECT}-`)).stdout.split('\n').filter(Boolean);
  const ids = [...new Set([...containers, ...named])];
  if (ids.length > 0) await docker('rm', '-f', ...ids);
  const volumes = (await docker('volume', 'ls', '-q', '--filter', `label=stowage.project=${PROJECT}`)).stdout.split('\n').filter(Boolean);
  const byName = (await docker('volume', 'ls', '-q', '--filter', `name=^${PROJECT}_`)).stdout.split('\n').filter(Boolean);
  const names = [...new Set([...volumes, ...byName])];
  if (names.length > 0) await docker('volume', 'rm', '-f', ...names);
}

async function deploy(): Promise<void> {
  await teardown();
  await compose('up', '-d', '--no-build');
}

function containerModel(service: string): ContainerModel {
  const found = model.containers.find((c) => c.service === service);
  if (found === undefined) throw new Error(`no service ${service}`);
  return found;
}

interface Changes {
  image?: string;
  labels?: Record<string, string>;
  env?: Record<string, string | undefined>;
  user?: string;
  readOnly?: string[];
}

/** Replaces a service's container with one made by hand from the model, with some settings changed. */
async function recreate(service: string, changes: Changes = {}): Promise<void> {
  const c = containerModel(service);
  const env: Record<string, string | undefined> = Object.fromEntries(c.environment.map((e) => [e.name, e.value ?? 'token-value-for-tests']));
  Object.assign(env, changes.env ?? {});
  const labels = { ...c.labels, ...(changes.labels ?? {}) };
  await docker('rm', '-f', c.name);
  await docker(
    'run', '-d', '--name', c.name, '--restart', c.restart, '--network', model.network.name,
    ...Object.entries(labels).flatMap(([k, v]) => ['--label', `${k}=${v}`]),
    ...Object.entries(env).flatMap(([k, v]) => (v === undefined ? [] : ['--env', `${k}=${v}`])),
    ...((changes.user ?? c.user) === undefined ? [] : ['--user', changes.user ?? c.user ?? '']),
    ...c.mounts.flatMap((m) => [
      '--mount',
      [`type=${m.type}`, `source=${m.source}`, `target=${m.target}`, ...(m.readOnly || (changes.readOnly ?? []).includes(m.target) ? ['readonly'] : [])].join(','),
    ]),
    changes.image ?? c.image,
    ...(c.command ?? []),
  );
}

async function drift(): Promise<Array<Pick<DriftItem, 'object' | 'name' | 'kind'>>> {
  const report = await liveDrift(new Runner(), model);
  return report.drift.map(({ object, name, kind }) => ({ object, name, kind }));
}

async function driftItem(): Promise<DriftItem> {
  const report = await liveDrift(new Runner(), model);
  expect(report.drift).toHaveLength(1);
  const [item] = report.drift;
  if (item === undefined) throw new Error('no drift reported');
  return item;
}

beforeAll(async () => {
  mkdirSync(stacksDir, { recursive: true });
  for (const dir of ['files', 'logs', 'elsewhere']) mkdirSync(hostDir(dir), { recursive: true });
  const stackFile = join(stacksDir, `${PROJECT}.yaml`);
  writeFileSync(
    stackFile,
    yamlText`
      app: ${PROJECT}
      secrets:
        token: {}
      volumes:
        data: {}
        files: {}
        logs: {}
      services:
        web:
          image: ${IMAGE}
          command: ${SLEEP}
          user: "1000:1000"
          environment:
            MODE: test
            TOKEN: { secret: token }
          mounts: [data:/data, files:/files, logs:/logs]
        worker:
          image: ${IMAGE}
          command: ${SLEEP}
          mounts: [data:/data:ro]
      environments:
        test:
          volumes:
            files: { host: ${hostDir('files')} }
            logs: { bind: ${hostDir('logs')} }
    `,
  );
  writeRendered(renderStackFile(stackFile, composeDir), composeDir);
  model = selectStack(STACK, stacksDir).model;
  await docker('tag', IMAGE, OTHER_IMAGE);
});

beforeEach(async () => {
  await deploy();
});

afterAll(async () => {
  await teardown();
  await runCommand('docker', ['network', 'rm', `${PROJECT}_default`]);
  await runCommand('docker', ['image', 'rm', OTHER_IMAGE]);
  temp.removeAll();
});

describe('a deployment made from the generated Compose files', () => {
  test('has no drift', async () => {
    expect(await drift()).toEqual([]);
  });

  test('has no drift when a container runs the same image referenced by ID, as Pulumi creates it', async () => {
    const id = (await docker('image', 'inspect', '--format', '{{.Id}}', IMAGE)).stdout.trim();
    await recreate('worker', { image: id });
    expect(await drift()).toEqual([]);
  });

  test('has no drift when a secret variable holds another value: only its presence is compared', async () => {
    await recreate('web', { env: { TOKEN: 'rotated-by-hand' } });
    expect(await drift()).toEqual([]);
  });
});

describe('containers', () => {
  test('a stopped container is reported stopped', async () => {
    await docker('stop', '--time', '5', `${PROJECT}-worker`);
    expect(await drift()).toEqual([{ object: 'container', name: `${PROJECT}-worker`, kind: 'stopped' }]);
  });

  test('a removed container is reported missing', async () => {
    await docker('rm', '-f', `${PROJECT}-worker`);
    expect(await drift()).toEqual([{ object: 'container', name: `${PROJECT}-worker`, kind: 'missing' }]);
  });

  test('a container carrying the environment\'s labels but not declared is reported extra', async () => {
    await docker('run', '-d', '--name', `${PROJECT}-intruder`, '--label', `stowage.project=${PROJECT}`, '--label', 'stowage.env=test', IMAGE, 'sleep', '600');
    expect(await drift()).toEqual([{ object: 'container', name: `${PROJECT}-intruder`, kind: 'extra' }]);
  });

  test('a container of another environment of the project is not this environment\'s drift', async () => {
    await docker('run', '-d', '--name', `${PROJECT}-staging`, '--label', `stowage.project=${PROJECT}`, '--label', 'stowage.env=staging', IMAGE, 'sleep', '600');
    expect(await drift()).toEqual([]);
  });

  test('a container recreated with another image tag is reported as image drift', async () => {
    await recreate('web', { image: OTHER_IMAGE });
    const item = await driftItem();
    expect(item).toMatchObject({ object: 'container', name: `${PROJECT}-web`, kind: 'image' });
    expect(item.detail).toBe(`runs ${OTHER_IMAGE}; the stack file says ${IMAGE}`);
  });

  test('a changed label is reported as label drift', async () => {
    await recreate('web', { labels: { 'stowage.service': 'frontend' } });
    const item = await driftItem();
    expect(item).toMatchObject({ object: 'container', name: `${PROJECT}-web`, kind: 'labels' });
    expect(item.detail).toBe('stowage.service=frontend (expected web)');
  });

  test('a changed variable is reported as environment drift, naming it without its value', async () => {
    await recreate('web', { env: { MODE: 'debug' } });
    const item = await driftItem();
    expect(item).toMatchObject({ object: 'container', name: `${PROJECT}-web`, kind: 'environment' });
    expect(item.detail).toBe('value differs from the stack file for MODE');
    expect(item.detail).not.toContain('debug');
  });

  test('a missing secret variable and an undeclared one are reported as environment drift', async () => {
    await recreate('web', { env: { TOKEN: undefined, DEBUG_PASSWORD: 'hunter2' } });
    const item = await driftItem();
    expect(item.kind).toBe('environment');
    expect(item.detail).toBe('missing TOKEN (secret); set but not declared: DEBUG_PASSWORD');
  });

  test('another user is reported as user drift', async () => {
    await recreate('web', { user: '0:0' });
    const item = await driftItem();
    expect(item).toMatchObject({ object: 'container', name: `${PROJECT}-web`, kind: 'user' });
    expect(item.detail).toBe('runs as 0:0; the stack file says 1000:1000');
  });

  test('a mount made read-only is reported as mount drift', async () => {
    await recreate('web', { readOnly: ['/data'] });
    const item = await driftItem();
    expect(item).toMatchObject({ object: 'container', name: `${PROJECT}-web`, kind: 'mounts' });
    expect(item.detail).toBe(`/data: expected volume ${PROJECT}_data (rw), found volume ${PROJECT}_data (ro)`);
  });
});

describe('volumes', () => {
  test('a removed volume is reported missing (with the container removed to free it)', async () => {
    await docker('rm', '-f', `${PROJECT}-web`);
    await docker('volume', 'rm', `${PROJECT}_files`);
    expect(await drift()).toEqual([
      { object: 'container', name: `${PROJECT}-web`, kind: 'missing' },
      { object: 'volume', name: `${PROJECT}_files`, kind: 'missing' },
    ]);
  });

  test('a volume carrying the environment\'s labels but not declared is reported extra', async () => {
    await docker('volume', 'create', '--label', `stowage.project=${PROJECT}`, '--label', 'stowage.env=test', `${PROJECT}_stray`);
    expect(await drift()).toEqual([{ object: 'volume', name: `${PROJECT}_stray`, kind: 'extra' }]);
  });

  test('a host-backed volume bound to another directory is reported as options drift', async () => {
    await docker('rm', '-f', `${PROJECT}-web`);
    await docker('volume', 'rm', `${PROJECT}_files`);
    await docker(
      'volume', 'create', '--driver', 'local',
      '--opt', 'type=none', '--opt', 'o=bind', '--opt', `device=${hostDir('elsewhere')}`,
      '--label', `stowage.project=${PROJECT}`, '--label', 'stowage.env=test', '--label', 'stowage.volume=files',
      `${PROJECT}_files`,
    );
    await recreate('web');
    const item = await driftItem();
    expect(item).toMatchObject({ object: 'volume', name: `${PROJECT}_files`, kind: 'options' });
    expect(item.detail).toBe(`device=${hostDir('elsewhere')} (expected ${hostDir('files')})`);
    expect(item.fix).toContain('never remove it before the backup is verified');
  });
});

describe('drift.mjs --stack', () => {
  test('exits 0 and says the engine matches when nothing drifted', async () => {
    const result = await runScript('drift', ['--stack', STACK, '--stacks-dir', stacksDir]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`${STACK}: the engine matches the stack file (2 container(s), 2 volume(s) checked)`);
  });

  test('exits 3 with a report naming the drifted object, kind and fix', async () => {
    await docker('stop', '--time', '5', `${PROJECT}-worker`);
    const result = await runScript('drift', ['--stack', STACK, '--stacks-dir', stacksDir]);
    expect(result.code).toBe(3);
    expect(result.stdout).toContain(`container ${PROJECT}-worker: stopped`);
    expect(result.stdout).toContain(`fix: start it (docker start ${PROJECT}-worker)`);
  });

  test('--json prints one document listing the drift', async () => {
    await docker('rm', '-f', `${PROJECT}-worker`);
    const result = await runScript('drift', ['--stack', STACK, '--stacks-dir', stacksDir, '--json']);
    expect(result.code).toBe(3);
    const document: unknown = JSON.parse(result.stdout);
    expect(document).toMatchObject({
      live: { stack: STACK, project: PROJECT, env: 'test', clean: false, drift: [{ object: 'container', name: `${PROJECT}-worker`, kind: 'missing' }] },
    });
  });
});
