import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import type { Model } from '../config/model.js';
import { environmentEngine, parseEngineUrl, resolveEngine, type EngineEndpoint } from '../engine/endpoint.js';

/**
 * Where one environment deploys, decided once and handed to an explicit
 * docker.Provider that every resource of the environment uses: the stack
 * file's environments.<env>.engine, else docker:host, else DOCKER_HOST or the
 * Docker context, resolved now and written into the provider. The shell a
 * `pulumi up` runs in can then no longer send a production stack elsewhere.
 */

/**
 * SSH options of the provider: never prompt (a prompt without a terminal
 * hangs or fails half-way), and never accept a host key that is unknown or
 * changed. The docker CLI the scripts use runs without a terminal too, so it
 * refuses the same keys (docs/remote-engines.md).
 */
export const PROVIDER_SSH_OPTIONS: readonly string[] = ['-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes'];

export interface DeployTarget {
  /** The engine stowage's own checks (labels before a deploy) talk to: the same one the provider gets. */
  endpoint: EngineEndpoint;
  provider: docker.ProviderArgs;
  /** Said once per deploy: what a person should know about the choice. */
  warnings: string[];
}

/**
 * The engine of `model`: `dockerHost` is the stack config's docker:host,
 * `env` the environment the Pulumi CLI runs in (its provider plugin sees the
 * same one).
 */
export function deployTarget(model: Model, dockerHost: string | undefined, env: NodeJS.ProcessEnv = process.env): DeployTarget {
  const stack = `${model.app}-${model.env}`;
  const configured = dockerHost === undefined || dockerHost === '' ? undefined : dockerHost;
  if (model.engine !== undefined) {
    if (configured !== undefined && configured !== model.engine.url) {
      throw new pulumi.RunError(
        `${stack}: the stack config sets docker:host ${configured}, but ${model.engine.declaredAt} is ${model.engine.url}; ` +
          'the stack file decides where an environment runs: remove docker:host (pulumi config rm docker:host) or change the stack file',
      );
    }
    // The Docker provider lets DOCKER_CONTEXT override its host: a shell's context must not redirect a declared engine.
    const context = env['DOCKER_CONTEXT'];
    if (context !== undefined && context !== '' && context !== 'default') {
      throw new pulumi.RunError(
        `${stack} runs on ${model.engine.url} (${model.engine.declaredAt}), but DOCKER_CONTEXT=${context} is set, which the Docker provider would use instead; ` +
          'unset it for this command: env -u DOCKER_CONTEXT pulumi up',
      );
    }
    const endpoint = resolveEngine({ stack: model.engine });
    return { endpoint, provider: providerArgs(endpoint), warnings: [] };
  }
  if (configured !== undefined) {
    const parsed = parseEngineUrl(configured);
    if (!parsed.ok) throw new pulumi.RunError(`${stack}: docker:host: ${parsed.problem}; ${parsed.fix}`);
    const endpoint = { ...resolveEngine({ flag: configured }), origin: 'docker:host in the Pulumi stack config' };
    return { endpoint, provider: providerArgs(endpoint), warnings: [] };
  }
  const endpoint = environmentEngine(env);
  const warnings = model.production
    ? [
        `${stack} declares no engine, so it deploys to ${endpoint.url} (${endpoint.origin}), wherever the shell points: ` +
          `set environments.${model.env}.engine: ssh://<user>@<host> in ${model.stackFile} to pin it to its server`,
      ]
    : [];
  return { endpoint, provider: providerArgs(endpoint), warnings };
}

/** The provider's settings for an engine: its address (or the context it came from), TLS and SSH options. */
export function providerArgs(endpoint: EngineEndpoint): docker.ProviderArgs {
  if (endpoint.source === 'context' && endpoint.context !== undefined) return { context: endpoint.context };
  return {
    host: endpoint.url,
    ...(endpoint.url.startsWith('ssh://') ? { sshOpts: [...PROVIDER_SSH_OPTIONS] } : {}),
    ...(endpoint.tlsCertPath === undefined ? {} : { certPath: endpoint.tlsCertPath }),
  };
}

/** The one provider of an environment's resources. */
export function engineProvider(model: Model, args: docker.ProviderArgs, opts?: pulumi.CustomResourceOptions): docker.Provider {
  return new docker.Provider(`${model.app}-${model.env}-engine`, args, opts);
}
