import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { EngineSpec } from '../config/model.js';
import { compileSchema, type ValidateFunction } from '../config/schema.js';
import { tunnelSocket, tunnelUnavailable } from './ssh-tunnel.js';

/**
 * Which engine a command talks to, and whether it runs on this machine. The
 * one place that decides: `--engine URL`, else the stack's
 * `environments.<env>.engine`, else DOCKER_HOST, else the Docker context (as
 * the docker CLI would). Everything that spawns docker takes its environment
 * from here (`dockerEnvironment`), and everything that needs to know whether a
 * host path in the stack is a path of this machine asks `engineIsLocal`.
 */

export type EngineSource = 'flag' | 'stack' | 'DOCKER_HOST' | 'context' | 'default';

export interface EngineEndpoint {
  /** The engine's address as the docker CLI takes it; for a context, its docker endpoint. */
  url: string;
  source: EngineSource;
  /** How the choice was made, for --dry-run, --json and messages: `--engine`, `stacks/pim.yaml environments.prod.engine`, ... */
  origin: string;
  /** The Docker context's name when source is 'context'. */
  context: string | undefined;
  tlsCertPath: string | undefined;
  /**
   * The engine shares this machine's filesystem: host paths in the stack are
   * this machine's paths. True only where that is certain (the standard local
   * sockets); every other engine is reached through helpers, which work anywhere.
   */
  local: boolean;
  /** On another machine for certain (ssh://, tcp://): paths relative to this checkout mean nothing there. */
  remote: boolean;
}

// ---------------------------------------------------------------- URLs

export type EngineUrl =
  | { scheme: 'ssh'; user: string | undefined; host: string; port: number | undefined }
  | { scheme: 'tcp'; host: string; port: number }
  | { scheme: 'unix'; path: string }
  | { scheme: 'npipe'; path: string };

export type ParsedEngineUrl = { ok: true; url: EngineUrl } | { ok: false; problem: string; fix: string };

const FORMS = 'ssh://user@host[:port], tcp://host:port or unix:///path/to/docker.sock';

/** Reads an engine address the way the docker CLI accepts it, refusing what it would misread. */
export function parseEngineUrl(address: string): ParsedEngineUrl {
  // Messages quote the address, never a password in it.
  const text = address.replace(/^([a-z]+:\/\/[^/@:]*):[^/@]*@/, '$1:***@');
  const bad = (problem: string, fix = `write ${FORMS}`): ParsedEngineUrl => ({ ok: false, problem, fix });
  const scheme = /^([a-z]+):\/\//.exec(address)?.[1];
  if (scheme === undefined) return bad(`"${text}" is not an engine address`);
  if (/\s/.test(address)) return bad(`"${text}" contains white space`);
  if (scheme === 'unix' || scheme === 'npipe') {
    const path = address.slice(scheme.length + 3);
    if (scheme === 'unix' && !path.startsWith('/')) return bad(`"${text}": the socket path is not absolute`, 'write three slashes and the absolute path: unix:///var/run/docker.sock');
    if (path === '' || path === '/') return bad(`"${text}" names no socket`, 'write the socket path, e.g. unix:///var/run/docker.sock');
    return { ok: true, url: { scheme, path } };
  }
  if (scheme !== 'ssh' && scheme !== 'tcp') return bad(`"${text}": scheme ${scheme}:// is not an engine address`);
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return bad(`"${text}" is not a valid URL`);
  }
  const host = url.hostname;
  if (host === '') return bad(`"${text}" names no host`);
  if (url.password !== '') return bad(`the address carries a password (${text})`, 'use an SSH key (ssh-agent or ~/.ssh/config): a password in the stack file would be committed');
  if ((url.pathname !== '' && url.pathname !== '/') || url.search !== '' || url.hash !== '') return bad(`"${text}" has a path, query or fragment after the host`, `write only ${scheme}://${scheme === 'ssh' ? 'user@' : ''}host:port`);
  const port = url.port === '' ? undefined : Number(url.port);
  if (scheme === 'tcp') {
    if (url.username !== '') return bad(`"${text}": tcp:// takes no user`, 'remove the user@ part; the engine authenticates TLS client certificates (engineTls)');
    if (port === undefined) return bad(`"${text}" names no port`, 'write the port the engine listens on, e.g. tcp://host:2376 (TLS)');
    return { ok: true, url: { scheme, host, port } };
  }
  return { ok: true, url: { scheme, user: url.username === '' ? undefined : decodeURIComponent(url.username), host, port } };
}

/** The standard sockets of an engine on this machine; any other socket may lead into a VM or be forwarded from elsewhere. */
const LOCAL_SOCKETS: ReadonlySet<string> = new Set(['/var/run/docker.sock', '/run/docker.sock']);

