// The resolved model of the four shipped stacks: every name the engine will see,
// how each volume is backed, and what each container gets. Pulumi, the Compose
// files and the operations all read this model, so it is the contract's core.
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { UsageError } from '../../src/config/errors.js';
import { parseStackText } from '../../src/config/load.js';
import { LABEL, resolveModel, type ContainerModel, type Model, type VolumeModel } from '../../src/config/model.js';
import { selectStack } from '../../src/config/select.js';
import { formatMode, hasParentSegment, isSafeRelativePath, isValidUser, parseGracePeriod, parseMaxAge, parseMode, parseMount, parseOwner } from '../../src/config/syntax.js';
import { repoRoot } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';

const stacksDir = join(repoRoot, 'stacks');
const model = (stack: string): Model => selectStack(stack, stacksDir).model;

function volume(m: Model, key: string): VolumeModel {
  const found = m.volumes.find((v) => v.key === key);
  if (found === undefined) throw new Error(`${m.app}-${m.env} has no volume ${key}`);
  return found;
}

function container(m: Model, service: string): ContainerModel {
  const found = m.containers.find((c) => c.service === service);
  if (found === undefined) throw new Error(`${m.app}-${m.env} has no service ${service}`);
  return found;
}

const DIGIDIG_APP_SERVICES = ['identity', 'smtp', 'imap', 'storage', 'client', 'admin', 'apidocs'] as const;
const DIGIDIG_VOLUMES = [
  'postgres_data',
  'mongo_data',
  'identity_data',
  'smtp_data',
  'imap_data',
  'storage_data',
  'client_data',
  'admin_data',
  'apidocs_data',
  'app_logs',
  'test_data',
] as const;

describe.each(['dev', 'prod'] as const)('pim-%s', (env) => {
  const m = model(`pim-${env}`);

  test('project is the app name and the environment is recorded', () => {
    expect(m).toMatchObject({ app: 'pim', env, project: 'pim', production: env === 'prod' });
    expect(m.network).toEqual({ name: 'pim_default', labels: { [LABEL.project]: 'pim', [LABEL.env]: env } });
  });

  test('one data volume named pim_data, labelled, with its ownership and per-file rules', () => {
    expect(m.volumes.map((v) => v.key)).toEqual(['data']);
    const data = volume(m, 'data');
    expect(data.name).toBe('pim_data');
    expect(data.labels).toEqual({ [LABEL.project]: 'pim', [LABEL.env]: env, [LABEL.volume]: 'data' });
    expect(data.owner).toEqual({ uid: 1000, gid: 1000 });
    expect(data.mode).toBe(0o750);
    expect(data.files).toEqual([
      { path: 'secrets.env', mode: 0o600, owner: { uid: 1000, gid: 1000 }, secret: true },
      { path: 'database.sqlite', mode: 0o640, owner: { uid: 1000, gid: 1000 }, secret: false },
    ]);
  });

  test('the database is backed up with SQLite online backup', () => {
    expect(volume(m, 'data').backup).toMatchObject({ method: 'sqlite', databases: ['database.sqlite'] });
  });

  test('exactly one backend container, pim-backend, as uid 1000 with the data at /data', () => {
    expect(m.containers.map((c) => c.name)).toEqual(['pim-backend']);
    const backend = container(m, 'backend');
    expect(backend).toMatchObject({
      image: 'pim/backend:1.0.0',
      user: '1000:1000',
      restart: 'unless-stopped',
      ports: ['127.0.0.1:8000:8000'],
      dependsOn: [],
      network: 'pim_default',
      privileged: false,
      hostNetwork: false,
      dockerSocket: false,
    });
    expect(backend.labels).toEqual({ [LABEL.project]: 'pim', [LABEL.env]: env, [LABEL.service]: 'backend' });
    expect(backend.mounts.map((mt) => [mt.volume, mt.target, mt.readOnly])).toEqual([['data', '/data', false]]);
  });

  test('pim has no secrets to pass: its keys live in secrets.env on the volume', () => {
    expect(m.secrets).toEqual([]);
  });
});

