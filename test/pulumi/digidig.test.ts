import { beforeAll, describe, expect, it } from 'vitest';
import { deploy } from '../../src/pulumi/deploy.js';
import { fakeImageId, installMocks, modelFor, NO_CONFIGURED_SECRETS } from './harness.js';
import { containerNamed, deploymentView, volumeNamed, type DeploymentView } from './views.js';

const DATABASES = ['postgres', 'mongo'];
const APPLICATION_SERVICES = ['identity', 'smtp', 'imap', 'storage', 'client', 'admin', 'apidocs'];
const SERVICES = [...DATABASES, ...APPLICATION_SERVICES];
const VOLUME_KEYS = [
  'postgres_data',
  'mongo_data',
  ...APPLICATION_SERVICES.map((service) => `${service}_data`),
  'app_logs',
  'test_data',
];
const IMAGES: Record<string, string> = {
  postgres: 'postgres:15.8',
  mongo: 'mongo:7.0.14',
  ...Object.fromEntries(APPLICATION_SERVICES.map((service) => [service, `digidig/${service}:1.0.0`])),
};
/** Services each service starts after, as the stack file declares. */
const DEPENDENCIES: Record<string, string[]> = {
  postgres: [],
  mongo: [],
  identity: ['postgres'],
  smtp: ['identity', 'storage'],
  imap: ['identity', 'storage'],
  storage: ['mongo'],
  client: ['identity', 'storage'],
  admin: ['identity', 'smtp'],
  apidocs: [],
};

async function deployed(env: string): Promise<DeploymentView> {
  const model = modelFor({ app: 'digidig', env });
  return deploymentView(model, deploy(model, NO_CONFIGURED_SECRETS));
}

beforeAll(async () => {
  await installMocks();
});

