// `pulumi up` cannot run here (no CLI); this runs the same Node runner the CLI
// starts, so the ESM + ts-node setup (package.json "type": "module", ts-node as
// a dependency, TypeScript 5.x, Pulumi.yaml `main`) is exercised for real.
import { beforeAll, describe, expect, it } from 'vitest';
import { CONTAINER_TYPE, isSecretEnvelope, plainStrings } from './harness.js';
import { runProgramLikePulumi, type ProgramRun } from './fake-engine.js';

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
