// Pulumi and the generated Compose files must run the same thing: for every
// stack, the resources the program declares are compared with the Compose
// document renderEnvironment() produces for the same model.
import { isAbsolute, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { renderEnvironment, secretReference, type ComposeDocument, type ComposeService } from '../../src/compose/render.js';
import type { Model } from '../../src/config/model.js';
import { deploy } from '../../src/pulumi/deploy.js';
import { ALL_STACKS, COMPOSE_DIR, installMocks, modelFor, NO_CONFIGURED_SECRETS } from './harness.js';
import { deploymentView, environmentRecord, type ContainerView, type DeploymentView, type MountView, type PortView, type VolumeView } from './views.js';

/** A Compose service's mounts as the engine sees them: volume mounts by Docker volume name, bind mounts by absolute path. */
function composeMounts(doc: ComposeDocument, service: ComposeService): MountView[] {
  return (service.volumes ?? []).map((mount) => {
    if (mount.type === 'bind') {
      // Compose resolves relative bind paths against the directory of the Compose file.
      return { type: 'bind', source: isAbsolute(mount.source) ? mount.source : resolve(COMPOSE_DIR, mount.source), target: mount.target, readOnly: mount.read_only ?? false };
    }
    const volume = doc.volumes?.[mount.source];
    if (volume === undefined) throw new Error(`Compose service mounts undeclared volume ${mount.source}`);
    return { type: 'volume', source: volume.name, target: mount.target, readOnly: mount.read_only ?? false };
  });
}

/** Compose volumes as the engine creates them: the driver defaults to local, driver_opts to none. */
function composeVolumes(doc: ComposeDocument): VolumeView[] {
  return Object.values(doc.volumes ?? {}).map((v) => ({ name: v.name, driver: v.driver ?? 'local', driverOpts: v.driver_opts ?? {}, labels: v.labels }));
}

/** Compose's short port syntax, read independently of the program's parser. */
function composePort(text: string): PortView {
  const match = /^(?:([0-9.]+):)?([0-9]+):([0-9]+)(?:\/(tcp|udp))?$/.exec(text);
  if (match === null) throw new Error(`unexpected Compose port ${text}`);
  return { ip: match[1], external: Number(match[2]), internal: Number(match[3]), protocol: match[4] ?? 'tcp' };
}

function composeServiceOf(doc: ComposeDocument, containerName: string): ComposeService {
  const service = Object.values(doc.services).find((s) => s.container_name === containerName);
  if (service === undefined) throw new Error(`no Compose service with container_name ${containerName}`);
  return service;
}

beforeAll(async () => {
  await installMocks();
});

describe.each(ALL_STACKS.map((id) => ({ ...id, name: `${id.app}-${id.env}` })))('$name: Pulumi and Compose', (id) => {
  let model: Model;
  let compose: ComposeDocument;
  let pulumiView: DeploymentView;
  const each = (check: (container: ContainerView, service: ComposeService) => void): void => {
    for (const container of pulumiView.containers) check(container, composeServiceOf(compose, container.name));
  };

  beforeAll(async () => {
    model = modelFor(id);
    compose = renderEnvironment(model, COMPOSE_DIR);
    pulumiView = await deploymentView(model, deploy(model, NO_CONFIGURED_SECRETS));
  });

  it('declare the same container names', () => {
    expect(pulumiView.containers.map((c) => c.name).sort()).toEqual(Object.values(compose.services).map((s) => s.container_name).sort());
  });

  it('run the same image in each container', () => {
    each((container, service) => expect([container.name, container.imageReference]).toEqual([container.name, service.image]));
  });

  it('run each container as the same user', () => {
    each((container, service) => expect([container.name, container.user]).toEqual([container.name, service.user]));
  });

  it('give each container the same command', () => {
    each((container, service) => expect([container.name, container.command]).toEqual([container.name, service.command]));
  });

  it('put the same labels on each container', () => {
    each((container, service) => expect([container.name, container.labels]).toEqual([container.name, service.labels]));
  });

  it('use the same restart policy', () => {
    each((container, service) => expect([container.name, container.restart]).toEqual([container.name, service.restart]));
  });

  it('mount the same sources at the same targets with the same access', () => {
    each((container, service) => expect([container.name, container.mounts]).toEqual([container.name, composeMounts(compose, service)]));
  });

  it('declare the same volumes: names, driver, driver options and labels', () => {
    expect(pulumiView.volumes).toEqual(composeVolumes(compose));
  });

  it('use the same network name and labels', () => {
    const network = compose.networks?.['default'];
    expect(pulumiView.network).toEqual({ name: network?.name, labels: network?.labels });
  });

  it('set the same plain environment values, and take each secret from the secret Compose interpolates', () => {
    each((container, service) => {
      const pulumiEnv = environmentRecord(container.envs);
      const composeEnv = service.environment ?? {};
      expect([container.name, Object.keys(pulumiEnv).sort()]).toEqual([container.name, Object.keys(composeEnv).sort()]);
      const modelContainer = model.containers.find((c) => c.name === container.name);
      for (const variable of modelContainer?.environment ?? []) {
        const expected = variable.secret !== undefined ? secretReference(model, variable.secret) : pulumiEnv[variable.name];
        expect([container.name, variable.name, composeEnv[variable.name]]).toEqual([container.name, variable.name, expected]);
      }
    });
  });

  it('publish the same ports', () => {
    each((container, service) => expect([container.name, container.ports]).toEqual([container.name, (service.ports ?? []).map(composePort)]));
  });

  it('run the same health checks', () => {
    each((container, service) => {
      const check = service.healthcheck;
      const expected =
        check === undefined
          ? undefined
          : { tests: check['test'], interval: check['interval'], timeout: check['timeout'], retries: check['retries'], startPeriod: check['start_period'] };
      expect([container.name, container.healthcheck]).toEqual([container.name, expected]);
    });
  });

  it('start each container after the same containers', () => {
    each((container, service) => {
      const after = container.waitsFor.filter((r) => r.startsWith('container:')).map((r) => r.slice('container:'.length));
      const composeAfter = (service.depends_on ?? []).map((key) => compose.services[key]?.container_name);
      expect([container.name, after]).toEqual([container.name, composeAfter]);
    });
  });

  it('give each container the same grace period between SIGTERM and SIGKILL', () => {
    each((container, service) => {
      expect([container.name, `${String(container.destroyGraceSeconds)}s`, `${String(container.stopTimeout)}s`]).toEqual([
        container.name,
        service.stop_grace_period,
        service.stop_grace_period,
      ]);
    });
  });

  it('agree on privileged mode and host networking', () => {
    each((container, service) => {
      expect([container.name, container.privileged === true, container.networkMode === 'host']).toEqual([
        container.name,
        service.privileged === true,
        service.network_mode === 'host',
      ]);
    });
  });
});
