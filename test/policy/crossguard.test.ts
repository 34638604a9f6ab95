// The CrossGuard pack (policies/): each rule of src/policy as a Pulumi policy,
// checked against the Docker resources a Pulumi program declares. Resource
// arguments are mapped back onto the rules' facts; what the stack file allows
// (state paths, reasons, backup methods, secret files) comes from the stack
// file of the Pulumi stack named in each resource's URN.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { PACK_NAME, createPolicies } from '../../policies/pack.mjs';
import { parseStackText } from '../../src/config/load.js';
import { RULES } from '../../src/policy/rules.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';
import {
  all,
  container,
  hostBacked,
  remoteImage,
  shopProd,
  validateAll,
  validateResource,
  validateStack,
  volume,
  withUnknown,
  urnOf,
  RESOURCE_TYPES,
} from './crossguard-harness.js';
import { cleanStack, stackYaml } from './fixtures.js';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

// shop: passes every rule. loose: a valid stack file whose declarations break
// the rules that only the stack file decides. bindshop: bind-mounted production volumes.
const LOOSE = yamlText`
  app: loose
  volumes:
    data:
      files: [{ path: keys.pem, mode: "0700", secret: true }]
    cache:
      backup: { method: none }
  services:
    app:
      image: loose/app:1.0.0
      privileged: { reason: mounts FUSE file systems for users }
      mounts: [data:/data, cache:/cache]
      statePaths: [/data]
  environments:
    prod: { hostRoot: /srv/loose, volumeBacking: host }
`;
const BINDSHOP = yamlText`
  app: bindshop
  backups: { encryption: { recipients: [${'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'}] } }
  volumes:
    data: {}
  services:
    web:
      image: bindshop/web:2.0.1
      mounts: [data:/data]
      statePaths: [/data]
  environments:
    prod: { hostRoot: /srv/bindshop, volumeBacking: bind }
`;
// twin: dev and prod under one project name, and nothing binds them to different engines.
const TWIN = yamlText`
  app: twin
  backups: { encryption: { recipients: [${'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p'}] } }
  volumes:
    data: {}
  services:
    web:
      image: twin/web:2.0.1
      restart: unless-stopped
      mounts: [data:/data]
      statePaths: [/data]
  environments:
    dev: {}
    prod: { hostRoot: /srv/twin, volumeBacking: host }
`;
const stacksDir = temp.stacksDir({ 'shop.yaml': stackYaml(cleanStack()), 'loose.yaml': LOOSE, 'bindshop.yaml': BINDSHOP, 'twin.yaml': TWIN });
const policies = createPolicies({ stacksDir });
const PROD = 'shop-prod';

const messages = (reported: Array<{ message: string }>): string[] => reported.map((r) => r.message);

describe('the pack', () => {
  test('is named stowage and holds one policy per rule, with the rule\'s id, description and severity', () => {
    expect(PACK_NAME).toBe('stowage');
    expect(policies.map((p) => [p.name, p.description, p.enforcementLevel])).toEqual(RULES.map((r) => [r.id, r.description, r.severity]));
  });

  test('its fixture stack files are valid', () => {
    for (const [name, text] of [['shop.yaml', stackYaml(cleanStack())], ['loose.yaml', LOOSE], ['bindshop.yaml', BINDSHOP], ['twin.yaml', TWIN]] as const) {
      expect(() => parseStackText(text, join(stacksDir, name))).not.toThrow();
    }
  });

  test('reports nothing for the resources a program declares for a clean stack', async () => {
    expect(await validateAll(policies, all(shopProd()), PROD)).toEqual([]);
  });
});

describe('state-on-volume', () => {
  test('passes a container that mounts a declared volume at its state path', async () => {
    expect(await validateResource(policies, 'state-on-volume', shopProd().web, PROD)).toEqual([]);
  });

  test('flags a container the program declares without the mount at its state path', async () => {
    const web = container({ service: 'web', mounts: [{ type: 'volume', source: 'shop_logs', target: '/logs' }] });
    const [violation] = await validateResource(policies, 'state-on-volume', web, PROD);
    expect(violation?.message).toContain('state path /data of service "web" is on no mount');
    expect(violation?.message).toContain('fix: mount a declared volume at /data');
  });

  test('flags a state path on a volume the stack file does not declare', async () => {
    const web = container({ service: 'web', mounts: [{ type: 'volume', source: 'shop_scratch', target: '/data' }] });
    expect(messages(await validateResource(policies, 'state-on-volume', web, PROD))).toEqual([
      expect.stringContaining('is on shop_scratch, which is not a volume the stack file declares'),
    ]);
  });
});

