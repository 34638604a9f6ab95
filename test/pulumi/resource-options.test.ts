// The resource options that decide whether a deploy can hurt data, as the engine
// receives them in each registration request (harness.ts records them; the mocks'
// newResource() alone would only see type, name and inputs), for all four stacks.
import { beforeAll, describe, expect, it } from 'vitest';
import type { Model } from '../../src/config/model.js';
import { deploy, type Deployment } from '../../src/pulumi/deploy.js';
import {
  ALL_STACKS,
  CONTAINER_TYPE,
  installMocks,
  modelFor,
  NETWORK_TYPE,
  NO_CONFIGURED_SECRETS,
  outputOf,
  PASSWORD_TYPE,
  VOLUME_TYPE,
  type RecordingMocks,
} from './harness.js';
import { containerView, type ContainerView } from './views.js';

/** Services that write a database volume: they get 30 s to shut down, every other service 10 s. */
const DATABASE_SERVICES: Record<string, string[]> = {
  pim: ['backend'],
  digidig: ['postgres', 'mongo'],
};

/** What each stack declares, written out so that a test cannot pass on an empty list. */
const EXPECTED: Record<string, { volumes: number; containers: number; passwords: string[] }> = {
  'pim-dev': { volumes: 0, containers: 1, passwords: [] },
  'pim-prod': { volumes: 0, containers: 1, passwords: [] },
  'digidig-dev': { volumes: 11, containers: 9, passwords: ['postgres_password', 'mongo_password'] },
  'digidig-prod': { volumes: 11, containers: 9, passwords: ['postgres_password', 'mongo_password'] },
};

describe.each(ALL_STACKS.map((id) => ({ ...id, name: `${id.app}-${id.env}` })))('$name: resource options', (id) => {
  let mocks: RecordingMocks;
  let model: Model;
  let deployment: Deployment;
  let containers: ContainerView[];
  const expected = EXPECTED[id.name] ?? { volumes: -1, containers: -1, passwords: [] };
  const options = (type: string): Array<[string, boolean, boolean, boolean]> =>
    mocks.registrations.filter((r) => r.type === type).map((r) => [r.name, r.retainOnDelete, r.deleteBeforeReplace, r.protect]);

  beforeAll(async () => {
    mocks = await installMocks(id.name);
    model = modelFor(id);
    deployment = deploy(model, NO_CONFIGURED_SECRETS);
    await outputOf(deployment.stack.containerNames);
    containers = await Promise.all([...deployment.stack.containers.values()].map(containerView));
  });

  it('retains every Docker volume on delete: destroy and replacement leave the volume and its data on the engine', () => {
    const volumes = options(VOLUME_TYPE);
    expect(volumes).toHaveLength(expected.volumes);
    expect(volumes.filter(([, retain]) => !retain)).toEqual([]);
  });

  it('deletes each container before creating its replacement: the names are fixed', () => {
    const registered = options(CONTAINER_TYPE);
    expect(registered).toHaveLength(expected.containers);
    expect(registered.filter(([, , deleteFirst]) => !deleteFirst)).toEqual([]);
  });

  it('deletes the network before creating its replacement: its name is fixed', () => {
    expect(options(NETWORK_TYPE)).toEqual([[model.network.name, false, true, false]]);
  });

  it('gives database containers 30 s and every other container 10 s after SIGTERM, for replacement, removal and stop', () => {
    const databases = (DATABASE_SERVICES[id.app] ?? []).map((service) => `${model.project}-${service}`);
    const grace = containers.map((c) => [c.name, c.destroyGraceSeconds, c.stopTimeout]);
    expect(grace).toEqual(containers.map((c) => [c.name, databases.includes(c.name) ? 30 : 10, databases.includes(c.name) ? 30 : 10]));
  });

  it('never removes anonymous volumes together with a container', () => {
    expect(containers.map((c) => [c.name, c.removeVolumes])).toEqual(containers.map((c) => [c.name, false]));
  });

  it('protects every generated password: destroy refuses to drop it, so it survives as long as the data it opens', () => {
    expect(options(PASSWORD_TYPE)).toEqual(expected.passwords.map((key) => [key, false, false, true]));
  });
});
