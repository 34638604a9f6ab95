import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { deploy } from '../../src/pulumi/deploy.js';
import { fakeImageId, installMocks, modelFor, NO_CONFIGURED_SECRETS, PROJECT_ROOT } from './harness.js';
import { containerNamed, deploymentView, environmentRecord, type DeploymentView } from './views.js';

async function deployed(env: string): Promise<DeploymentView> {
  const model = modelFor({ app: 'pim', env });
  return deploymentView(model, deploy(model, NO_CONFIGURED_SECRETS));
}

beforeAll(async () => {
  await installMocks();
});

describe('pim-dev', () => {
  let view: DeploymentView;
  beforeAll(async () => {
    view = await deployed('dev');
  });

  it('declares exactly one container, pim-backend (SQLite allows one writer)', () => {
    expect(view.containers.map((c) => c.name)).toEqual(['pim-backend']);
  });

  it('runs pim/backend:1.0.0, referenced by the image resource ID', () => {
    const backend = containerNamed(view, 'pim-backend');
    expect(backend.imageReference).toBe('pim/backend:1.0.0');
    expect(backend.imageId).toBe(fakeImageId('pim/backend:1.0.0'));
    expect(backend.imageId).toBe(backend.imageIdOfResource);
  });

  it('pulls the image only when missing and keeps it on destroy', () => {
    expect(view.images).toEqual([{ reference: 'pim/backend:1.0.0', keepLocally: true }]);
  });

  it('runs the backend as uid:gid 1000:1000', () => {
    expect(containerNamed(view, 'pim-backend').user).toBe('1000:1000');
  });

  it('restarts the backend unless it was stopped', () => {
    expect(containerNamed(view, 'pim-backend').restart).toBe('unless-stopped');
  });

  it('labels the backend with project, environment and service', () => {
    expect(containerNamed(view, 'pim-backend').labels).toEqual({ 'stowage.project': 'pim', 'stowage.env': 'dev', 'stowage.service': 'backend' });
  });

  it("bind-mounts the checkout's ./data directory read-write at /data", () => {
    expect(containerNamed(view, 'pim-backend').mounts).toEqual([{ type: 'bind', source: join(PROJECT_ROOT, 'data'), target: '/data', readOnly: false }]);
  });

  it('creates no Docker volume, because the data directory is a bind mount', () => {
    expect(view.volumes).toEqual([]);
    expect(view.outputs.volumes).toEqual([]);
  });

  it('tells the backend where its database and secrets file live', () => {
    expect(environmentRecord(containerNamed(view, 'pim-backend').envs)).toEqual({
      DATA_DIR: '/data',
      DATABASE_PATH: '/data/database.sqlite',
      SECRETS_FILE: '/data/secrets.env',
    });
  });

  it('keeps an environment without secrets in plain text', () => {
    expect(containerNamed(view, 'pim-backend').envsAreSecret).toBe(false);
  });

  it('publishes port 8000 on 127.0.0.1 only', () => {
    expect(containerNamed(view, 'pim-backend').ports).toEqual([{ ip: '127.0.0.1', external: 8000, internal: 8000, protocol: 'tcp' }]);
  });

  it('declares the labelled network pim_default', () => {
    expect(view.network).toEqual({ name: 'pim_default', labels: { 'stowage.project': 'pim', 'stowage.env': 'dev' } });
  });

  it('attaches the backend to pim_default under its service name', () => {
    const backend = containerNamed(view, 'pim-backend');
    expect(backend.networks).toEqual([{ name: 'pim_default', aliases: ['backend'] }]);
    expect(backend.networkMode).toBeUndefined();
  });

  it('creates the backend after its network and image', () => {
    expect(containerNamed(view, 'pim-backend').waitsFor).toEqual(['network:pim_default', 'image:pim/backend:1.0.0']);
  });

  it('does not run the backend privileged', () => {
    expect(containerNamed(view, 'pim-backend').privileged).toBe(false);
  });

  it('exports the project, network, container names, and the bind-mounted data directory', () => {
    expect(view.outputs).toEqual({
      project: 'pim',
      network: 'pim_default',
      volumes: [],
      containers: ['pim-backend'],
      bindMounts: { data: join(PROJECT_ROOT, 'data') },
      secrets: {},
    });
  });
});

describe('pim-prod', () => {
  let view: DeploymentView;
  beforeAll(async () => {
    view = await deployed('prod');
  });

  it('runs the same single backend container and image as dev', () => {
    expect(view.containers.map((c) => [c.name, c.imageReference])).toEqual([['pim-backend', 'pim/backend:1.0.0']]);
  });

  it('bind-mounts /srv/pim/data read-write at /data', () => {
    expect(containerNamed(view, 'pim-backend').mounts).toEqual([{ type: 'bind', source: '/srv/pim/data', target: '/data', readOnly: false }]);
  });

  it('creates no Docker volume', () => {
    expect(view.volumes).toEqual([]);
  });

  it('runs the backend as 1000:1000 and restarts it unless stopped', () => {
    const backend = containerNamed(view, 'pim-backend');
    expect([backend.user, backend.restart]).toEqual(['1000:1000', 'unless-stopped']);
  });

  it('labels the backend and the network with env prod', () => {
    expect(containerNamed(view, 'pim-backend').labels).toEqual({ 'stowage.project': 'pim', 'stowage.env': 'prod', 'stowage.service': 'backend' });
    expect(view.network.labels).toEqual({ 'stowage.project': 'pim', 'stowage.env': 'prod' });
  });

  it('adds the production log level to the environment', () => {
    expect(environmentRecord(containerNamed(view, 'pim-backend').envs)).toEqual({
      DATA_DIR: '/data',
      DATABASE_PATH: '/data/database.sqlite',
      SECRETS_FILE: '/data/secrets.env',
      LOG_LEVEL: 'info',
    });
  });

  it('exports /srv/pim/data as the bind-mounted data directory', () => {
    expect(view.outputs.bindMounts).toEqual({ data: '/srv/pim/data' });
    expect(view.outputs.containers).toEqual(['pim-backend']);
  });
});