describe('image-pinned', () => {
  test('passes pinned image resources and containers that reference images by ID', async () => {
    const { web, images } = shopProd();
    for (const resource of [web, ...images]) expect(await validateResource(policies, 'image-pinned', resource, PROD)).toEqual([]);
  });

  test('flags a production image resource on latest', async () => {
    expect(messages(await validateResource(policies, 'image-pinned', remoteImage('shop/web:latest'), PROD))).toEqual([
      expect.stringContaining('production image shop/web:latest uses the tag latest'),
    ]);
  });

  test('flags a production container naming an image without a tag', async () => {
    const web = container({ service: 'web', extra: { image: 'shop/web' } });
    expect(messages(await validateResource(policies, 'image-pinned', web, PROD))).toEqual([
      expect.stringContaining('production image shop/web (used by shop-web) has no tag'),
    ]);
  });

  test('leaves development images alone', async () => {
    expect(await validateResource(policies, 'image-pinned', remoteImage('shop/web:latest'), 'shop-dev')).toEqual([]);
  });
});

describe('prod-volume-host-backed', () => {
  test('passes host-backed and NFS volumes', async () => {
    const nfs = volume('shop_logs', { type: 'nfs', o: 'addr=nas.local,rw', device: ':/export/logs' });
    for (const resource of [shopProd().data, nfs]) expect(await validateResource(policies, 'prod-volume-host-backed', resource, PROD)).toEqual([]);
  });

  test('flags a Docker-managed volume in production', async () => {
    expect(messages(await validateResource(policies, 'prod-volume-host-backed', volume('shop_data', undefined), PROD))).toEqual([
      expect.stringContaining('production volume shop_data is a Docker-managed named volume'),
    ]);
  });
});

describe('prod-volume-host-root (advisory)', () => {
  test('passes a host-backed volume under hostRoot', async () => {
    expect(await validateResource(policies, 'prod-volume-host-root', shopProd().data, PROD)).toEqual([]);
  });

  test('flags a host-backed volume outside hostRoot', async () => {
    const elsewhere = volume('shop_data', hostBacked('/mnt/disk2/shop-data'));
    expect(messages(await validateResource(policies, 'prod-volume-host-root', elsewhere, PROD))).toEqual([
      expect.stringContaining('lives in /mnt/disk2/shop-data, outside hostRoot /srv/shop'),
    ]);
  });

  test('checks bind-mounted volumes, which have no resource, on the whole stack', async () => {
    const declared = container({ project: 'bindshop', service: 'web', mounts: [{ type: 'bind', source: '/srv/bindshop/data', target: '/data' }] });
    expect(await validateStack(policies, 'prod-volume-host-root', [declared], 'bindshop-prod')).toEqual([]);
    const stray = container({ project: 'bindshop', service: 'web', mounts: [{ type: 'bind', source: '/home/op/bindshop', target: '/data' }] });
    expect(messages(await validateStack(policies, 'prod-volume-host-root', [stray], 'bindshop-prod'))).toEqual([
      expect.stringContaining('lives in /home/op/bindshop, outside hostRoot /srv/bindshop'),
    ]);
  });
});

describe('sqlite-single-writer', () => {
  test('passes one writer', async () => {
    expect(await validateStack(policies, 'sqlite-single-writer', all(shopProd()), PROD)).toEqual([]);
  });

  test('flags a second container writing the SQLite volume, pointing at the volume resource', async () => {
    const resources = shopProd();
    const worker = container({ service: 'worker', mounts: [{ type: 'volume', source: 'shop_data', target: '/data' }] });
    const reported = await validateStack(policies, 'sqlite-single-writer', all({ ...resources, worker }), PROD);
    expect(reported).toEqual([
      { message: expect.stringContaining('mounted read-write by 2 containers (shop-web, shop-worker)'), urn: urnOf(PROD, RESOURCE_TYPES.volume, 'shop_data') },
    ]);
  });
});

