import { relative } from 'node:path';
import type { ContainerModel, Model, MountModel, VolumeModel } from '../config/model.js';
import { stringifyForAnyYaml } from './yaml11.js';

/** A Compose document as plain data (what `docker compose config` would print, minus defaults). */
/**
 * Explicit so that Compose v1 merges an override that changes nothing (`services: {}`)
 * with the base file; Compose v2 ignores it with a notice.
 */
export const COMPOSE_VERSION = '3.8';

export interface ComposeDocument {
  version: string;
  services: Record<string, ComposeService>;
  volumes?: Record<string, ComposeVolume>;
  networks?: Record<string, ComposeNetwork>;
}

export interface ComposeService {
  image: string;
  container_name: string;
  command?: string[];
  user?: string;
  restart: string;
  /** How long `docker compose stop/down/up` waits after SIGTERM before it kills the container. */
  stop_grace_period: string;
  environment?: Record<string, string>;
  volumes?: ComposeMount[];
  ports?: string[];
  depends_on?: string[];
  healthcheck?: Record<string, unknown>;
  labels: Record<string, string>;
  networks?: string[];
  privileged?: boolean;
  network_mode?: string;
}

export interface ComposeMount {
  type: 'volume' | 'bind';
  source: string;
  target: string;
  read_only?: boolean;
}

export interface ComposeVolume {
  name: string;
  driver?: string;
  driver_opts?: Record<string, string>;
  labels: Record<string, string>;
}

export interface ComposeNetwork {
  name: string;
  labels: Record<string, string>;
}

/** Service key in the Compose file: the service name, or `<service>-<n>` for replicas. */
export function composeServiceKey(model: Model, container: ContainerModel): string {
  return container.name.slice(model.project.length + 1);
}

/** Literal values keep their `$`: Compose would otherwise interpolate (or reject) them. */
export function escapeInterpolation(value: string): string {
  return value.replace(/\$/g, '$$$$');
}

/** Secrets never appear in Compose files: they are interpolated from an env file that is not committed. */
export function secretReference(model: Model, secretKey: string): string {
  const secret = model.secrets.find((s) => s.key === secretKey);
  const variable = secret?.composeVariable ?? `${model.app}_${secretKey}`.toUpperCase();
  return `\${${variable}:?set ${variable} in compose/.env (see compose/${model.app}.env.example)}`;
}

/**
 * Renders one environment completely. `composeDir` is where the file will be
 * written: Compose resolves relative bind paths against it.
 */
export function renderEnvironment(model: Model, composeDir: string): ComposeDocument {
  const services: Record<string, ComposeService> = {};
  for (const container of model.containers) {
    services[composeServiceKey(model, container)] = renderService(model, container, composeDir);
  }
  const volumes: Record<string, ComposeVolume> = {};
  for (const volume of model.volumes) {
    if (volume.kind === 'bind') continue;
    volumes[volume.key] = renderVolume(volume);
  }
  // No top-level `name`: Compose v1 (Debian's docker-compose) rejects it. Names that
  // matter are explicit (container_name, volume and network names); pass -p <project>.
  const doc: ComposeDocument = {
    version: COMPOSE_VERSION,
    services,
    networks: { default: { name: model.network.name, labels: model.network.labels } },
  };
  if (Object.keys(volumes).length > 0) doc.volumes = volumes;
  return doc;
}

function renderService(model: Model, container: ContainerModel, composeDir: string): ComposeService {
  const service: ComposeService = {
    image: container.image,
    container_name: container.name,
    restart: container.restart,
    // Always written, also at Compose's default of 10s: the file says what a stop does.
    stop_grace_period: `${container.stopGraceSeconds}s`,
    labels: container.labels,
  };
  if (container.command !== undefined) service.command = container.command.map(escapeInterpolation);
  if (container.user !== undefined) service.user = container.user;
  if (container.environment.length > 0) {
    service.environment = Object.fromEntries(
      container.environment.map((e) => [e.name, e.secret !== undefined ? secretReference(model, e.secret) : escapeInterpolation(e.value)]),
    );
  }
  if (container.mounts.length > 0) service.volumes = container.mounts.map((m) => renderMount(m, composeDir));
  if (container.ports.length > 0) service.ports = container.ports;
  if (container.dependsOn.length > 0) {
    service.depends_on = container.dependsOn.flatMap((dep) =>
      model.containers.filter((c) => c.service === dep).map((c) => composeServiceKey(model, c)),
    );
  }
  if (container.healthcheck !== undefined) {
    const { test, interval, timeout, retries, startPeriod } = container.healthcheck;
    service.healthcheck = {
      test,
      ...(interval === undefined ? {} : { interval }),
      ...(timeout === undefined ? {} : { timeout }),
      ...(retries === undefined ? {} : { retries }),
      ...(startPeriod === undefined ? {} : { start_period: startPeriod }),
    };
  }
  if (container.privileged) service.privileged = true;
  if (container.hostNetwork) service.network_mode = 'host';
  return service;
}

function renderMount(mount: MountModel, composeDir: string): ComposeMount {
  const source = mount.type === 'bind' ? composeRelative(mount.source, composeDir) : mount.volume;
  return { type: mount.type, source, target: mount.target, ...(mount.readOnly ? { read_only: true } : {}) };
}