describe('pim: dev and prod differences', () => {
  test('dev bind-mounts ./data of the checkout', () => {
    const data = volume(model('pim-dev'), 'data');
    expect(data).toMatchObject({ kind: 'bind', hostPath: join(repoRoot, 'data'), declaredPath: './data', driverOpts: {} });
    expect(container(model('pim-dev'), 'backend').mounts[0]).toEqual({
      volume: 'data',
      target: '/data',
      readOnly: false,
      type: 'bind',
      source: join(repoRoot, 'data'),
    });
  });

  test('prod bind-mounts <hostRoot>/data, /srv/pim/data', () => {
    const data = volume(model('pim-prod'), 'data');
    expect(data).toMatchObject({ kind: 'bind', hostPath: '/srv/pim/data', driverOpts: {} });
    expect(container(model('pim-prod'), 'backend').mounts[0]).toMatchObject({ type: 'bind', source: '/srv/pim/data' });
  });

  test('prod adds LOG_LEVEL=info to the base environment variables', () => {
    const names = (m: Model): Array<[string, string | undefined]> => container(m, 'backend').environment.map((e) => [e.name, e.value]);
    const base: Array<[string, string | undefined]> = [
      ['DATA_DIR', '/data'],
      ['DATABASE_PATH', '/data/database.sqlite'],
      ['SECRETS_FILE', '/data/secrets.env'],
    ];
    expect(names(model('pim-dev'))).toEqual(base);
    expect(names(model('pim-prod'))).toEqual([...base, ['LOG_LEVEL', 'info']]);
  });
});

