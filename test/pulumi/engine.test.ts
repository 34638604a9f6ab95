// One explicit Docker provider per environment, and every Docker resource of the
// environment created through it: `pulumi up --stack digidig-prod` can only
// touch the engine the stack file (or, without one, the shell at deploy time)
// names, for all four stacks.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../../src/config/model.js';
import { deploy, type Deployment } from '../../src/pulumi/deploy.js';
import { PROVIDER_SSH_OPTIONS, deployTarget } from '../../src/pulumi/engine.js';
import { ALL_STACKS, DOCKER_PROVIDER_TYPE, installMocks, modelFor, NO_CONFIGURED_SECRETS, outputOf, type RecordingMocks } from './harness.js';

const emptyConfig = mkdtempSync(join(tmpdir(), 'stowage-docker-config-'));
afterAll(() => rmSync(emptyConfig, { recursive: true, force: true }));
/** A shell with no Docker settings at all: the provider gets the local socket. */
const BARE_SHELL = { DOCKER_CONFIG: emptyConfig };

function withEngine(model: Model, url: string): Model {
  return { ...model, engine: { url, tlsCertPath: undefined, declaredAt: `${model.stackFile} environments.${model.env}.engine` } };
}

/** Deploys a model under fresh mocks; returns what the engine was asked to register. */
async function deployed(name: string, model: Model, env: NodeJS.ProcessEnv): Promise<{ mocks: RecordingMocks; deployment: Deployment; reference: string }> {
  const mocks = await installMocks(name);
  const deployment = deploy(model, NO_CONFIGURED_SECRETS, deployTarget(model, undefined, env).provider);
  await outputOf(deployment.stack.containerNames);
  const reference = `${await outputOf(deployment.provider.urn)}::${await outputOf(deployment.provider.id)}`;
  return { mocks, deployment, reference };
}

const dockerRegistrations = (mocks: RecordingMocks): RecordingMocks['registrations'] => mocks.registrations.filter((r) => r.type.startsWith('docker:'));

describe.each(ALL_STACKS.map((id) => ({ ...id, name: `${id.app}-${id.env}` })))('$name', (id) => {
  describe('declared on an engine over SSH (environments.<env>.engine)', () => {
    let result: Awaited<ReturnType<typeof deployed>>;
    const url = `ssh://deploy@${id.app}-${id.env}.example.org:2222`;

    beforeAll(async () => {
      result = await deployed(id.name, withEngine(modelFor(id), url), { ...BARE_SHELL, DOCKER_HOST: 'unix:///var/run/docker.sock' });
    });

    it('has exactly one Docker provider, with the host and the SSH options', () => {
      const providers = result.mocks.ofType(DOCKER_PROVIDER_TYPE);
      expect(providers.map((p) => [p.name, p.inputs['host'], p.inputs['sshOpts']])).toEqual([[`${id.name}-engine`, url, JSON.stringify(PROVIDER_SSH_OPTIONS)]]);
    });

    it('creates every Docker resource through that provider', () => {
      const registrations = dockerRegistrations(result.mocks);
      expect(registrations.length).toBeGreaterThan(2);
      expect(registrations.filter((r) => r.provider !== result.reference).map((r) => `${r.type} ${r.name} via ${r.provider || 'the default provider'}`)).toEqual([]);
    });

    it('exports the engine', async () => {
      expect(result.deployment.outputs.engine).toBe(url);
    });
  });

  describe('without an engine in the stack file', () => {
    it("pins the provider to the engine the shell points at when the program runs", async () => {
      const { mocks, reference } = await deployed(id.name, modelFor(id), { ...BARE_SHELL, DOCKER_HOST: 'tcp://docker.example.org:2376' });
      expect(mocks.ofType(DOCKER_PROVIDER_TYPE).map((p) => p.inputs['host'])).toEqual(['tcp://docker.example.org:2376']);
      expect(dockerRegistrations(mocks).every((r) => r.provider === reference)).toBe(true);
    });
  });
});

describe('deployTarget: where an environment deploys', () => {
  const prod = modelFor({ app: 'digidig', env: 'prod' });
  const declared = withEngine(prod, 'ssh://deploy@mail.example.org');

  it('refuses docker:host that contradicts the stack file', () => {
    expect(() => deployTarget(declared, 'ssh://root@elsewhere.example.org', BARE_SHELL)).toThrow(pulumi.RunError);
    expect(() => deployTarget(declared, 'ssh://root@elsewhere.example.org', BARE_SHELL)).toThrow(/the stack file decides where an environment runs: remove docker:host/);
  });

  it('refuses to run with DOCKER_CONTEXT set, which the provider would prefer to the declared host', () => {
    expect(() => deployTarget(declared, undefined, { ...BARE_SHELL, DOCKER_CONTEXT: 'laptop' })).toThrow(/DOCKER_CONTEXT=laptop is set, which the Docker provider would use instead; unset it/);
  });

  it('takes docker:host when the stack file names no engine', () => {
    expect(deployTarget(prod, 'ssh://deploy@mail.example.org', BARE_SHELL)).toMatchObject({ provider: { host: 'ssh://deploy@mail.example.org' }, endpoint: { origin: 'docker:host in the Pulumi stack config' } });
  });

  it('warns when a production environment names no engine and goes wherever the shell points', () => {
    expect(deployTarget(prod, undefined, BARE_SHELL).warnings.join('\n')).toContain('digidig-prod declares no engine, so it deploys to unix:///var/run/docker.sock');
    expect(deployTarget(modelFor({ app: 'digidig', env: 'dev' }), undefined, BARE_SHELL).warnings).toEqual([]);
  });

  it('passes a Docker context on as a context, so its TLS material comes along', () => {
    expect(deployTarget(modelFor({ app: 'pim', env: 'dev' }), undefined, { ...BARE_SHELL, DOCKER_CONTEXT: 'ghost' }).provider).toEqual({ context: 'ghost' });
  });
});