/** Host paths inside the checkout become relative to the Compose file, so the files do not depend on where it is cloned. */
function composeRelative(hostPath: string, composeDir: string): string {
  const rel = relative(composeDir, hostPath);
  if (rel.startsWith('/') || rel.split('/').filter((s) => s === '..').length > 1) return hostPath;
  return rel.startsWith('.') ? rel : `./${rel}`;
}

function renderVolume(volume: VolumeModel): ComposeVolume {
  const rendered: ComposeVolume = { name: volume.name, labels: volume.labels };
  if (Object.keys(volume.driverOpts).length > 0) {
    rendered.driver = volume.driver;
    rendered.driver_opts = volume.driverOpts;
  }
  return rendered;
}

/**
 * What an environment's override file must contain on top of the base file so
 * that Compose's merge yields the environment's full document: changed service
 * fields, and whole volume definitions (Compose replaces a redefined volume).
 */
export interface ComposeOverride {
  version: string;
  services: Record<string, Record<string, unknown>>;
  volumes?: Record<string, ComposeVolume>;
  networks?: Record<string, ComposeNetwork>;
}

export function overrideFor(base: ComposeDocument, full: ComposeDocument): ComposeOverride {
  // Compose cannot remove a service in an override (replicas that differ per environment).
  const removed = Object.keys(base.services).filter((key) => full.services[key] === undefined);
  if (removed.length > 0) {
    throw new Error(`an override file cannot remove service(s) ${removed.join(', ')} of the base file (replicas differ between the environments)`);
  }
  const services: Record<string, Record<string, unknown>> = {};
  for (const [key, service] of Object.entries(full.services)) {
    const baseService = base.services[key];
    if (baseService === undefined) {
      services[key] = { ...service };
      continue;
    }
    const before = new Map<string, unknown>(Object.entries(baseService));
    const changed: Record<string, unknown> = {};
    for (const [field, value] of Object.entries(service)) {
      if (JSON.stringify(before.get(field)) !== JSON.stringify(value)) changed[field] = value;
    }
    // Compose merges an override into the base: it cannot unset a field, and it
    // appends to port lists. Refuse rather than write files that merge wrongly.
    const unset = [...before.keys()].filter((field) => !(field in service));
    const droppedPorts = (baseService.ports ?? []).filter((port) => !(service.ports ?? []).includes(port));
    if (unset.length > 0 || droppedPorts.length > 0) {
      const what = droppedPorts.length > 0 ? `ports ${droppedPorts.join(', ')}` : unset.join(', ');
      throw new Error(`service "${key}": an override file cannot remove ${what} of the base file (Compose appends port lists and cannot unset fields)`);
    }
    if (Object.keys(changed).length > 0) services[key] = changed;
  }
  const volumes: Record<string, ComposeVolume> = {};
  for (const [key, volume] of Object.entries(full.volumes ?? {})) {
    if (JSON.stringify(base.volumes?.[key]) !== JSON.stringify(volume)) volumes[key] = volume;
  }
  const override: ComposeOverride = { version: full.version, services };
  if (Object.keys(volumes).length > 0) override.volumes = volumes;
  if (JSON.stringify(base.networks) !== JSON.stringify(full.networks) && full.networks !== undefined) override.networks = full.networks;
  return override;
}

export interface RenderedFile {
  /** File name inside the output directory. */
  name: string;
  content: string;
}

/**
 * All files for one stack file: `<app>.yml` (the first environment, usually
 * dev, complete), `<app>.<env>.yml` overrides, and `<app>.env.example` naming the
 * secret variables Compose users must provide.
 */
export function renderStackFiles(models: Model[], composeDir: string, stackFileLabel: string): RenderedFile[] {
  const first = models[0];
  if (first === undefined) return [];
  const header = (what: string): string =>
    `# Generated from ${stackFileLabel} by scripts/compose.mjs: do not edit, edit the stack file and run\n# npx zx scripts/compose.mjs. ${what}\n`;
  const base = renderEnvironment(first, composeDir);
  const files: RenderedFile[] = [
    {
      name: `${first.app}.yml`,
      content:
        header(`Base file; alone it runs "${first.env}". Other environments: -f ${first.app}.yml -f ${first.app}.<env>.yml`) +
        stringifyForAnyYaml(base),
    },
  ];
  for (const model of models) {
    let override: ComposeOverride;
    try {
      override = overrideFor(base, renderEnvironment(model, composeDir));
    } catch (err) {
      throw new Error(
        `${stackFileLabel}: environment "${model.env}" cannot be rendered as an override of the base file, which is environment "${first.env}": ` +
          `${err instanceof Error ? err.message : String(err)}. Keep what "${first.env}" sets in every environment, or set it per environment instead of on the service`,
      );
    }
    files.push({
      name: `${model.app}.${model.env}.yml`,
      content:
        header(`Environment "${model.env}":\n# docker compose -p ${model.project} -f compose/${model.app}.yml -f compose/${model.app}.${model.env}.yml up -d`) +
        stringifyForAnyYaml(override),
    });
  }
  if (first.secrets.length > 0) {
    files.push({
      name: `${first.app}.env.example`,
      content:
        `# Secrets for ${first.app} (Compose users). Copy the lines into compose/.env (never committed),\n` +
        `# fill in strong values (e.g. openssl rand -base64 32), and keep a copy with your backups.\n` +
        first.secrets.map((s) => `${s.composeVariable}=`).join('\n') +
        '\n',
    });
  }
  return files;
}