describe.each(['dev', 'prod'] as const)('digidig-%s', (env) => {
  const m = model(`digidig-${env}`);

  test('project is digidig', () => {
    expect(m).toMatchObject({ app: 'digidig', env, project: 'digidig', production: env === 'prod' });
    expect(m.network.name).toBe('digidig_default');
  });

  test('every volume is named digidig_<volume> and labelled with project, env and volume', () => {
    expect(m.volumes.map((v) => v.key)).toEqual([...DIGIDIG_VOLUMES]);
    for (const v of m.volumes) {
      expect(v.name).toBe(`digidig_${v.key}`);
      expect(v.labels).toEqual({ [LABEL.project]: 'digidig', [LABEL.env]: env, [LABEL.volume]: v.key });
    }
    expect(volume(m, 'smtp_data').name).toBe('digidig_smtp_data');
  });

  test('containers are digidig-<service>, labelled with project, env and service, restarted unless stopped', () => {
    expect(m.containers.map((c) => c.name)).toEqual(
      ['postgres', 'mongo', ...DIGIDIG_APP_SERVICES].map((s) => `digidig-${s}`),
    );
    for (const c of m.containers) {
      expect(c.labels).toEqual({ [LABEL.project]: 'digidig', [LABEL.env]: env, [LABEL.service]: c.service });
      expect(c.restart).toBe('unless-stopped');
      expect(c.network).toBe('digidig_default');
    }
  });

  test.each(DIGIDIG_APP_SERVICES)('%s runs as 1000:1000 with its own data, the shared logs and the test reports', (service) => {
    const c = container(m, service);
    expect(c.user).toBe('1000:1000');
    expect(c.mounts.map((mt) => [mt.volume, mt.target, mt.readOnly])).toEqual([
      [`${service}_data`, '/app/data', false],
      ['app_logs', '/app/logs', false],
      ['test_data', '/app/tests', false],
    ]);
    for (const mt of c.mounts) expect(mt).toMatchObject({ type: 'volume', source: `digidig_${mt.volume}` });
  });

  test('the databases keep their data on their own volumes', () => {
    expect(container(m, 'postgres').mounts).toEqual([
      { volume: 'postgres_data', target: '/var/lib/postgresql/data', readOnly: false, type: 'volume', source: 'digidig_postgres_data' },
    ]);
    expect(container(m, 'mongo').mounts).toEqual([
      { volume: 'mongo_data', target: '/data/db', readOnly: false, type: 'volume', source: 'digidig_mongo_data' },
    ]);
  });

  test('passwords are references to declared secrets, never values', () => {
    const secretVars = m.containers.flatMap((c) => c.environment.filter((e) => e.secret !== undefined).map((e) => [c.service, e.name, e.secret]));
    expect(secretVars).toEqual([
      ['postgres', 'POSTGRES_PASSWORD', 'postgres_password'],
      ['mongo', 'MONGO_INITDB_ROOT_PASSWORD', 'mongo_password'],
      ['identity', 'DB_PASSWORD', 'postgres_password'],
      ['storage', 'MONGO_PASSWORD', 'mongo_password'],
    ]);
    for (const c of m.containers) {
      for (const e of c.environment) {
        if (e.secret !== undefined) expect(e.value).toBeUndefined();
      }
    }
    expect(m.secrets).toEqual([
      { key: 'postgres_password', composeVariable: 'DIGIDIG_POSTGRES_PASSWORD', length: 32 },
      { key: 'mongo_password', composeVariable: 'DIGIDIG_MONGO_PASSWORD', length: 32 },
    ]);
  });

  test('services start after what they depend on', () => {
    expect(Object.fromEntries(m.containers.map((c) => [c.service, c.dependsOn]))).toEqual({
      postgres: [],
      mongo: [],
      identity: ['postgres'],
      smtp: ['identity', 'storage'],
      imap: ['identity', 'storage'],
      storage: ['mongo'],
      client: ['identity', 'storage'],
      admin: ['identity', 'smtp'],
      apidocs: [],
    });
  });

  test('databases are dumped with their own tools, test reports are not backed up', () => {
    expect(volume(m, 'postgres_data').backup).toMatchObject({ method: 'pg_dump', service: 'postgres', database: 'digidig', user: 'digidig' });
    expect(volume(m, 'mongo_data').backup).toMatchObject({
      method: 'mongodump',
      service: 'mongo',
      usernameEnv: 'MONGO_INITDB_ROOT_USERNAME',
      passwordEnv: 'MONGO_INITDB_ROOT_PASSWORD',
      authenticationDatabase: 'admin',
    });
    expect(volume(m, 'test_data').backup).toMatchObject({ method: 'none', reason: 'regenerated by every test run' });
    expect(volume(m, 'smtp_data').backup.method).toBe('tar');
  });
});

describe('digidig: dev and prod differences', () => {
  test('dev uses Docker-managed named volumes', () => {
    for (const v of model('digidig-dev').volumes) {
      expect(v).toMatchObject({ kind: 'named', hostPath: undefined, driver: 'local', driverOpts: {} });
    }
  });

  test('prod backs each volume with /opt/digidig/data/<volume> through the local driver', () => {
    for (const v of model('digidig-prod').volumes.filter((v) => v.key !== 'app_logs')) {
      const path = `/opt/digidig/data/${v.key}`;
      expect(v).toMatchObject({ kind: 'host', hostPath: path, driver: 'local', driverOpts: { type: 'none', o: 'bind', device: path } });
    }
  });

  test('prod keeps the logs at /opt/digidig/logs', () => {
    expect(volume(model('digidig-prod'), 'app_logs')).toMatchObject({
      kind: 'host',
      name: 'digidig_app_logs',
      hostPath: '/opt/digidig/logs',
      driverOpts: { type: 'none', o: 'bind', device: '/opt/digidig/logs' },
    });
  });
});

