import * as pulumi from '@pulumi/pulumi';
import type { Model } from '../config/model.js';
import type { SecretSource } from './secrets.js';
import { StackDeployment } from './stack.js';

/** What `pulumi stack output` shows for a deployed environment. */
export interface StackOutputs {
  project: string;
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
  outputs: StackOutputs;
}

/**
 * Declares one environment's resources. A function rather than module-level
 * code, so tests can install Pulumi's mocks first and then deploy any model.
 */
export function deploy(model: Model, secretSource: SecretSource = new pulumi.Config('stowage')): Deployment {
  const stack = new StackDeployment(`${model.app}-${model.env}`, { model, secretSource });
  const secretValues = Object.fromEntries(stack.secrets.keys.map((key) => [key, stack.secrets.value(key)]));
  return {
    stack,
    outputs: {
      project: model.project,
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
