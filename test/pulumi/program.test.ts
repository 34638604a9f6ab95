import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel, programSettings, projectRoot, stackFilePath, stackNameWarning, type ProgramConfig } from '../../src/pulumi/program.js';
import { installMocks, isRecord, outputOf, PROJECT_ROOT, STACKS_DIR } from './harness.js';

function configOf(values: Record<string, string>): ProgramConfig {
  return { get: (key) => values[key] };
}

describe('projectRoot', () => {
  it('is the root directory the CLI reports', () => {
    expect(projectRoot('/srv/stowage', '/somewhere/else')).toBe('/srv/stowage');
  });

  it("is found by walking up to Pulumi.yaml when the SDK reports its placeholder (older CLIs, mocks)", () => {
    expect(projectRoot('rootDirectory', join(PROJECT_ROOT, 'src', 'pulumi'))).toBe(PROJECT_ROOT);
  });

  it('is the working directory when no Pulumi.yaml is above it', () => {
    expect(projectRoot('', '/')).toBe('/');
  });
});

describe('programSettings', () => {
  it('reads stowage:app and stowage:env and looks for stack files in <project root>/stacks', () => {
    expect(programSettings(configOf({ app: 'pim', env: 'prod' }), '/srv/stowage')).toEqual({ app: 'pim', env: 'prod', stacksDir: '/srv/stowage/stacks' });
  });

  it('resolves stowage:stacksDir against the project root', () => {
    expect(programSettings(configOf({ app: 'pim', env: 'dev', stacksDir: '../site/stacks' }), '/srv/stowage').stacksDir).toBe('/srv/site/stacks');
  });

  it('keeps an absolute stowage:stacksDir', () => {
    expect(programSettings(configOf({ app: 'pim', env: 'dev', stacksDir: '/etc/stowage' }), '/srv/stowage').stacksDir).toBe('/etc/stowage');
  });

  it('explains how to set a missing stowage:app', () => {
    expect(() => programSettings(configOf({ env: 'dev' }), '/srv')).toThrow(/no stowage:app: run `pulumi config set stowage:app pim`/);
  });

  it('refuses an app name that could point outside the stacks directory', () => {
    expect(() => programSettings(configOf({ app: '../etc/passwd', env: 'dev' }), '/srv')).toThrow(/stowage:app is "\.\.\/etc\/passwd"/);
  });

  it('reports configuration problems as RunErrors, which Pulumi prints without a stack trace', () => {
    expect(() => programSettings(configOf({}), '/srv')).toThrow(pulumi.RunError);
  });
});

describe('stackFilePath and loadModel', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'stowage-pulumi-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('names <app>.yaml in the stacks directory', () => {
    expect(stackFilePath({ app: 'pim', env: 'dev', stacksDir: STACKS_DIR })).toBe(join(STACKS_DIR, 'pim.yaml'));
  });

  it('falls back to <app>.yml when only that exists', () => {
    writeFileSync(join(dir, 'solo.yml'), 'app: solo\n');
    expect(stackFilePath({ app: 'solo', env: 'dev', stacksDir: dir })).toBe(join(dir, 'solo.yml'));
  });

  it('resolves the configured environment of the stack file', () => {
    const model = loadModel({ app: 'digidig', env: 'prod', stacksDir: STACKS_DIR });
    expect([model.project, model.env, model.production]).toEqual(['digidig', 'prod', true]);
  });

  it('names the declared environments when the configured one does not exist', () => {
    expect(() => loadModel({ app: 'pim', env: 'staging', stacksDir: STACKS_DIR })).toThrow(/no environment "staging"; declared: dev, prod/);
  });

  it('reports an invalid stack file with file, line and key', () => {
    writeFileSync(join(dir, 'broken.yaml'), 'app: broken\nvolumes: {}\nservices:\n  web:\n    image: x:1\n    colour: blue\nenvironments:\n  dev: {}\n');
    expect(() => loadModel({ app: 'broken', env: 'dev', stacksDir: dir })).toThrow(/broken\.yaml:6:5: services\.web\.colour: unknown key "colour"/);
  });

  it('reports a missing stack file as a RunError naming the path', () => {
    expect(() => loadModel({ app: 'absent', env: 'dev', stacksDir: dir })).toThrow(pulumi.RunError);
    expect(() => loadModel({ app: 'absent', env: 'dev', stacksDir: dir })).toThrow(/absent\.yaml/);
  });
});

describe('stackNameWarning', () => {
  it('is silent when the Pulumi stack is named <app>-<env>', () => {
    expect(stackNameWarning({ app: 'pim', env: 'prod', stacksDir: STACKS_DIR }, 'pim-prod')).toBeUndefined();
  });

  it('warns when the stack name and the configured app/env disagree', () => {
    expect(stackNameWarning({ app: 'pim', env: 'dev', stacksDir: STACKS_DIR }, 'pim-prod')).toMatch(/"pim-prod" deploys pim environment "dev"/);
  });
});

describe('src/pulumi/index.ts, the program entry', () => {
  let exported: Record<string, unknown>;
  beforeAll(async () => {
    await installMocks('pim-prod');
    pulumi.runtime.setAllConfig({ 'stowage:app': 'pim', 'stowage:env': 'prod' });
    // Imported only now: the entry creates resources while it loads, so the mocks must be in place first.
    const entry: unknown = await import('../../src/pulumi/index.js');
    if (!isRecord(entry)) throw new Error('the program entry is not a module namespace');
    exported = entry;
  });

  async function exportedValue(name: string): Promise<unknown> {
    const value = exported[name];
    return pulumi.Output.isInstance(value) ? outputOf(value) : value;
  }

  it('exports the project name', async () => {
    expect(await exportedValue('project')).toBe('pim');
  });

  it('exports the network name', async () => {
    expect(await exportedValue('network')).toBe('pim_default');
  });

  it('exports the container names', async () => {
    expect(await exportedValue('containers')).toEqual(['pim-backend']);
  });

  it('exports the Docker volume names (none for pim, whose data is a bind mount)', async () => {
    expect(await exportedValue('volumes')).toEqual([]);
    expect(await exportedValue('bindMounts')).toEqual({ data: '/srv/pim/data' });
  });

  it('exports the secrets output, empty for pim, which declares none', async () => {
    expect(await exportedValue('secrets')).toEqual({});
  });
});
