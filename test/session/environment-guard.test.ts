// dev and prod of one app share every name unless an environment sets its own
// project. On one engine, deploying or restoring prod would take over dev's
// volumes. Deploys (the Pulumi program, runbooks that run Compose) and restores
// read the labels of what they are about to use and refuse, exit 2, before
// anything changes. Tested on the real engine, against a dev deployment.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/config/errors.js';
import { resolveModel, type Model } from '../../src/config/model.js';
import { parseStackText } from '../../src/config/load.js';
import { Runner } from '../../src/engine/command.js';
import { foreignEnvironmentError, foreignObjects, refuseOtherEnvironment, type LabelledObject } from '../../src/session/environment-guard.js';
import { runProgramLikePulumi } from '../pulumi/fake-engine.js';
import { VOLUME_TYPE, CONTAINER_TYPE } from '../pulumi/harness.js';
import { BUSYBOX, containerState, createVolume, docker, exec, inVolume, removeProject, repoRoot, runService, show, uniqueProject, type RunResult } from '../helpers/engine.js';
import { TempDirs } from '../helpers/stacks.js';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const labels = (project: string, env: string): Record<string, string> => ({ 'stowage.project': project, 'stowage.env': env });
const object = (name: string, found: Record<string, string>, expected = labels('shop', 'prod')): LabelledObject => ({ kind: 'volume', name, labels: found, expected });

describe('foreignObjects', () => {
  it("finds what carries another environment's label", () => {
    expect(foreignObjects([object('shop_data', { ...labels('shop', 'dev'), 'stowage.volume': 'data' })]).map((o) => [o.name, o.env])).toEqual([['shop_data', 'dev']]);
  });

  it("finds what carries another project's label", () => {
    expect(foreignObjects([object('shop_data', labels('shop-legacy', 'prod'))]).map((o) => [o.name, o.project])).toEqual([['shop_data', 'shop-legacy']]);
  });

  it('leaves what carries this environment\'s labels, or none at all (made by hand, or before stowage)', () => {
    expect(foreignObjects([object('shop_data', labels('shop', 'prod')), object('shop_logs', {}), object('shop_tmp', { owner: 'ops' })])).toEqual([]);
  });

  it('compares with the labels the model gives each object, so the scratch volumes of a restore drill are its own', () => {
    const drill = labels('shop-drill', 'prod');
    expect(foreignObjects([object('shop-drill_data', drill, drill)])).toEqual([]);
  });
});

function shopModel(env: string): Model {
  const text = 'app: shop\nvolumes:\n  data: {}\nservices:\n  app: { image: shop/app:1.0.0, mounts: [data:/data] }\nenvironments:\n  dev: {}\n  prod: {}\n';
  return resolveModel(parseStackText(text, '/srv/stowage/stacks/shop.yaml'), env, { stackFile: '/srv/stowage/stacks/shop.yaml' });
}

describe('foreignEnvironmentError', () => {
  const error = foreignEnvironmentError(shopModel('prod'), foreignObjects([object('shop_data', labels('shop', 'dev'))]));

  it('is a usage error (exit 2)', () => {
    expect(error).toBeInstanceOf(UsageError);
  });

  it('names the volume, both environments, and that nothing changed', () => {
    expect(error.message).toContain('shop-prod: volume shop_data on this engine belongs to environment "dev" of shop (labels stowage.project=shop, stowage.env=dev), not to "prod"');
    expect(error.message).toContain('Nothing was changed.');
  });

  it('says how to keep the environments apart', () => {
    expect(error.message).toContain('fix: run dev and prod on separate engines');
    expect(error.message).toContain('environments.prod.project: shop-prod in shop.yaml');
  });
});

