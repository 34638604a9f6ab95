import type * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import type { Model } from '../config/model.js';
import { deployTarget, engineProvider } from './engine.js';
import type { SecretSource } from './secrets.js';
import { StackDeployment } from './stack.js';

/** What `pulumi stack output` shows for a deployed environment. */
export interface StackOutputs {
  project: string;
  /** The engine every resource of the environment is on (the provider's host or context). */
  engine: string;
  network: pulumi.Output<string>;
  /** Docker volume names (bind-mounted volumes have none: see bindMounts). */
  volumes: pulumi.Output<string[]>;
  containers: pulumi.Output<string[]>;
  /** Host directory of each bind-mounted volume, by stack file volume key. */
  bindMounts: Record<string, string>;
  /** Every secret value by key, as one secret: `pulumi stack output secrets --show-secrets`. */
  secrets: pulumi.Output<Record<string, string>>;
}

export interface Deployment {
  stack: StackDeployment;
  /** The environment's one Docker provider: every Docker resource is created through it. */
  provider: docker.Provider;
  outputs: StackOutputs;
}

/**
 * Declares one environment's resources. A function rather than module-level
 * code, so tests can install Pulumi's mocks first and then deploy any model.
 */
export function deploy(
  model: Model,
  secretSource: SecretSource = new pulumi.Config('stowage'),
  engine: docker.ProviderArgs = deployTarget(model, undefined).provider,
): Deployment {
  const provider = engineProvider(model, engine);
  // Given to the component, the provider reaches every Docker resource below it (their parent chain leads here).
  const stack = new StackDeployment(`${model.app}-${model.env}`, { model, secretSource }, { providers: [provider] });
  const secretValues = Object.fromEntries(stack.secrets.keys.map((key) => [key, stack.secrets.value(key)]));
  return {
    stack,
    provider,
    outputs: {
      project: model.project,
      engine: typeof engine.context === 'string' ? `context ${engine.context}` : typeof engine.host === 'string' ? engine.host : '(the provider\'s default)',
      network: stack.network.name,
      volumes: stack.volumes.names,
      containers: stack.containerNames,
      bindMounts: Object.fromEntries(
        model.volumes.flatMap((v) => (v.kind === 'bind' && v.hostPath !== undefined ? [[v.key, v.hostPath]] : [])),
      ),
      secrets: pulumi.secret(pulumi.all(secretValues)),
    },
  };
}
