// Calls the CrossGuard policies the way the Pulumi engine does, without the
// Pulumi CLI: fake ResourceValidationArgs / StackValidationArgs around resource
// arguments shaped like the ones src/pulumi declares, and a reportViolation spy.
import { vi } from 'vitest';
import type { Policies, PolicyResource, ReportViolation, ResourceValidationArgs, StackValidationArgs } from '@pulumi/policy';
import { RESOURCE_TYPES } from '../../policies/resource-props.mjs';

export { RESOURCE_TYPES };

export function urnOf(stack: string, type: string, name: string): string {
  return `urn:pulumi:${stack}::stowage::stowage:index:Stack$${type}::${name}`;
}

const OPTIONS: ResourceValidationArgs['opts'] = {
  protect: false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
};

function noConfig<T extends object>(): T {
  throw new Error('the stowage policies take no configuration');
}

function notApplicable(reason?: string): never {
  throw new Error(`notApplicable: ${reason ?? ''}`);
}

export interface FakeResource {
  type: string;
  name: string;
  props: Record<string, unknown>;
}

export function resourceArgs(resource: FakeResource, stack: string): ResourceValidationArgs {
  return {
    type: resource.type,
    props: resource.props,
    urn: urnOf(stack, resource.type, resource.name),
    name: resource.name,
    opts: OPTIONS,
    stackTags: new Map(),
    isType: () => false,
    asType: () => undefined,
    getConfig: noConfig,
    notApplicable,
  };
}

export function stackArgs(resources: FakeResource[], stack: string): StackValidationArgs {
  const policyResources: PolicyResource[] = resources.map((r) => ({
    type: r.type,
    props: r.props,
    urn: urnOf(stack, r.type, r.name),
    name: r.name,
    opts: OPTIONS,
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
    asType: () => undefined,
  }));
  return { resources: policyResources, stackTags: new Map(), getConfig: noConfig, notApplicable };
}

export interface Reported {
  message: string;
  urn: string | undefined;
}

function policyNamed(policies: Policies, name: string): Policies[number] {
  const policy = policies.find((p) => p.name === name);
  if (policy === undefined) throw new Error(`the pack has no policy ${name}`);
  return policy;
}

/** What the policy reports for one resource (nothing when it does not validate resources). */
export async function validateResource(policies: Policies, name: string, resource: FakeResource, stack: string): Promise<Reported[]> {
  const policy = policyNamed(policies, name);
  const spy = vi.fn<ReportViolation>();
  if ('validateResource' in policy && policy.validateResource !== undefined) {
    const validations = Array.isArray(policy.validateResource) ? policy.validateResource : [policy.validateResource];
    for (const validate of validations) await validate(resourceArgs(resource, stack), spy);
  }
  return spy.mock.calls.map(([message, urn]) => ({ message, urn }));
}

/** What the policy reports for the whole stack (nothing when it has no stack validation). */
export async function validateStack(policies: Policies, name: string, resources: FakeResource[], stack: string): Promise<Reported[]> {
  const policy = policyNamed(policies, name);
  const spy = vi.fn<ReportViolation>();
  if ('validateStack' in policy) await policy.validateStack(stackArgs(resources, stack), spy);
  return spy.mock.calls.map(([message, urn]) => ({ message, urn }));
}

/** Every resource through validateResource, then the stack through validateStack: what `pulumi preview` runs. */
export async function validateAll(policies: Policies, resources: FakeResource[], stack: string): Promise<Array<Reported & { policy: string }>> {
  const reported: Array<Reported & { policy: string }> = [];
  for (const policy of policies) {
    for (const resource of resources) {
      for (const r of await validateResource(policies, policy.name, resource, stack)) reported.push({ policy: policy.name, ...r });
    }
    for (const r of await validateStack(policies, policy.name, resources, stack)) reported.push({ policy: policy.name, ...r });
  }
  return reported;
}

// ---------------------------------------------------------------------------
// Resources as src/pulumi declares them for the fixture stack (test/policy/fixtures.ts).