describe('environment overrides', () => {
  const stack = parseStackText(
    yamlText`
      app: shop
      secrets:
        api_key: {}
      volumes:
        data: {}
      services:
        web:
          image: shop/web:1
          mounts: [data:/data]
          environment: { API_KEY: { secret: api_key } }
      environments:
        dev: {}
        staging:
          project: shop-staging
    `,
    '/somewhere/stacks/shop.yaml',
  );

  test('a project override renames every volume, container, network and label', () => {
    const m = resolveModel(stack, 'staging', { stackFile: '/somewhere/stacks/shop.yaml' });
    expect(m.project).toBe('shop-staging');
    expect(m.volumes.map((v) => [v.name, v.labels[LABEL.project]])).toEqual([['shop-staging_data', 'shop-staging']]);
    expect(m.containers.map((c) => [c.name, c.labels[LABEL.project]])).toEqual([['shop-staging-web', 'shop-staging']]);
    expect(container(m, 'web').mounts[0]?.source).toBe('shop-staging_data');
    expect(m.network).toEqual({ name: 'shop-staging_default', labels: { [LABEL.project]: 'shop-staging', [LABEL.env]: 'staging' } });
  });

  test('a project override does not rename the secrets variables, which belong to the app', () => {
    const m = resolveModel(stack, 'staging', { stackFile: '/somewhere/stacks/shop.yaml' });
    expect(m.secrets.map((s) => s.composeVariable)).toEqual(['SHOP_API_KEY']);
  });

  test('without an override the project is the app name', () => {
    expect(resolveModel(stack, 'dev', { stackFile: '/somewhere/stacks/shop.yaml' }).containers[0]?.name).toBe('shop-web');
  });

  test('an environment that is not declared is a usage error naming the declared ones', () => {
    expect(() => resolveModel(stack, 'prod', { stackFile: '/somewhere/stacks/shop.yaml' })).toThrow(UsageError);
    expect(() => resolveModel(stack, 'prod', { stackFile: '/somewhere/stacks/shop.yaml' })).toThrow('declared: dev, staging');
  });
});

describe('stop grace periods', () => {
  const stack = parseStackText(
    yamlText`
      app: grace
      volumes:
        db: { backup: { method: sqlite, databases: [app.sqlite] } }
        pg: { backup: { method: pg_dump, service: postgres, database: app, user: app } }
        mongo: { backup: { method: mongodump, service: mongo } }
        files: {}
      services:
        app: { image: grace/app:1, mounts: [db:/data, files:/files] }
        reader: { image: grace/reader:1, mounts: ["db:/data:ro", files:/files] }
        postgres: { image: postgres:15.8, mounts: [pg:/var/lib/postgresql/data] }
        mongo: { image: mongo:7.0.14, mounts: [mongo:/data/db] }
        web: { image: grace/web:1, mounts: [files:/srv] }
        slow: { image: grace/slow:1, stopGracePeriod: 2m }
      environments:
        dev: {}
        prod:
          services:
            web: { stopGracePeriod: 45s }
    `,
    '/somewhere/stacks/grace.yaml',
  );
  const grace = (env: string): Record<string, number> =>
    Object.fromEntries(resolveModel(stack, env, { stackFile: '/somewhere/stacks/grace.yaml' }).containers.map((c) => [c.service, c.stopGraceSeconds]));

  test('are 30 s for services that write a database volume (sqlite, pg_dump, mongodump) and 10 s for the others', () => {
    expect(grace('dev')).toMatchObject({ app: 30, postgres: 30, mongo: 30, reader: 10, web: 10 });
  });

  test('come from services.<svc>.stopGracePeriod, and an environment can override them', () => {
    expect(grace('dev')).toMatchObject({ slow: 120, web: 10 });
    expect(grace('prod')).toMatchObject({ slow: 120, web: 45 });
  });

  test('of the shipped stacks: the databases and the SQLite backend 30 s, the digidig services 10 s', () => {
    expect(model('pim-prod').containers.map((c) => [c.service, c.stopGraceSeconds])).toEqual([['backend', 30]]);
    expect(Object.fromEntries(model('digidig-prod').containers.map((c) => [c.service, c.stopGraceSeconds]))).toEqual({
      postgres: 30,
      mongo: 30,
      ...Object.fromEntries(DIGIDIG_APP_SERVICES.map((s) => [s, 10])),
    });
  });

  test('parseGracePeriod reads whole seconds, minutes and hours', () => {
    expect([parseGracePeriod('30s'), parseGracePeriod('2m'), parseGracePeriod('1h')]).toEqual([30, 120, 3600]);
    for (const text of ['0s', '10', '1m30s', '500ms', '-5s', '']) expect(parseGracePeriod(text)).toBeUndefined();
  });

  test('a grace period the schema does not accept is refused at its line, with the format', () => {
    expect(() =>
      parseStackText('app: g\nvolumes: {}\nservices:\n  web:\n    image: g/web:1\n    stopGracePeriod: 0s\nenvironments:\n  dev: {}\n', '/x/stacks/g.yaml'),
    ).toThrow(/g\.yaml:6:22: services\.web\.stopGracePeriod/);
  });
});

