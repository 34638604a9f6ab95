// Both enforcement paths agree on the shipped stacks: the CrossGuard pack, fed
// the resources the real Pulumi program (src/pulumi) declares under Pulumi's
// official mocks, reports exactly what the lint reports from the stack files.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, test } from 'vitest';
import { createPolicies } from '../../policies/pack.mjs';
import { loadStackFile } from '../../src/config/load.js';
import { resolveModel } from '../../src/config/model.js';
import { lintModel } from '../../src/policy/lint.js';
import { deploy } from '../../src/pulumi/deploy.js';
import { repoRoot } from '../helpers/run.js';
import { RESOURCE_TYPES, validateAll, type FakeResource } from './crossguard-harness.js';

const stacksDir = join(repoRoot, 'stacks');

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** Records every resource with its inputs; image resources report an ID, as the provider does. */
class RecordingMocks implements pulumi.runtime.Mocks {
  resources: FakeResource[] = [];

  newResource(args: pulumi.runtime.MockResourceArgs): pulumi.runtime.MockResourceResult {
    const inputs: unknown = args.inputs;
    if (!isRecord(inputs)) throw new Error(`inputs of ${args.name} are not an object`);
    this.resources.push({ type: args.type, name: args.name, props: inputs });
    const state = args.type === RESOURCE_TYPES.remoteImage ? { ...inputs, imageId: `sha256:${createHash('sha256').update(args.name).digest('hex')}` } : inputs;
    return { id: `${args.name}-id`, state };
  }

  call(): pulumi.runtime.MockCallResult {
    return {};
  }
}

const mocks = new RecordingMocks();
beforeAll(async () => {
  await pulumi.runtime.setMocks(mocks, 'stowage', 'test', false);
});

/** The resources `pulumi up --stack <app>-<env>` declares. */
async function declaredResources(app: string, env: string): Promise<FakeResource[]> {
  const file = join(stacksDir, `${app}.yaml`);
  const model = resolveModel(loadStackFile(file).stack, env, { stackFile: file });
  mocks.resources = [];
  const { outputs } = deploy(model, { getSecret: () => undefined });
  await new Promise<void>((done) => pulumi.all([outputs.containers, outputs.volumes, outputs.network]).apply(() => done()));
  return mocks.resources.filter((r) => Object.values(RESOURCE_TYPES).some((type) => type === r.type));
}

function lintFindings(app: string, env: string): string[] {
  const file = join(stacksDir, `${app}.yaml`);
  const { stack } = loadStackFile(file);
  return lintModel(resolveModel(stack, env, { stackFile: file }), stack).map((v) => `${v.rule}: ${v.message}\nfix: ${v.fix}`);
}

describe.each([
  ['pim', 'dev'],
  ['pim', 'prod'],
  ['digidig', 'dev'],
  ['digidig', 'prod'],
])('%s-%s', (app, env) => {
  test('the pack reports what the lint reports, and nothing mandatory', async () => {
    const resources = await declaredResources(app, env);
    expect(resources.filter((r) => r.type === RESOURCE_TYPES.container).length).toBeGreaterThan(0);
    const policies = createPolicies({ stacksDir });
    const reported = await validateAll(policies, resources, `${app}-${env}`);
    expect(reported.map((r) => `${r.policy}: ${r.message}`).sort()).toEqual(lintFindings(app, env).sort());
    const mandatory = new Set(policies.filter((p) => p.enforcementLevel === 'mandatory').map((p) => p.name));
    expect(reported.filter((r) => mandatory.has(r.policy))).toEqual([]);
  });
});