describe('secret-file-mode', () => {
  test('passes a volume whose secret file is 0600', async () => {
    expect(await validateResource(policies, 'secret-file-mode', shopProd().data, PROD)).toEqual([]);
  });

  test('flags a volume whose stack file gives its secret file mode 0700', async () => {
    expect(messages(await validateResource(policies, 'secret-file-mode', volume('loose_data', hostBacked('/srv/loose/data'), 'loose'), 'loose-prod'))).toEqual([
      expect.stringContaining('secret file keys.pem on volume loose_data has mode 0700'),
    ]);
  });
});

describe('secret-file-unshared', () => {
  test('passes a secret volume one service mounts', async () => {
    expect(await validateStack(policies, 'secret-file-unshared', all(shopProd()), PROD)).toEqual([]);
  });

  test('flags a second service mounting the volume that holds a secret file', async () => {
    const resources = shopProd();
    const worker = container({ service: 'worker', mounts: [{ type: 'volume', source: 'shop_data', target: '/data', readOnly: true }] });
    expect(messages(await validateStack(policies, 'secret-file-unshared', all({ ...resources, worker }), PROD))).toEqual([
      expect.stringContaining('holds secret file(s) secrets.env and is mounted by 2 services (web, worker)'),
    ]);
  });
});

describe('backup-declared', () => {
  test('passes volumes the stack file declares', async () => {
    expect(await validateResource(policies, 'backup-declared', shopProd().logs, PROD)).toEqual([]);
  });

  test('flags a volume the stack file does not declare', async () => {
    expect(messages(await validateResource(policies, 'backup-declared', volume('shop_cache', hostBacked('/srv/shop/cache')), PROD))).toEqual([
      expect.stringContaining('volume shop_cache is not declared in the stack file, so no backup covers it'),
    ]);
  });

  test('flags a volume the stack file excludes from backups without a reason', async () => {
    expect(messages(await validateResource(policies, 'backup-declared', volume('loose_cache', hostBacked('/srv/loose/cache'), 'loose'), 'loose-prod'))).toEqual([
      expect.stringContaining('excluded from backups (method none) without a reason'),
    ]);
  });

  test('flags a writable bind mount of an undeclared host directory', async () => {
    const web = container({ project: 'bindshop', service: 'web', mounts: [{ type: 'bind', source: '/srv/bindshop/data', target: '/data' }, { type: 'bind', source: '/srv/bindshop/tmp', target: '/tmp' }] });
    expect(messages(await validateStack(policies, 'backup-declared', [web], 'bindshop-prod'))).toEqual([
      expect.stringContaining('volume /srv/bindshop/tmp is not declared'),
    ]);
  });
});

describe('restart-policy', () => {
  test('passes unless-stopped', async () => {
    expect(await validateResource(policies, 'restart-policy', shopProd().web, PROD)).toEqual([]);
  });

  test.each([
    ['no restart argument', { restart: undefined }],
    ['restart "no"', { restart: 'no' }],
  ])('flags a container with %s', async (_what, extra) => {
    const web = container({ service: 'web', extra });
    expect(messages(await validateResource(policies, 'restart-policy', web, PROD))).toEqual([expect.stringContaining('service "web"')]);
  });
});

describe('privileged-declared, host-network-declared, docker-socket-declared', () => {
  test('pass a privileged container whose service declares why', async () => {
    const app = container({ project: 'loose', service: 'app', extra: { privileged: true } });
    expect(await validateResource(policies, 'privileged-declared', app, 'loose-prod')).toEqual([]);
  });

  test('privileged-declared flags a privileged container the stack file does not allow', async () => {
    const web = container({ service: 'web', extra: { privileged: true } });
    expect(messages(await validateResource(policies, 'privileged-declared', web, PROD))).toEqual([
      expect.stringContaining('container shop-web runs privileged without a declared reason'),
    ]);
  });

  test('host-network-declared flags host networking the stack file does not allow', async () => {
    const web = container({ service: 'web', extra: { networkMode: 'host' } });
    expect(messages(await validateResource(policies, 'host-network-declared', web, PROD))).toEqual([
      expect.stringContaining('container shop-web uses the host network'),
    ]);
  });

  test.each([
    ['mounts', { mounts: [{ type: 'bind', source: '/var/run/docker.sock', target: '/var/run/docker.sock' }] }],
    ['volumes', { volumes: [{ hostPath: '/run/docker.sock', containerPath: '/docker.sock' }] }],
  ])('docker-socket-declared flags the Docker socket in the %s argument', async (_argument, extra) => {
    const web = container({ service: 'web', extra });
    expect(messages(await validateResource(policies, 'docker-socket-declared', web, PROD))).toEqual([
      expect.stringContaining('container shop-web mounts the Docker socket'),
    ]);
  });
});