function placement(url: string): { local: boolean; remote: boolean } {
  const parsed = parseEngineUrl(url);
  if (!parsed.ok) return { local: false, remote: false };
  switch (parsed.url.scheme) {
    case 'unix':
      return { local: LOCAL_SOCKETS.has(parsed.url.path.replace(/\/+$/, '')), remote: false };
    case 'npipe':
      return { local: true, remote: false };
    case 'ssh':
    case 'tcp':
      return { local: false, remote: true };
  }
}

/** Whether an engine address is on another machine for certain (the stack-file check for ./relative binds). */
export function isRemoteUrl(url: string): boolean {
  return placement(url).remote;
}

// ---------------------------------------------------------------- resolution

export const DEFAULT_SOCKET_URL = 'unix:///var/run/docker.sock';

export interface EngineChoice {
  /** --engine URL. */
  flag?: string | undefined;
  /** model.engine. */
  stack?: EngineSpec | undefined;
  env?: NodeJS.ProcessEnv;
}

function endpoint(url: string, source: EngineSource, origin: string, extra: { context?: string; tlsCertPath?: string } = {}): EngineEndpoint {
  return { url, source, origin, context: extra.context, tlsCertPath: extra.tlsCertPath, ...placement(url) };
}

/** --engine, then the stack file, then DOCKER_HOST, then the Docker context, then the local socket. */
export function resolveEngine(choice: EngineChoice): EngineEndpoint {
  if (choice.flag !== undefined) return endpoint(choice.flag, 'flag', '--engine');
  if (choice.stack !== undefined) return endpoint(choice.stack.url, 'stack', choice.stack.declaredAt, { tlsCertPath: choice.stack.tlsCertPath });
  return environmentEngine(choice.env ?? process.env);
}

const environmentCache = new Map<string, EngineEndpoint>();

/** The engine the docker CLI would pick from this environment: DOCKER_HOST, DOCKER_CONTEXT, the config's current context. */
export function environmentEngine(env: NodeJS.ProcessEnv = process.env): EngineEndpoint {
  const dockerHost = (env['DOCKER_HOST'] ?? '').trim();
  if (dockerHost !== '') return endpoint(dockerHost, 'DOCKER_HOST', 'DOCKER_HOST', { tlsCertPath: env['DOCKER_TLS_VERIFY'] === undefined ? undefined : env['DOCKER_CERT_PATH'] });
  const configDir = env['DOCKER_CONFIG'] ?? join(env['HOME'] ?? homedir(), '.docker');
  const key = `${env['DOCKER_CONTEXT'] ?? ''}\0${configDir}`;
  const cached = environmentCache.get(key);
  if (cached !== undefined) return cached;
  const found = contextEngine(env['DOCKER_CONTEXT'], configDir);
  environmentCache.set(key, found);
  return found;
}

interface DockerConfig {
  currentContext?: string;
}

interface ContextMeta {
  Endpoints: { docker: { Host: string } };
}

let validators: { config: ValidateFunction<DockerConfig>; meta: ValidateFunction<ContextMeta> } | undefined;

/** Compiled on first use: most runs never look at a Docker context. */
function dockerFileValidators(): { config: ValidateFunction<DockerConfig>; meta: ValidateFunction<ContextMeta> } {
  validators ??= {
    config: compileSchema<DockerConfig>('docker-config.schema.json'),
    meta: compileSchema<ContextMeta>('docker-context-meta.schema.json'),
  };
  return validators;
}



function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * A context's docker endpoint, read where the docker CLI keeps it
 * (`contexts/meta/<sha256 of the name>/meta.json`). A context that cannot be
 * read is reported by name and counts as neither local nor proven remote.
 */
function contextEngine(fromEnv: string | undefined, configDir: string): EngineEndpoint {
  let name = fromEnv;
  let origin = 'DOCKER_CONTEXT';
  if (name === undefined || name === '') {
    const config = readJson(join(configDir, 'config.json'));
    name = dockerFileValidators().config(config) ? config.currentContext : undefined;
    origin = `current Docker context (${join(configDir, 'config.json')})`;
  }
  if (name === undefined || name === '' || name === 'default') return endpoint(DEFAULT_SOCKET_URL, 'default', 'the docker CLI\'s default');
  const meta = readJson(join(configDir, 'contexts', 'meta', createHash('sha256').update(name).digest('hex'), 'meta.json'));
  const host = dockerFileValidators().meta(meta) ? meta.Endpoints.docker.Host : `context:${name}`;
  return endpoint(host, 'context', `${origin} "${name}"`, { context: name });
}

// ---------------------------------------------------------------- the engine in effect

const scoped = new AsyncLocalStorage<EngineEndpoint>();
let selected: EngineEndpoint | undefined;

/**
 * The engine of everything this process runs from now on: a command about one
 * stack selects its engine once, before it runs anything.
 */
