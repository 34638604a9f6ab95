import * as pulumi from '@pulumi/pulumi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploy, type Deployment } from '../../src/pulumi/deploy.js';
import {
  ALL_STACKS,
  CONTAINER_TYPE,
  fakePassword,
  installMocks,
  isSecretEnvelope,
  modelFor,
  NO_CONFIGURED_SECRETS,
  outputOf,
  PASSWORD_TYPE,
  plainStrings,
  type RecordingMocks,
} from './harness.js';
import { containerView, environmentRecord } from './views.js';

let mocks: RecordingMocks;
beforeAll(async () => {
  mocks = await installMocks();
});

function serviceContainer(deployment: Deployment, name: string) {
  const service = deployment.stack.containers.get(name);
  if (service === undefined) throw new Error(`no container ${name}`);
  return service;
}

describe('secrets the stack config does not set', () => {
  let deployment: Deployment;
  beforeAll(() => {
    deployment = deploy(modelFor({ app: 'digidig', env: 'prod' }), NO_CONFIGURED_SECRETS);
  });

  it('are generated as 32-character passwords without special characters (safe in URLs and env files)', async () => {
    await outputOf(deployment.stack.containerNames);
    const generated = mocks.ofType(PASSWORD_TYPE).map((r) => [r.name, r.inputs]);
    expect(generated).toEqual([
      ['postgres_password', { length: 32, special: false }],
      ['mongo_password', { length: 32, special: false }],
    ]);
    expect(deployment.stack.secrets.generatedKeys).toEqual(['postgres_password', 'mongo_password']);
  });

  it('reach every container that references them, as the same value', async () => {
    const postgres = environmentRecord((await containerView(serviceContainer(deployment, 'digidig-postgres'))).envs);
    const identity = environmentRecord((await containerView(serviceContainer(deployment, 'digidig-identity'))).envs);
    expect(postgres['POSTGRES_PASSWORD']).toBe(fakePassword('postgres_password'));
    expect(identity['DB_PASSWORD']).toBe(fakePassword('postgres_password'));
  });

  it.each(['digidig-postgres', 'digidig-mongo', 'digidig-identity', 'digidig-storage'])(
    'make the whole environment of %s a secret output',
    async (name) => {
      expect(await pulumi.isSecret(serviceContainer(deployment, name).container.envs)).toBe(true);
    },
  );

  it('leave environments that reference no secret in plain text', async () => {
    expect(await pulumi.isSecret(serviceContainer(deployment, 'digidig-smtp').container.envs)).toBe(false);
  });

  it('are exported together as one secret stack output', async () => {
    expect(await pulumi.isSecret(deployment.outputs.secrets)).toBe(true);
    expect(await outputOf(deployment.outputs.secrets)).toEqual({
      postgres_password: fakePassword('postgres_password'),
      mongo_password: fakePassword('mongo_password'),
    });
  });
});

describe('a secret set with `pulumi config set --secret`', () => {
  let deployment: Deployment;
  beforeAll(() => {
    pulumi.runtime.setAllConfig({ 'stowage:postgres_password': 'chosen-by-operator-9f3a' }, ['stowage:postgres_password']);
    deployment = deploy(modelFor({ app: 'digidig', env: 'dev' }), new pulumi.Config('stowage'));
  });
  afterAll(() => {
    pulumi.runtime.setAllConfig({}, []);
  });

  it('is used instead of a generated one', async () => {
    const postgres = environmentRecord((await containerView(serviceContainer(deployment, 'digidig-postgres'))).envs);
    expect(postgres['POSTGRES_PASSWORD']).toBe('chosen-by-operator-9f3a');
    expect(deployment.stack.secrets.generatedKeys).toEqual(['mongo_password']);
  });

  it('stays a secret output', async () => {
    expect(await pulumi.isSecret(deployment.stack.secrets.value('postgres_password'))).toBe(true);
    expect(await pulumi.isSecret(serviceContainer(deployment, 'digidig-postgres').container.envs)).toBe(true);
  });
});

describe('secret values across all four stacks', () => {
  const secretValues = [fakePassword('postgres_password'), fakePassword('mongo_password'), 'configured-for-leak-check-51c7'];
  beforeAll(async () => {
    pulumi.runtime.setAllConfig({ 'stowage:mongo_password': 'configured-for-leak-check-51c7' }, ['stowage:mongo_password']);
    const deployments = ALL_STACKS.map((id) => deploy(modelFor(id), new pulumi.Config('stowage')));
    await Promise.all(deployments.map((d) => outputOf(d.stack.containerNames)));
    pulumi.runtime.setAllConfig({}, []);
  });

  it('never appear in plain text in any resource input', () => {
    const leaks = mocks.resources.flatMap((resource) =>
      plainStrings(resource.inputs)
        .filter((text) => secretValues.some((secret) => text.includes(secret)))
        .map((text) => `${resource.type} ${resource.name}: ${text}`),
    );
    expect(mocks.resources.length).toBeGreaterThan(0);
    expect(leaks).toEqual([]);
  });

  it('are sent to the engine wrapped as secrets in container environments', () => {
    const withSecrets = mocks
      .ofType(CONTAINER_TYPE)
      .filter((r) => ['digidig-postgres', 'digidig-mongo', 'digidig-identity', 'digidig-storage'].includes(r.name));
    expect(withSecrets.length).toBeGreaterThan(0);
    expect(withSecrets.filter((r) => !isSecretEnvelope(r.inputs['envs'])).map((r) => r.name)).toEqual([]);
  });
});

describe('a reference to a secret the stack file does not declare', () => {
  it('fails with a message naming the secret and the declared ones', () => {
    const deployment = deploy(modelFor({ app: 'digidig', env: 'dev' }), NO_CONFIGURED_SECRETS);
    expect(() => deployment.stack.secrets.value('smtp_password')).toThrow(/"smtp_password" is not declared.*postgres_password, mongo_password/);
  });
});