describe('selectStack splits <app>-<env>', () => {
  const temp = new TempDirs();
  afterAll(() => temp.removeAll());
  const stackFile = (app: string, envs: string[]): string =>
    yamlText`
      app: ${app}
      volumes: {}
      services: { web: { image: ${app}/web:1 } }
      environments: { ${envs.map((e) => `${e}: {}`).join(', ')} }
    `;

  test('an app name with dashes', () => {
    const dir = temp.stacksDir({ 'my-shop.yaml': stackFile('my-shop', ['dev']) });
    const selected = selectStack('my-shop-dev', dir);
    expect(selected.file).toBe(join(dir, 'my-shop.yaml'));
    expect(selected.model).toMatchObject({ app: 'my-shop', env: 'dev', project: 'my-shop' });
    expect(selected.model.containers[0]?.name).toBe('my-shop-web');
  });

  test('an environment name with dashes', () => {
    const dir = temp.stacksDir({ 'my-shop.yaml': stackFile('my-shop', ['dev', 'blue-green']) });
    expect(selectStack('my-shop-blue-green', dir).model).toMatchObject({ app: 'my-shop', env: 'blue-green' });
  });

  test('the split whose file declares the environment wins over a longer app name', () => {
    const dir = temp.stacksDir({
      'my.yaml': stackFile('my', ['shop-dev']),
      'my-shop.yaml': stackFile('my-shop', ['prod']),
    });
    expect(selectStack('my-shop-dev', dir).model).toMatchObject({ app: 'my', env: 'shop-dev' });
    expect(selectStack('my-shop-prod', dir).model).toMatchObject({ app: 'my-shop', env: 'prod' });
  });

  test('a stack file without the environment says which environments it declares', () => {
    const dir = temp.stacksDir({ 'my-shop.yaml': stackFile('my-shop', ['dev']) });
    expect(() => selectStack('my-shop-staging', dir)).toThrow(/my-shop\.yaml: no environment "staging"; declared: dev/);
  });

  test('no stack file for any split is a usage error listing the files found', () => {
    const dir = temp.stacksDir({ 'my-shop.yaml': stackFile('my-shop', ['dev']) });
    expect(() => selectStack('other-dev', dir)).toThrow(UsageError);
    expect(() => selectStack('other-dev', dir)).toThrow('found: my-shop.yaml');
  });

  test('a --stack without an environment part is a usage error', () => {
    expect(() => selectStack('pim', stacksDir)).toThrow(/expected <app>-<env>/);
  });
});

describe('backups.maxAge', () => {
  const withMaxAge = (maxAge: string | undefined): Model =>
    resolveModel(
      parseStackText(
        yamlText`
          app: shop
          ${maxAge === undefined ? '' : `backups: { maxAge: ${maxAge} }`}
          volumes:
            data: {}
          services:
            web: { image: shop/web:1, mounts: [data:/data] }
          environments:
            dev: {}
        `,
        '/somewhere/stacks/shop.yaml',
      ),
      'dev',
      { stackFile: '/somewhere/stacks/shop.yaml' },
    );

  test('defaults to 26 hours: a nightly backup with room for a slow night', () => {
    expect(withMaxAge(undefined).backups.maxAgeSeconds).toBe(26 * 3600);
  });

  test.each([
    ['90m', 90 * 60],
    ['26h', 26 * 3600],
    ['2d', 2 * 86400],
    ['1w', 7 * 86400],
  ])('%s is %i seconds', (text, seconds) => {
    expect(withMaxAge(text).backups.maxAgeSeconds).toBe(seconds);
  });

  test.each(['0h', '26', '1.5d', '26 h', '2y', 'h'])('parseMaxAge rejects %j', (text) => {
    expect(parseMaxAge(text)).toBeUndefined();
  });

  test.each(['0h', '1.5d', '2y'])('a stack file with maxAge %j is refused', (text) => {
    expect(() => withMaxAge(text)).toThrow(/backups\.maxAge/);
  });
});