describe('on the engine, with a dev deployment of the same app', () => {
  const project = uniqueProject('guard');
  const stackText = `app: ${project}\nhelper: { image: ${BUSYBOX} }\nvolumes:\n  data: {}\nservices:\n  app:\n    image: ${BUSYBOX}\n    mounts: [data:/data]\nenvironments:\n  dev: {}\n  prod: {}\n`;
  const stacksDir = temp.stacksDir({ [`${project}.yaml`]: stackText });
  const stackFile = join(stacksDir, `${project}.yaml`);
  const model = (env: string): Model => resolveModel(parseStackText(stackText, stackFile), env, { stackFile });
  const volume = `${project}_data`;
  const container = `${project}-app`;
  const backups = temp.make('stowage-guard-backups-');
  const script = (name: string, args: string[]): Promise<RunResult> =>
    exec('npx', ['zx', `scripts/${name}.mjs`, ...args, '--stacks-dir', stacksDir], { cwd: repoRoot, hangAfterMs: 75_000 });

  beforeAll(async () => {
    await createVolume(project, 'data', 'dev');
    await inVolume(volume, 'echo dev data > /d/marker');
    await runService(project, 'app', { mounts: [['data', '/data']], envName: 'dev' });
  });
  afterAll(() => removeProject(project));

  it('dev itself is allowed: the labels are its own', async () => {
    await expect(refuseOtherEnvironment(model('dev'), new Runner())).resolves.toBeUndefined();
  });

  it('prod is refused, naming the volume, the container and both environments', async () => {
    const refused = refuseOtherEnvironment(model('prod'), new Runner());
    await expect(refused).rejects.toThrow(UsageError);
    await expect(refused).rejects.toThrow(new RegExp(`volume ${volume} on this engine belongs to environment "dev" of ${project} .*not to "prod"`));
    await expect(refused).rejects.toThrow(`also: container ${container} (environment "dev" of ${project})`);
  });

  it('restore.mjs for prod exits 2 before it stops or changes anything', async () => {
    const backup = await script('backup', ['--stack', `${project}-dev`, '--to', backups, '--json']);
    expect(backup.code, show(backup)).toBe(0);
    const before = await containerState(container);
    const restore = await script('restore', ['--stack', `${project}-prod`, '--to', backups, '--backup', 'latest', '--yes']);
    expect(restore.code, show(restore)).toBe(2);
    expect(restore.stderr).toContain(`volume ${volume} on this engine belongs to environment "dev"`);
    expect(await containerState(container)).toEqual(before);
    expect(await inVolume(volume, 'cat /d/marker')).toBe('dev data\n');
  });

  it('the clean-start runbook for prod exits 2 before its first step (no backup, no journal, nothing removed)', async () => {
    const journal = mkdtempSync(join(tmpdir(), 'stowage-guard-journal-'));
    try {
      const run = await exec(
        'npx',
        ['zx', 'scripts/runbook.mjs', 'clean-start', '--stack', `${project}-prod`, '--stacks-dir', stacksDir, '--to', backups, '--journal-dir', journal, '--yes'],
        { cwd: repoRoot, hangAfterMs: 75_000 },
      );
      expect(run.code, show(run)).toBe(2);
      expect(run.stderr).toContain(`volume ${volume} on this engine belongs to environment "dev"`);
      expect(readdirSync(journal)).toEqual([]);
      expect(await inVolume(volume, 'cat /d/marker')).toBe('dev data\n');
      expect((await containerState(container)).running).toBe(true);
    } finally {
      rmSync(journal, { recursive: true, force: true });
    }
  });

  it('the Pulumi program for prod stops before it declares a volume or container', async () => {
    const run = await runProgramLikePulumi({
      stack: `${project}-prod`,
      config: { 'stowage:app': project, 'stowage:env': 'prod', 'stowage:stacksDir': stacksDir },
      secretKeys: [],
    });
    expect(run.exitCode).not.toBe(0);
    expect([...run.engineLog, run.stderr].join('\n')).toContain(`volume ${volume} on this engine belongs to environment "dev"`);
    expect(run.mocks.resources.filter((r) => r.type === VOLUME_TYPE || r.type === CONTAINER_TYPE)).toEqual([]);
  });

  it('the Pulumi program for dev declares its resources', async () => {
    const run = await runProgramLikePulumi({
      stack: `${project}-dev`,
      config: { 'stowage:app': project, 'stowage:env': 'dev', 'stowage:stacksDir': stacksDir },
      secretKeys: [],
    });
    expect(run.exitCode, run.stderr).toBe(0);
    expect(run.mocks.resources.filter((r) => r.type === VOLUME_TYPE).map((r) => r.name)).toEqual([volume]);
  });

  it('a volume without stowage labels is adopted: it is nobody else\'s', async () => {
    const other = uniqueProject('bare');
    try {
      await docker('volume', 'create', `${other}_data`);
      const bareText = `app: ${other}\nvolumes:\n  data: {}\nservices:\n  app: { image: ${BUSYBOX}, mounts: [data:/data] }\nenvironments:\n  prod: {}\n`;
      const bare = resolveModel(parseStackText(bareText, stackFile), 'prod', { stackFile });
      await expect(refuseOtherEnvironment(bare, new Runner())).resolves.toBeUndefined();
    } finally {
      await docker('volume', 'rm', `${other}_data`);
    }
  });
});