export const IMAGE_ID = `sha256:${'c'.repeat(64)}`;

export function labels(project: string, env: string, extra: Record<string, string>): Array<{ label: string; value: string }> {
  return Object.entries({ 'stowage.project': project, 'stowage.env': env, ...extra }).map(([label, value]) => ({ label, value }));
}

export interface ContainerSpec {
  project?: string;
  env?: string;
  service: string;
  mounts?: Array<{ type: string; source?: string; target: string; readOnly?: boolean }>;
  extra?: Record<string, unknown>;
}

export function container(spec: ContainerSpec): FakeResource {
  const project = spec.project ?? 'shop';
  const name = `${project}-${spec.service}`;
  return {
    type: RESOURCE_TYPES.container,
    name,
    props: {
      name,
      image: IMAGE_ID,
      restart: 'unless-stopped',
      privileged: false,
      labels: labels(project, spec.env ?? 'prod', { 'stowage.service': spec.service }),
      mounts: spec.mounts ?? [],
      networksAdvanced: [{ name: `${project}_default`, aliases: [spec.service] }],
      ...spec.extra,
    },
  };
}

export function volume(name: string, driverOpts: Record<string, string> | undefined, project = 'shop', env = 'prod'): FakeResource {
  const key = name.slice(project.length + 1);
  return {
    type: RESOURCE_TYPES.volume,
    name,
    props: {
      name,
      driver: 'local',
      ...(driverOpts === undefined ? {} : { driverOpts }),
      labels: labels(project, env, { 'stowage.volume': key }),
    },
  };
}

export function hostBacked(path: string): Record<string, string> {
  return { type: 'none', o: 'bind', device: path };
}

export function remoteImage(reference: string): FakeResource {
  return { type: RESOURCE_TYPES.remoteImage, name: reference, props: { name: reference, keepLocally: true } };
}

/** The resources `pulumi up --stack shop-prod` declares for the fixture stack. */
export function shopProd(): { web: FakeResource; worker: FakeResource; data: FakeResource; logs: FakeResource; images: FakeResource[] } {
  return {
    web: container({
      service: 'web',
      mounts: [
        { type: 'volume', source: 'shop_data', target: '/data', readOnly: false },
        { type: 'volume', source: 'shop_logs', target: '/logs', readOnly: false },
      ],
    }),
    worker: container({ service: 'worker', mounts: [{ type: 'volume', source: 'shop_logs', target: '/logs', readOnly: false }] }),
    data: volume('shop_data', hostBacked('/srv/shop/data')),
    logs: volume('shop_logs', hostBacked('/srv/shop/logs')),
    images: [remoteImage('shop/web:1.2.3'), remoteImage('shop/worker:1.2.3')],
  };
}

/** shop-prod's web container as the program declares it, with some arguments changed. */
export function webWith(extra: Record<string, unknown>): FakeResource {
  const { web } = shopProd();
  return { ...web, props: { ...web.props, ...extra } };
}

export function all(resources: ReturnType<typeof shopProd>): FakeResource[] {
  return [resources.web, resources.worker, resources.data, resources.logs, ...resources.images];
}

/**
 * Props as the policy SDK hands them during `pulumi preview`: reading a value
 * that is not known yet throws (this mimics @pulumi/policy's internal
 * unknownCheckingProxy, whose error carries the sentinel it met).
 */
export function withUnknown(props: Record<string, unknown>, unknownKey: string): Record<string, unknown> {
  class UnknownValueError extends Error {
    readonly unknownTypeSentinel = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';
  }
  return new Proxy(props, {
    get(target, key) {
      if (key === unknownKey) throw new UnknownValueError(`string value at .${unknownKey} can't be known during preview`);
      return Reflect.get(target, key);
    },
    ownKeys(target) {
      return [...new Set([...Reflect.ownKeys(target), unknownKey])];
    },
    getOwnPropertyDescriptor(target, key) {
      return key === unknownKey ? { configurable: true, enumerable: true, writable: true, value: undefined } : Reflect.getOwnPropertyDescriptor(target, key);
    },
  });
}