describe('stack file value syntaxes', () => {
  test('parseMount reads <volume>:<target>[:ro|:rw]', () => {
    expect(parseMount('data:/data')).toEqual({ volume: 'data', target: '/data', readOnly: false });
    expect(parseMount('data:/data:ro')).toEqual({ volume: 'data', target: '/data', readOnly: true });
    expect(parseMount('data:/data:rw')).toEqual({ volume: 'data', target: '/data', readOnly: false });
  });

  test.each(['data', 'data:', ':/data', 'data:/data:rx', 'data:/a:ro:extra'])('parseMount rejects %j', (text) => {
    expect(parseMount(text)).toBeUndefined();
  });

  test('parseOwner reads numeric uid:gid only', () => {
    expect(parseOwner('1000:1000')).toEqual({ uid: 1000, gid: 1000 });
    expect(parseOwner('0:999')).toEqual({ uid: 0, gid: 999 });
    expect(parseOwner('app:app')).toBeUndefined();
    expect(parseOwner('1000')).toBeUndefined();
    expect(parseOwner('-1:0')).toBeUndefined();
  });

  test('parseMode reads 3 or 4 octal digits with an optional leading 0', () => {
    expect(parseMode('750')).toBe(0o750);
    expect(parseMode('0750')).toBe(0o750);
    expect(parseMode('0600')).toBe(0o600);
    expect(parseMode('2775')).toBe(0o2775);
    expect(parseMode('02775')).toBe(0o2775);
  });

  test.each(['', '75', '0800', '12345', 'rwx', '0o750', '-750'])('parseMode rejects %j', (text) => {
    expect(parseMode(text)).toBeUndefined();
  });

  test('formatMode writes a leading 0 and at least three digits, and parseMode reads it back', () => {
    expect(formatMode(0o750)).toBe('0750');
    expect(formatMode(0o600)).toBe('0600');
    expect(formatMode(0o7)).toBe('0007');
    for (const mode of [0o600, 0o640, 0o750, 0o2775]) expect(parseMode(formatMode(mode))).toBe(mode);
  });

  test('hasParentSegment finds ".." segments only', () => {
    expect(hasParentSegment('/srv/../etc')).toBe(true);
    expect(hasParentSegment('..')).toBe(true);
    expect(hasParentSegment('./a/..')).toBe(true);
    expect(hasParentSegment('/srv/a..b/c')).toBe(false);
    expect(hasParentSegment('/srv/...')).toBe(false);
  });

  test('isSafeRelativePath accepts paths inside a volume only', () => {
    expect(isSafeRelativePath('database.sqlite')).toBe(true);
    expect(isSafeRelativePath('email/attachments')).toBe(true);
    expect(isSafeRelativePath('')).toBe(false);
    expect(isSafeRelativePath('/etc/passwd')).toBe(false);
    expect(isSafeRelativePath('../outside')).toBe(false);
    expect(isSafeRelativePath('a/../../b')).toBe(false);
    expect(isSafeRelativePath('a\0b')).toBe(false);
  });

  test('isValidUser accepts uid[:gid] and name[:group]', () => {
    for (const user of ['1000', '1000:1000', 'postgres', 'www-data:www-data', '_apt']) expect(isValidUser(user)).toBe(true);
    for (const user of ['', ':1000', '1000:', 'Root', '1000:1000:1000', 'a b']) expect(isValidUser(user)).toBe(false);
  });
});