export function selectEngine(engine: EngineEndpoint): void {
  selected = engine;
}

/** Runs `work` (and everything it starts) against `engine`: for commands that visit several stacks, each on its own engine. */
export function withEngine<T>(engine: EngineEndpoint, work: () => Promise<T>): Promise<T> {
  return scoped.run(engine, work);
}

/** The engine docker commands started now go to. */
export function currentEngine(): EngineEndpoint {
  return scoped.getStore() ?? selected ?? environmentEngine();
}

export function engineIsLocal(engine: EngineEndpoint = currentEngine()): boolean {
  return engine.local;
}

/** Variables the docker CLI reads to choose and reach an engine. */
const ENGINE_VARIABLES = ['DOCKER_HOST', 'DOCKER_CONTEXT', 'DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_TLS'] as const;

/**
 * What a child process must see to reach `engine`: for an engine chosen by
 * the flag or the stack file, DOCKER_HOST (and its TLS settings) replace
 * whatever the shell had; otherwise the shell's own choice stands.
 */
export function engineVariables(engine: EngineEndpoint): Record<string, string | undefined> {
  if (engine.source !== 'flag' && engine.source !== 'stack') return {};
  const tls = engine.source === 'stack' && engine.tlsCertPath !== undefined ? { DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: engine.tlsCertPath } : {};
  // --engine keeps the shell's TLS settings: they are how a tcp:// engine given on the command line is reached.
  const keep = engine.source === 'flag' ? new Set(['DOCKER_TLS_VERIFY', 'DOCKER_CERT_PATH', 'DOCKER_TLS']) : new Set<string>();
  const cleared = Object.fromEntries(ENGINE_VARIABLES.filter((v) => !keep.has(v)).map((v) => [v, undefined]));
  return { ...cleared, DOCKER_HOST: engine.url, ...tls };
}

/**
 * The environment for a child process that talks to `engine` (docker, docker
 * compose, a stowage script). For an ssh:// engine with an open tunnel
 * (ssh-tunnel.ts), DOCKER_HOST is the tunnel's local socket.
 */
export function dockerEnvironment(engine: EngineEndpoint = currentEngine(), base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  const socket = tunnelSocket(engine);
  const variables = socket === undefined ? engineVariables(engine) : { ...Object.fromEntries(ENGINE_VARIABLES.map((v) => [v, undefined])), DOCKER_HOST: `unix://${socket}` };
  for (const [name, value] of Object.entries(variables)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

// ---------------------------------------------------------------- showing it

/** `ssh://deploy@mail.example.org (stacks/digidig.yaml environments.prod.engine)`. */
export function describeEngine(engine: EngineEndpoint): string {
  return `${engine.url} (${engine.origin})`;
}

/** The engine as --json documents name it. */
export interface EngineJson {
  url: string;
  source: EngineSource;
  origin: string;
  context: string | null;
  local: boolean;
  /** How the bytes travelled: `ssh-tunnel` (one SSH connection forwarding the engine's socket) or `docker` (the docker CLI's own transport). */
  transport: 'ssh-tunnel' | 'docker';
  /** Why an ssh:// engine was not reached through a tunnel; null otherwise. */
  transportNote: string | null;
}

export function engineJson(engine: EngineEndpoint): EngineJson {
  return {
    url: engine.url,
    source: engine.source,
    origin: engine.origin,
    context: engine.context ?? null,
    local: engine.local,
    transport: tunnelSocket(engine) === undefined ? 'docker' : 'ssh-tunnel',
    transportNote: tunnelUnavailable(engine) ?? null,
  };
}

const SAFE_VALUE = /^[A-Za-z0-9_@%+=:,./-]+$/;
const quote = (word: string): string => (SAFE_VALUE.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

/**
 * The first lines of a --dry-run plan: which engine, and the shell lines that
 * make a pasted plan go to the same one.
 */
export function enginePlanLines(engine: EngineEndpoint): string[] {
  const lines = [`# engine: ${describeEngine(engine)}`];
  switch (engine.source) {
    case 'flag':
    case 'stack': {
      const variables = Object.entries(engineVariables(engine));
      const unset = variables.filter(([, value]) => value === undefined).map(([name]) => name);
      if (unset.length > 0) lines.push(`unset ${unset.join(' ')}`);
      for (const [name, value] of variables) if (value !== undefined) lines.push(`export ${name}=${quote(value)}`);
      break;
    }
    case 'DOCKER_HOST':
      lines.push(`export DOCKER_HOST=${quote(engine.url)}`);
      break;
    case 'context':
      lines.push('unset DOCKER_HOST', `export DOCKER_CONTEXT=${quote(engine.context ?? '')}`);
      break;
    case 'default':
      lines.push('unset DOCKER_HOST', 'export DOCKER_CONTEXT=default');
      break;
  }
  return lines;
}
