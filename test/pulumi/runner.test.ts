// `pulumi up` cannot run here (no CLI); this runs the same Node runner the CLI
// starts, with the working directory and entry point the CLI derives from
// Pulumi.yaml, so the ESM + ts-node setup (package.json "type": "module" and
// "main", ts-node as a dependency, TypeScript 5.x, tsconfig.json) is exercised for real.
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTAINER_TYPE, isSecretEnvelope, plainStrings, PROJECT_ROOT } from './harness.js';
import { programLocation, runProgramLikePulumi, type ProgramRun } from './fake-engine.js';

/** What the runner logs at debug level when it finds no tsconfig.json in its working directory. */
const TSCONFIG_IGNORED = 'Ignoring error in loadCompilerOptions';

describe("the program under Pulumi's Node runner, as `pulumi up --stack digidig-prod` starts it", () => {
  let run: ProgramRun;
  beforeAll(async () => {
    run = await runProgramLikePulumi({
      stack: 'digidig-prod',
      config: { 'stowage:app': 'digidig', 'stowage:env': 'prod', 'stowage:postgres_password': 'set-with-config-set-secret-77e1' },
      secretKeys: ['stowage:postgres_password'],
    });
  });

  it('exits successfully', () => {
    expect(run.exitCode, `runner stderr:\n${run.stderr}`).toBe(0);
  });

  it('loads src/pulumi/index.ts through ts-node in ES-module mode', () => {
    expect(run.engineLog).toContain('Using automatic ESM mode');
  });

  it("type-checks it with the project's tsconfig.json, which ts-node finds in the runner's working directory", () => {
    expect(run.engineLog.filter((message) => message.includes(TSCONFIG_IGNORED))).toEqual([]);
  });

  it('exports the project, network, volume and container names as stack outputs', () => {
    expect(run.stackOutputs?.['project']).toBe('digidig');
    expect(run.stackOutputs?.['network']).toBe('digidig_default');
    expect(run.stackOutputs?.['volumes']).toContain('digidig_app_logs');
    expect(run.stackOutputs?.['containers']).toEqual([
      'digidig-postgres',
      'digidig-mongo',
      'digidig-identity',
      'digidig-smtp',
      'digidig-imap',
      'digidig-storage',
      'digidig-client',
      'digidig-admin',
      'digidig-apidocs',
    ]);
  });

  it('exports the secrets output as a secret', () => {
    expect(isSecretEnvelope(run.stackOutputs?.['secrets'])).toBe(true);
  });

  it('passes a secret from the stack config to the container only inside a secret', () => {
    const postgres = run.mocks.ofType(CONTAINER_TYPE).find((r) => r.name === 'digidig-postgres');
    expect(isSecretEnvelope(postgres?.inputs['envs'])).toBe(true);
    expect(JSON.stringify(postgres?.inputs['envs'])).toContain('POSTGRES_PASSWORD=set-with-config-set-secret-77e1');
    const plain = run.mocks.resources.flatMap((r) => plainStrings(r.inputs)).filter((s) => s.includes('set-with-config-set-secret-77e1'));
    expect(plain).toEqual([]);
  });

  it('warns about nothing when the stack name matches stowage:app and stowage:env', () => {
    expect(run.engineLog.filter((message) => message.includes('stacks are usually named'))).toEqual([]);
  });
});

describe('the program under the runner with a stack named after another environment', () => {
  it('warns that the stack config looks copied from another stack', async () => {
    const run = await runProgramLikePulumi({ stack: 'pim-prod', config: { 'stowage:app': 'pim', 'stowage:env': 'dev' }, secretKeys: [] });
    expect(run.exitCode).toBe(0);
    expect(run.engineLog.join('\n')).toMatch(/Pulumi stack "pim-prod" deploys pim environment "dev"/);
  });
});

describe('the program under the runner without stowage:app', () => {
  it('fails and says which config key to set', async () => {
    const run = await runProgramLikePulumi({ stack: 'pim-dev', config: { 'stowage:env': 'dev' }, secretKeys: [] });
    expect(run.exitCode).not.toBe(0);
    expect([...run.engineLog, run.stderr].join('\n')).toMatch(/pulumi config set stowage:app/);
  });
});

describe('where the CLI runs the program (Pulumi.yaml and package.json)', () => {
  const temp = mkdtempSync(join(tmpdir(), 'stowage-pulumi-location-'));
  afterAll(() => rmSync(temp, { recursive: true, force: true }));
  const project = (pulumiYaml: string): string => {
    const dir = mkdtempSync(join(temp, 'p-'));
    mkdirSync(join(dir, 'src', 'pulumi'), { recursive: true });
    writeFileSync(join(dir, 'src', 'pulumi', 'index.ts'), '');
    writeFileSync(join(dir, 'Pulumi.yaml'), pulumiYaml);
    return dir;
  };

  it("is the project root, where tsconfig.json is, with package.json's main as the entry point", () => {
    expect(programLocation(PROJECT_ROOT)).toEqual({ pwd: PROJECT_ROOT, entry: '.' });
  });

  it('would be the directory of a main file, away from tsconfig.json (what `main: src/pulumi/index.ts` did)', () => {
    const dir = project('name: x\nruntime: nodejs\nmain: src/pulumi/index.ts\n');
    expect(programLocation(dir)).toEqual({ pwd: join(dir, 'src', 'pulumi'), entry: 'index.ts' });
  });

  it('is a main directory itself, with "." as the entry', () => {
    const dir = project('name: x\nruntime: nodejs\nmain: src/pulumi\n');
    expect(programLocation(dir)).toEqual({ pwd: join(dir, 'src', 'pulumi'), entry: '.' });
  });
});

describe("a program that only the project's strict options reject, run where the CLI runs it", () => {
  // This repository's Pulumi.yaml, package.json and tsconfig.json around a program
  // with an error that only noUncheckedIndexedAccess (tsconfig.json) finds: if
  // ts-node ignored tsconfig.json, the runner would run it without complaint.
  const dir = mkdtempSync(join(tmpdir(), 'stowage-pulumi-strict-'));
  let run: ProgramRun;
  beforeAll(async () => {
    for (const file of ['Pulumi.yaml', 'package.json', 'tsconfig.json']) copyFileSync(join(PROJECT_ROOT, file), join(dir, file));
    symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(dir, 'node_modules'));
    mkdirSync(join(dir, 'src', 'pulumi'), { recursive: true });
    writeFileSync(join(dir, 'src', 'pulumi', 'index.ts'), 'const names: string[] = [];\nconst first: string = names[0];\nexport const value = first;\n');
    run = await runProgramLikePulumi({ stack: 'strict-check', projectRoot: dir, config: {}, secretKeys: [] });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is refused by the type check before it runs', () => {
    expect(run.exitCode).not.toBe(0);
    expect([run.stderr, ...run.engineLog].join('\n')).toMatch(/TS2322: Type 'string \| undefined' is not assignable to type 'string'/);
  });

  it('runs with TS_NODE_TRANSPILE_ONLY=true, the switch docs/pulumi.md gives for skipping the check', async () => {
    // In ES-module mode the runner's own PULUMI_NODEJS_TRANSPILE_ONLY does not reach ts-node
    // (its loader hooks register ts-node before they receive the runner's options).
    const skipped = await runProgramLikePulumi({ stack: 'strict-check', projectRoot: dir, config: {}, secretKeys: [], env: { TS_NODE_TRANSPILE_ONLY: 'true' } });
    expect(skipped.exitCode, skipped.stderr).toBe(0);
  });
});
