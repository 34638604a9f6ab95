import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import type { SecretModel } from '../config/model.js';

/**
 * Where operator-chosen secret values come from. In a Pulumi run this is the
 * stack's `pulumi.Config`, so `pulumi config set --secret <key> <value>` wins
 * over a generated value; tests can pass their own.
 */
export interface SecretSource {
  getSecret(key: string): pulumi.Output<string> | undefined;
}

export interface SecretSetArgs {
  secrets: SecretModel[];
  source: SecretSource;
}

/** One value per declared secret, configured or generated, only ever held as a Pulumi secret output. */
export class SecretSet extends pulumi.ComponentResource {
  private readonly values: ReadonlyMap<string, pulumi.Output<string>>;
  /** Keys whose value was generated because the stack config does not set them. */
  readonly generatedKeys: readonly string[];

  constructor(name: string, args: SecretSetArgs, opts?: pulumi.ComponentResourceOptions) {
    super('stowage:index:SecretSet', name, {}, opts);
    const values = new Map<string, pulumi.Output<string>>();
    const generated: string[] = [];
    for (const secret of args.secrets) {
      const configured = args.source.getSecret(secret.key);
      if (configured !== undefined) {
        values.set(secret.key, pulumi.secret(configured));
        continue;
      }
      // No special characters: generated values end up in connection URLs and env
      // files, where characters such as @ / # ' would need escaping.
      // PostgreSQL and MongoDB take their password once, when they initialise their data
      // directory, and the volumes outlive `pulumi destroy` (retainOnDelete). A password
      // regenerated after a destroy would lock the services out of their own data. So the
      // password is protected: plain `pulumi destroy` refuses, `pulumi destroy
      // --exclude-protected` removes everything else and keeps it for the next `pulumi up`,
      // and a change that would replace it (a new length) fails instead of rotating it.
      const password = new random.RandomPassword(secret.key, { length: secret.length, special: false }, { parent: this, protect: true });
      // The provider marks `result` secret, but only the engine applies that marking:
      // wrapping it here keeps the value secret in every code path, mocks included.
      values.set(secret.key, pulumi.secret(password.result));
      generated.push(secret.key);
    }
    this.values = values;
    this.generatedKeys = generated;
    this.registerOutputs({ keys: [...values.keys()], generatedKeys: generated });
  }

  get keys(): string[] {
    return [...this.values.keys()];
  }

  value(key: string): pulumi.Output<string> {
    const value = this.values.get(key);
    if (value === undefined) {
      throw new Error(`secret "${key}" is not declared in the stack file's secrets (declared: ${this.keys.join(', ') || 'none'})`);
    }
    return value;
  }
}
