// The comparisons behind drift.mjs --stack, on inspect output written by hand:
// the cases a Compose deployment on the test engine does not produce (Pulumi's
// image IDs, a re-pulled tag, image-declared volumes, Docker Hub spellings).
import { describe, expect, test } from 'vitest';
import { parseStackText } from '../../src/config/load.js';
import { resolveModel, type ContainerModel, type Model } from '../../src/config/model.js';
import { imageCommands, type ImageConfig } from '../../src/engine/image-config.js';
import type { ContainerState, VolumeState } from '../../src/engine/inspect.js';
import { containerDrift, expectedVolumes, volumeDrift } from '../../src/ops/live-drift.js';
import { yamlText } from '../helpers/stacks.js';

const STACK = yamlText`
  app: shop
  volumes:
    data: {}
    spare: {}
  services:
    db:
      image: postgres:15.8
      user: "999:999"
      environment: { POSTGRES_DB: shop }
      mounts: [data:/var/lib/postgresql/data]
  environments:
    prod: { hostRoot: /srv/shop, volumeBacking: host }
`;
const model: Model = resolveModel(parseStackText(STACK, '/srv/checkout/stacks/shop.yaml'), 'prod', { stackFile: '/srv/checkout/stacks/shop.yaml' });
const db = ((): ContainerModel => {
  const found = model.containers[0];
  if (found === undefined) throw new Error('fixture has no container');
  return found;
})();

const ID_NOW = `sha256:${'1'.repeat(64)}`;
const ID_BEFORE = `sha256:${'2'.repeat(64)}`;

function image(id: string, volumes: Record<string, unknown> | null = null): ImageConfig {
  return { Id: id, RepoTags: ['postgres:15.8'], RepoDigests: [], Config: { Env: ['PATH=/usr/bin', 'PGDATA=/var/lib/postgresql/data'], User: '', Volumes: volumes } };
}

function state(changes: Partial<ContainerState['Config']> = {}, mounts?: ContainerState['Mounts']): ContainerState {
  return {
    Id: 'c0ffee',
    Name: 'shop-db',
    State: { Running: true, Status: 'running' },
    Config: {
      Image: 'postgres:15.8',
      Labels: { ...db.labels, 'com.docker.compose.project': 'shop', 'org.opencontainers.image.version': '15.8' },
      User: '999:999',
      Env: ['POSTGRES_DB=shop', 'PATH=/usr/bin', 'PGDATA=/var/lib/postgresql/data'],
      ...changes,
    },
    Mounts: mounts ?? [{ Type: 'volume', Name: 'shop_data', Source: '/srv/shop/data', Destination: '/var/lib/postgresql/data', RW: true }],
  };
}

const kinds = (actual: ContainerState, running = image(ID_NOW), declared: ImageConfig | undefined = image(ID_NOW), runningId = running.Id): string[] =>
  containerDrift(model, db, actual, { running, declared, runningId }).map((d) => `${d.kind}: ${d.detail}`);

describe('containers', () => {
  test('a container as declared has no drift; Compose\'s and the image\'s labels and variables are not drift', () => {
    expect(kinds(state())).toEqual([]);
  });

  test('the long Docker Hub spelling of the declared image is the same image', () => {
    expect(kinds(state({ Image: 'docker.io/library/postgres:15.8' }))).toEqual([]);
  });

  test('a container Pulumi created from the image ID matches when the declared reference has that ID', () => {
    expect(kinds(state({ Image: ID_NOW }))).toEqual([]);
  });

  test('a container created from another image ID is image drift', () => {
    expect(kinds(state({ Image: ID_BEFORE }), image(ID_BEFORE))).toEqual([`image: runs ${ID_BEFORE} (image 222222222222); postgres:15.8 is image 111111111111 now`]);
  });

  test('a container created before its tag was pulled again runs an older image: image drift', () => {
    expect(kinds(state(), image(ID_BEFORE))).toEqual(['image: runs an older postgres:15.8 (image 222222222222); postgres:15.8 is image 111111111111 now']);
  });

  test('an anonymous volume at a path the image declares is not mount drift; one elsewhere is', () => {
    const mounts: ContainerState['Mounts'] = [
      { Type: 'volume', Name: 'shop_data', Source: '/srv/shop/data', Destination: '/var/lib/postgresql/data', RW: true },
      { Type: 'volume', Name: 'f00d', Source: '/var/lib/docker/volumes/f00d/_data', Destination: '/run/postgresql', RW: true },
    ];
    expect(kinds(state({}, mounts), image(ID_NOW, { '/run/postgresql': {} }))).toEqual([]);
    expect(kinds(state({}, mounts), image(ID_NOW, null))).toEqual(['mounts: unexpected volume f00d (rw) at /run/postgresql']);
  });

  test('a variable the image sets to another value than the container is environment drift', () => {
    expect(kinds(state({ Env: ['POSTGRES_DB=shop', 'PATH=/usr/bin', 'PGDATA=/tmp/pg'] }))).toEqual(['environment: set but not declared: PGDATA']);
  });

  test('a stopped container is reported with its state', () => {
    const stopped = { ...state(), State: { Running: false, Status: 'exited' } };
    expect(kinds(stopped)).toEqual(['stopped: state exited']);
  });
});

describe('volumes', () => {
  const data = model.volumes.find((v) => v.key === 'data');
  const volumeState = (changes: Partial<VolumeState>): VolumeState => ({
    Name: 'shop_data',
    Driver: 'local',
    Mountpoint: '/var/lib/docker/volumes/shop_data/_data',
    Labels: { ...data?.labels, 'com.docker.compose.volume': 'data' },
    Options: { type: 'none', o: 'bind', device: '/srv/shop/data' },
    ...changes,
  });

  test('only volumes a container mounts are expected: Compose creates no others', () => {
    expect(expectedVolumes(model).map((v) => v.name)).toEqual(['shop_data']);
  });

  test('a volume as declared has no drift', () => {
    if (data === undefined) throw new Error('fixture has no volume data');
    expect(volumeDrift(model, data, volumeState({}))).toEqual([]);
  });

  test('a Docker-managed volume where a host-backed one is declared is options drift', () => {
    if (data === undefined) throw new Error('fixture has no volume data');
    expect(volumeDrift(model, data, volumeState({ Options: null })).map((d) => [d.kind, d.detail])).toEqual([
      ['options', 'device missing (expected /srv/shop/data); o missing (expected bind); type missing (expected none)'],
    ]);
  });

  test('another driver and a changed label are reported', () => {
    if (data === undefined) throw new Error('fixture has no volume data');
    const drift = volumeDrift(model, data, volumeState({ Driver: 'rexray', Labels: { 'stowage.project': 'shop', 'stowage.env': 'dev', 'stowage.volume': 'data' } }));
    expect(drift.map((d) => [d.kind, d.detail])).toEqual([
      ['driver', 'driver rexray (expected local)'],
      ['labels', 'stowage.env=dev (expected prod)'],
    ]);
  });
});

describe('commands', () => {
  test('images are inspected read-only, by reference or ID', () => {
    expect(imageCommands.inspectImages(['postgres:15.8', ID_NOW])).toEqual({
      program: 'docker',
      args: ['image', 'inspect', 'postgres:15.8', ID_NOW],
      mutates: false,
      purpose: `inspect images postgres:15.8, ${ID_NOW}`,
    });
  });
});