describe.each(['dev', 'prod'])('digidig-%s, in both environments', (env) => {
  let view: DeploymentView;
  beforeAll(async () => {
    view = await deployed(env);
  });

  it('declares one container per service, named digidig-<service>', () => {
    expect(view.containers.map((c) => c.name)).toEqual(SERVICES.map((s) => `digidig-${s}`));
  });

  it.each(SERVICES)('runs %s on its pinned image, referenced by the image resource ID', (service) => {
    const container = containerNamed(view, `digidig-${service}`);
    expect(container.imageReference).toBe(IMAGES[service]);
    expect(container.imageId).toBe(fakeImageId(IMAGES[service] ?? ''));
  });

  it('declares each distinct image once, kept locally on destroy', () => {
    expect(view.images).toEqual(SERVICES.map((s) => ({ reference: IMAGES[s], keepLocally: true })));
  });

  it.each(APPLICATION_SERVICES)('runs %s as uid:gid 1000:1000', (service) => {
    expect(containerNamed(view, `digidig-${service}`).user).toBe('1000:1000');
  });

  it.each(DATABASES)("runs %s as its image's own user", (service) => {
    expect(containerNamed(view, `digidig-${service}`).user).toBeUndefined();
  });

  it('restarts every container unless it was stopped', () => {
    expect(view.containers.map((c) => c.restart)).toEqual(SERVICES.map(() => 'unless-stopped'));
  });

  it.each(SERVICES)('labels %s with project, environment and service', (service) => {
    expect(containerNamed(view, `digidig-${service}`).labels).toEqual({ 'stowage.project': 'digidig', 'stowage.env': env, 'stowage.service': service });
  });

  it('mounts postgres_data at the PostgreSQL data directory', () => {
    expect(containerNamed(view, 'digidig-postgres').mounts).toEqual([
      { type: 'volume', source: 'digidig_postgres_data', target: '/var/lib/postgresql/data', readOnly: false },
    ]);
  });

  it('mounts mongo_data at the MongoDB data directory', () => {
    expect(containerNamed(view, 'digidig-mongo').mounts).toEqual([{ type: 'volume', source: 'digidig_mongo_data', target: '/data/db', readOnly: false }]);
  });

  it.each(APPLICATION_SERVICES)('mounts %s_data at /app/data, and the shared app_logs at /app/logs and test_data at /app/tests', (service) => {
    expect(containerNamed(view, `digidig-${service}`).mounts).toEqual([
      { type: 'volume', source: `digidig_${service}_data`, target: '/app/data', readOnly: false },
      { type: 'volume', source: 'digidig_app_logs', target: '/app/logs', readOnly: false },
      { type: 'volume', source: 'digidig_test_data', target: '/app/tests', readOnly: false },
    ]);
  });

  it('declares the eleven volumes as digidig_<volume> with the local driver', () => {
    expect(view.volumes.map((v) => [v.name, v.driver])).toEqual(VOLUME_KEYS.map((key) => [`digidig_${key}`, 'local']));
  });

  it.each(VOLUME_KEYS)('labels volume %s with project, environment and volume', (key) => {
    expect(volumeNamed(view, `digidig_${key}`).labels).toEqual({ 'stowage.project': 'digidig', 'stowage.env': env, 'stowage.volume': key });
  });

  it.each(SERVICES)('creates %s after the containers it depends on, its volumes, the network and its image', (service) => {
    const container = containerNamed(view, `digidig-${service}`);
    const volumes = container.mounts.map((m) => `volume:${m.source}`);
    expect(container.waitsFor).toEqual([
      ...(DEPENDENCIES[service] ?? []).map((dependency) => `container:digidig-${dependency}`),
      ...volumes,
      'network:digidig_default',
      `image:${IMAGES[service]}`,
    ]);
  });

  it.each(SERVICES)('attaches %s to digidig_default under its service name, so DB_HOST=postgres resolves', (service) => {
    expect(containerNamed(view, `digidig-${service}`).networks).toEqual([{ name: 'digidig_default', aliases: [service] }]);
  });

  it('checks PostgreSQL health with pg_isready every 10s', () => {
    expect(containerNamed(view, 'digidig-postgres').healthcheck).toEqual({
      tests: ['CMD-SHELL', 'pg_isready -U digidig -d digidig'],
      interval: '10s',
      timeout: '5s',
      retries: 5,
      startPeriod: undefined,
    });
  });

  it('declares no health check where the stack file has none', () => {
    expect(view.containers.filter((c) => c.healthcheck !== undefined).map((c) => c.name)).toEqual(['digidig-postgres']);
  });

  it('publishes no ports and runs nothing privileged or on the host network', () => {
    expect(view.containers.flatMap((c) => c.ports)).toEqual([]);
    expect(view.containers.filter((c) => c.privileged === true || c.networkMode === 'host')).toEqual([]);
  });

  it('declares the labelled network digidig_default', () => {
    expect(view.network).toEqual({ name: 'digidig_default', labels: { 'stowage.project': 'digidig', 'stowage.env': env } });
  });

  it('exports the project, network, volume and container names', () => {
    expect(view.outputs.project).toBe('digidig');
    expect(view.outputs.network).toBe('digidig_default');
    expect(view.outputs.volumes).toEqual(VOLUME_KEYS.map((key) => `digidig_${key}`));
    expect(view.outputs.containers).toEqual(SERVICES.map((s) => `digidig-${s}`));
    expect(view.outputs.bindMounts).toEqual({});
  });
});

describe('digidig-dev', () => {
  let view: DeploymentView;
  beforeAll(async () => {
    view = await deployed('dev');
  });

  it('uses Docker-managed volumes: no driver options', () => {
    expect(view.volumes.map((v) => [v.name, v.driverOpts])).toEqual(VOLUME_KEYS.map((key) => [`digidig_${key}`, {}]));
  });
});

describe('digidig-prod', () => {
  let view: DeploymentView;
  beforeAll(async () => {
    view = await deployed('prod');
  });

  it.each(VOLUME_KEYS.filter((key) => key !== 'app_logs'))('backs volume %s with /opt/digidig/data/<volume> through the local driver', (key) => {
    const volume = volumeNamed(view, `digidig_${key}`);
    expect(volume.driver).toBe('local');
    expect(volume.driverOpts).toEqual({ type: 'none', o: 'bind', device: `/opt/digidig/data/${key}` });
  });

  it('backs app_logs with /opt/digidig/logs', () => {
    expect(volumeNamed(view, 'digidig_app_logs').driverOpts).toEqual({ type: 'none', o: 'bind', device: '/opt/digidig/logs' });
  });

  it('keeps the volume names of dev, so the same backups and scripts apply', () => {
    expect(view.outputs.volumes).toEqual(VOLUME_KEYS.map((key) => `digidig_${key}`));
  });
});