describe('backups-encrypted (advisory)', () => {
  test('passes a production stack whose backups have a recipient', async () => {
    expect(await validateStack(policies, 'backups-encrypted', all(shopProd()), PROD)).toEqual([]);
  });

  test('flags a production stack whose backups are unencrypted', async () => {
    const app = container({ project: 'loose', service: 'app', extra: { privileged: true } });
    expect(await validateStack(policies, 'backups-encrypted', [app], 'loose-prod')).toEqual([
      { message: expect.stringContaining('production backups of loose-prod are written unencrypted'), urn: undefined },
    ]);
  });
});

describe('environments-apart (advisory)', () => {
  test('passes a stack whose environments have project names of their own', async () => {
    expect(await validateStack(policies, 'environments-apart', all(shopProd()), PROD)).toEqual([]);
  });

  test('flags a stack whose dev and prod share the project name and no engine tells them apart', async () => {
    const web = container({ project: 'twin', service: 'web', mounts: [{ type: 'volume', source: 'twin_data', target: '/data' }] });
    expect(await validateStack(policies, 'environments-apart', [web], 'twin-prod')).toEqual([
      { message: expect.stringContaining('twin-prod deploys under project twin, as environment dev does, and no engine tells them apart'), urn: undefined },
    ]);
  });
});

describe('preview', () => {
  test('a value not known yet (an image ID) does not stop the other checks of the resource', async () => {
    const web = container({ service: 'web', extra: { restart: 'no' } });
    const previewed = { ...web, props: withUnknown(web.props, 'image') };
    expect(await validateResource(policies, 'image-pinned', previewed, PROD)).toEqual([]);
    expect(messages(await validateResource(policies, 'restart-policy', previewed, PROD))).toEqual([expect.stringContaining('restart policy "no"')]);
  });

  test('a mount source not known yet is matched by its target against the stack file', async () => {
    const web = container({ service: 'web', mounts: [{ type: 'volume', target: '/data' }, { type: 'volume', source: 'shop_logs', target: '/logs' }] });
    expect(await validateResource(policies, 'state-on-volume', web, PROD)).toEqual([]);
  });

  test('arguments the pack cannot read are an error naming the resource, not a silent pass', async () => {
    const web = container({ service: 'web', extra: { mounts: [{ target: 7 }] } });
    await expect(validateResource(policies, 'restart-policy', web, PROD)).rejects.toThrow(/docker:index\/container:Container shop-web: the stowage policy pack cannot read its arguments/);
  });
});

describe('finding the stack file', () => {
  test('falls back to the stowage labels when the Pulumi stack is named otherwise', async () => {
    const web = container({ service: 'web', extra: { privileged: true } });
    expect(messages(await validateResource(policies, 'privileged-declared', web, 'production'))).toEqual([
      expect.stringContaining('runs privileged without a declared reason'),
    ]);
    const app = container({ project: 'loose', service: 'app', extra: { privileged: true } });
    expect(await validateResource(policies, 'privileged-declared', app, 'production')).toEqual([]);
  });

  test('without any stack file, an undeclared volume has no backup', async () => {
    const empty = createPolicies({ stacksDir: temp.stacksDir({}) });
    expect(messages(await validateResource(empty, 'backup-declared', volume('shop_data', hostBacked('/srv/shop/data')), PROD))).toEqual([
      expect.stringContaining('is not declared in the stack file'),
    ]);
  });

  test('an invalid stack file is an error naming file:line:column', async () => {
    const dir = temp.stacksDir({ 'shop.yaml': 'app: shop\nvolumes: {}\nservices:\n  web: { image: a:1, mountz: [] }\nenvironments: { prod: {} }\n' });
    writeFileSync(join(dir, 'README'), 'not a stack file');
    const broken = createPolicies({ stacksDir: dir });
    await expect(validateResource(broken, 'restart-policy', shopProd().web, PROD)).rejects.toThrow(/shop\.yaml:4:\d+: services\.web\.mountz: unknown key/);
  });
});
