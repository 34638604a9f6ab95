/**
 * Which engine a command talks to, and whether it runs on this machine.
 * The only place that reads DOCKER_HOST: everything that needs to know
 * whether a host path is the engine's host path asks here.
 */

export interface EngineEndpoint {
  /** The DOCKER_HOST value, '' for the CLI's default (the local socket or the current context). */
  host: string;
  /** The engine shares this machine's filesystem: host paths in the stack are its paths. */
  local: boolean;
}

/** An empty DOCKER_HOST means the default, as the docker CLI treats it. */
export function currentEndpoint(env: NodeJS.ProcessEnv = process.env): EngineEndpoint {
  const host = (env['DOCKER_HOST'] ?? '').trim();
  return { host, local: host === '' || host.startsWith('unix://') || host.startsWith('npipe://') };
}

export function engineIsLocal(env: NodeJS.ProcessEnv = process.env): boolean {
  return currentEndpoint(env).local;
}
