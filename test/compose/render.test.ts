// The Compose files rendered from the shipped stacks: what they contain, that
// Compose (Debian's docker-compose 1.29) accepts every combination, that base +
// override merges into exactly the environment's full document, that secrets
// stay references, and that drift.mjs notices committed files that differ.
import { cpSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { parse, stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadStackFile, parseStackText } from '../../src/config/load.js';
import { resolveModel, type Model } from '../../src/config/model.js';
import { listStackFiles } from '../../src/config/select.js';
import { renderEnvironment, renderStackFiles, type ComposeDocument } from '../../src/compose/render.js';
import { repoRoot, runCommand, runScript, type RunResult } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

// A copy of the checkout's layout (<root>/stacks, <root>/compose), so relative
// bind paths render exactly as in the repository without writing into it.
const root = temp.make('stowage-render-');
const stacksDir = join(root, 'stacks');
const composeDir = join(root, 'compose');
cpSync(join(repoRoot, 'stacks'), stacksDir, { recursive: true });

interface Environment {
  app: string;
  env: string;
  model: Model;
}

const environments: Environment[] = listStackFiles(stacksDir).flatMap((stackFile) => {
  const { stack } = loadStackFile(stackFile);
  return Object.keys(stack.environments).map((env) => ({ app: stack.app, env, model: resolveModel(stack, env, { stackFile }) }));
});
const label = (e: Environment): string => `${e.app}-${e.env}`;

/** Values for every secret variable, as a Compose user puts them in compose/.env. */
const secretValues: Record<string, string> = Object.fromEntries(
  environments.flatMap((e) => e.model.secrets.map((s) => [s.composeVariable, `test-value-of-${s.key}-3f9a`])),
);

function readRendered(name: string): string {
  return readFileSync(join(composeDir, name), 'utf8');
}

function dockerCompose(project: string, files: string[], args: string[], env: Record<string, string | undefined> = secretValues): Promise<RunResult> {
  return runCommand('docker-compose', ['-p', project, '--project-directory', composeDir, ...files.flatMap((f) => ['-f', f]), ...args], {
    cwd: composeDir,
    env: { COMPOSE_FILE: undefined, COMPOSE_PROJECT_NAME: undefined, ...env },
  });
}

let firstRender: RunResult;
beforeAll(async () => {
  firstRender = await runScript('compose', ['--stacks-dir', stacksDir, '--out', composeDir, '--json']);
});

describe('compose.mjs renders every stack file', () => {
  test('the shipped stacks are pim and digidig, each with dev and prod', () => {
    expect(environments.map(label)).toEqual(['digidig-dev', 'digidig-prod', 'pim-dev', 'pim-prod']);
  });

  test('it writes a base file, one override per environment and the secrets example', () => {
    expect(firstRender.code).toBe(0);
    expect(readdirSync(composeDir).sort()).toEqual(
      ['digidig.yml', 'digidig.dev.yml', 'digidig.prod.yml', 'digidig.env.example', 'pim.yml', 'pim.dev.yml', 'pim.prod.yml'].sort(),
    );
    const report: unknown = JSON.parse(firstRender.stdout);
    expect(report).toMatchObject({ out: composeDir, written: expect.arrayContaining([join(composeDir, 'pim.yml')]) });
  });

  test('a second render writes nothing', async () => {
    const again = await runScript('compose', ['--stacks-dir', stacksDir, '--out', composeDir, '--json']);
    expect(again.code).toBe(0);
    const report: unknown = JSON.parse(again.stdout);
    expect(report).toMatchObject({ written: [] });
  });

  test('every file says it is generated and from which stack file', () => {
    for (const name of readdirSync(composeDir).filter((n) => n.endsWith('.yml'))) {
      const app = name.split('.')[0] ?? '';
      expect(readRendered(name)).toMatch(new RegExp(`^# Generated from stacks/${app}\\.yaml by scripts/compose\\.mjs: do not edit`));
    }
  });

  test.each(['pim', 'digidig'])('the base file %s.yml is the first environment complete', (app) => {
    const first = environments.find((e) => e.app === app);
    if (first === undefined) throw new Error(`no environments for ${app}`);
    const base: unknown = parse(readRendered(`${app}.yml`));
    expect(base).toEqual(renderEnvironment(first.model, composeDir));
  });

  test('no file sets a top-level "name" (Compose v1 rejects it)', () => {
    for (const name of readdirSync(composeDir).filter((n) => n.endsWith('.yml'))) {
      const doc: unknown = parse(readRendered(name));
      expect(doc).not.toHaveProperty('name');
    }
  });
});

describe.each(environments)('the full document of $app-$env', ({ model }) => {
  const doc: ComposeDocument = renderEnvironment(model, composeDir);

  test('every service is the container <project>-<service> with the stowage labels', () => {
    for (const [key, service] of Object.entries(doc.services)) {
      expect(service.container_name).toBe(`${model.project}-${key}`);
      expect(service.labels).toEqual({ 'stowage.project': model.project, 'stowage.env': model.env, 'stowage.service': key });
    }
  });

  test('every service says how long Compose waits after SIGTERM: 30s for a database writer, 10s otherwise', () => {
    const databases = model.app === 'pim' ? ['backend'] : ['postgres', 'mongo'];
    for (const [key, service] of Object.entries(doc.services)) {
      expect([key, service.stop_grace_period]).toEqual([key, databases.includes(key) ? '30s' : '10s']);
    }
  });

  test('every Docker volume is <project>_<volume> with the stowage labels', () => {
    for (const [key, volume] of Object.entries(doc.volumes ?? {})) {
      expect(volume.name).toBe(`${model.project}_${key}`);
      expect(volume.labels).toEqual({ 'stowage.project': model.project, 'stowage.env': model.env, 'stowage.volume': key });
    }
  });

  test('secret variables are required references to <APP>_<SECRET>, never values', () => {
    for (const container of model.containers) {
      const environment = doc.services[container.service]?.environment ?? {};
      for (const variable of container.environment.filter((e) => e.secret !== undefined)) {
        const composeVariable = `${model.app}_${variable.secret ?? ''}`.toUpperCase();
        expect(environment[variable.name]).toMatch(new RegExp(`^\\$\\{${composeVariable}:\\?[^}]+\\}$`));
      }
    }
  });
});

describe('what differs between the environments', () => {
  const doc = (app: string, env: string): ComposeDocument => {
    const e = environments.find((x) => x.app === app && x.env === env);
    if (e === undefined) throw new Error(`no ${app}-${env}`);
    return renderEnvironment(e.model, composeDir);
  };

  test('pim dev bind-mounts ../data, relative to compose/, so the file works in any clone', () => {
    expect(doc('pim', 'dev').services['backend']?.volumes).toEqual([{ type: 'bind', source: '../data', target: '/data' }]);
    expect(doc('pim', 'dev').volumes).toBeUndefined();
  });

  test('pim prod bind-mounts /srv/pim/data', () => {
    expect(doc('pim', 'prod').services['backend']?.volumes).toEqual([{ type: 'bind', source: '/srv/pim/data', target: '/data' }]);
  });

  test('digidig dev declares plain named volumes', () => {
    for (const volume of Object.values(doc('digidig', 'dev').volumes ?? {})) {
      expect(volume.driver).toBeUndefined();
      expect(volume.driver_opts).toBeUndefined();
    }
  });

  test('digidig prod binds every volume to a host directory through the local driver', () => {
    const volumes = doc('digidig', 'prod').volumes ?? {};
    expect(Object.keys(volumes)).toHaveLength(11);
    for (const [key, volume] of Object.entries(volumes)) {
      const device = key === 'app_logs' ? '/opt/digidig/logs' : `/opt/digidig/data/${key}`;
      expect(volume).toMatchObject({ driver: 'local', driver_opts: { type: 'none', o: 'bind', device } });
    }
  });

  test('the digidig secrets example names every secret variable with an empty value', () => {
    const lines = readRendered('digidig.env.example')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(lines).toEqual(['DIGIDIG_POSTGRES_PASSWORD=', 'DIGIDIG_MONGO_PASSWORD=']);
  });
});

describe('docker-compose (v1) accepts the rendered files', () => {
  test.concurrent.each(environments)('base alone, for $app', async ({ app, model }) => {
    const result = await dockerCompose(model.project, [`${app}.yml`], ['config', '-q']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  test.concurrent.each(environments)('base + override of $app-$env', async ({ app, env, model }) => {
    const result = await dockerCompose(model.project, [`${app}.yml`, `${app}.${env}.yml`], ['config', '-q']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
  });

  test('without the secret variables Compose refuses and names the missing one', async () => {
    const result = await dockerCompose('digidig', ['digidig.yml'], ['config', '-q'], {});
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/set DIGIDIG_(POSTGRES|MONGO)_PASSWORD in compose\/\.env/);
  });
});

describe('base + override, merged by docker-compose, equals the full document of the environment', () => {
  const fullDir = temp.make('stowage-full-');

  test.concurrent.each(environments)('$app-$env', async (e) => {
    const fullFile = join(fullDir, `${e.app}.${e.env}.full.yml`);
    writeFileSync(fullFile, stringify(renderEnvironment(e.model, composeDir), { lineWidth: 0 }));
    const [merged, full] = await Promise.all([
      dockerCompose(e.model.project, [`${e.app}.yml`, `${e.app}.${e.env}.yml`], ['config']),
      dockerCompose(e.model.project, [fullFile], ['config']),
    ]);
    expect(merged.code).toBe(0);
    expect(full.code).toBe(0);
    const mergedDoc: unknown = parse(merged.stdout);
    const fullDoc: unknown = parse(full.stdout);

    // The merge applied this environment, not just the base file.
    expect(mergedDoc).toMatchObject({ networks: { default: { labels: { 'stowage.env': e.env } } } });
    expect(mergedDoc).toEqual(fullDoc);
  });
});

describe('environments whose ports or replicas differ from the base file', () => {
  const shop = (prodPorts: string): Model[] => {
    const stack = parseStackText(
      yamlText`
        app: shop
        volumes: {}
        services:
          web:
            image: shop/web:1
            ports: ["127.0.0.1:8000:8000"]
        environments:
          dev: {}
          prod:
            services:
              web: { ports: ${prodPorts} }
      `,
      join(stacksDir, 'shop.yaml'),
    );
    return ['dev', 'prod'].map((env) => resolveModel(stack, env, { stackFile: join(stacksDir, 'shop.yaml') }));
  };

  test('an environment that replaces a port of the base file is refused: Compose would publish both', () => {
    expect(() => renderStackFiles(shop('["127.0.0.1:9000:8000"]'), composeDir, 'stacks/shop.yaml')).toThrow(
      'environment "prod" cannot be rendered as an override of the base file, which is environment "dev": service "web": an override file cannot remove ports 127.0.0.1:8000:8000',
    );
  });

  test('an environment with other replicas than the base file is refused: Compose would keep the base container too', () => {
    const stack = parseStackText(
      'app: shop\nvolumes: {}\nservices:\n  web: { image: shop/web:1 }\nenvironments:\n  dev: {}\n  prod:\n    services:\n      web: { replicas: 2 }\n',
      join(stacksDir, 'shop.yaml'),
    );
    const models = ['dev', 'prod'].map((env) => resolveModel(stack, env, { stackFile: join(stacksDir, 'shop.yaml') }));
    expect(() => renderStackFiles(models, composeDir, 'stacks/shop.yaml')).toThrow('cannot remove service(s) web of the base file');
  });

  test('an environment that adds a port merges into its full document', async () => {
    const models = shop('["127.0.0.1:8000:8000", "127.0.0.1:9000:9000"]');
    const dir = temp.make('stowage-ports-');
    for (const file of renderStackFiles(models, dir, 'stacks/shop.yaml')) writeFileSync(join(dir, file.name), file.content);
    const prod = models[1];
    if (prod === undefined) throw new Error('no prod model');
    writeFileSync(join(dir, 'full.yml'), stringify(renderEnvironment(prod, dir)));

    const config = async (files: string[]): Promise<unknown> => {
      const result = await runCommand('docker-compose', ['-p', 'shop', ...files.flatMap((f) => ['-f', f]), 'config'], { cwd: dir });
      expect(result.code).toBe(0);
      return parse(result.stdout);
    };
    const merged = await config(['shop.yml', 'shop.prod.yml']);
    expect(merged).toMatchObject({ services: { web: { ports: ['127.0.0.1:8000:8000/tcp', '127.0.0.1:9000:9000/tcp'] } } });
    expect(merged).toEqual(await config(['full.yml']));
  });
});

describe('secret values never reach the rendered files', () => {
  test('rendering with the secret variables set in the environment writes only references', async () => {
    const out = join(temp.make(), 'compose');
    const result = await runScript('compose', ['--stacks-dir', stacksDir, '--out', out], { env: secretValues });
    expect(result.code).toBe(0);
    const texts = readdirSync(out).map((name) => readFileSync(join(out, name), 'utf8'));
    expect(texts.join('\n')).toContain('${DIGIDIG_POSTGRES_PASSWORD:?');
    for (const value of Object.values(secretValues)) {
      for (const text of texts) expect(text).not.toContain(value);
    }
  });
});

describe('drift.mjs --compose', () => {
  /**
   * A copy of the repository's stacks/ and committed compose/ that a test may
   * change, side by side as in the checkout (bind paths render relative to compose/).
   * Returns the arguments that point drift.mjs at it.
   */
  function committedCopy(): { dir: string; args: string[] } {
    const copy = temp.make('stowage-drift-');
    const dir = join(copy, 'compose');
    cpSync(join(repoRoot, 'stacks'), join(copy, 'stacks'), { recursive: true });
    cpSync(join(repoRoot, 'compose'), dir, { recursive: true });
    return { dir, args: ['--compose', '--stacks-dir', join(copy, 'stacks'), '--compose-dir', dir] };
  }

  test('exits 0 on an unchanged copy', async () => {
    const { args } = committedCopy();
    const result = await runScript('drift', args);
    expect(result.code).toBe(0);
  });

  test('exits 0 on the repository: the committed files are current', async () => {
    const result = await runScript('drift', ['--compose'], { via: 'zx' });
    expect(result.stderr).not.toMatch(/^error/m);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('are current');
  });

  test('exits 3 with a unified diff naming the file when a committed file was edited', async () => {
    const { dir, args } = committedCopy();
    const file = join(dir, 'digidig.prod.yml');
    writeFileSync(file, readFileSync(file, 'utf8').replace('device: /opt/digidig/logs', 'device: /var/log/digidig'));

    const result = await runScript('drift', args);

    expect(result.code).toBe(3);
    expect(result.stdout).toMatch(/^--- \S*digidig\.prod\.yml \(committed\)$/m);
    expect(result.stdout).toMatch(/^\+\+\+ \S*digidig\.prod\.yml \(rendered\)$/m);
    expect(result.stdout).toMatch(/^@@ /m);
    expect(result.stdout).toMatch(/^- +device: \/var\/log\/digidig$/m);
    expect(result.stdout).toMatch(/^\+ +device: \/opt\/digidig\/logs$/m);
    expect(result.stdout).toContain('1 compose file(s) differ from the stack files: run npx zx scripts/compose.mjs');
  });

  test('reports a file no stack renders any more as stale', async () => {
    const { dir, args } = committedCopy();
    writeFileSync(join(dir, 'oldapp.yml'), 'version: "3.8"\nservices: {}\n');

    const result = await runScript('drift', [...args, '--json']);

    expect(result.code).toBe(3);
    const report: unknown = JSON.parse(result.stdout);
    expect(report).toEqual({
      compose: {
        current: false,
        drift: [{ file: expect.stringMatching(/oldapp\.yml$/), state: 'stale', diff: expect.stringContaining('no stack file renders it any more') }],
      },
    });
  });

  test('reports a deleted file as missing', async () => {
    const { dir, args } = committedCopy();
    rmSync(join(dir, 'pim.prod.yml'));

    const result = await runScript('drift', [...args, '--json']);

    expect(result.code).toBe(3);
    const report: unknown = JSON.parse(result.stdout);
    expect(report).toMatchObject({ compose: { current: false, drift: [{ file: expect.stringMatching(/pim\.prod\.yml$/), state: 'missing' }] } });
  });

  test('--stack checks only that stack\'s files', async () => {
    const { dir, args } = committedCopy();
    const file = join(dir, 'digidig.yml');
    writeFileSync(file, `${readFileSync(file, 'utf8')}# edited\n`);

    const pim = await runScript('drift', [...args, '--stack', 'pim-dev']);
    const digidig = await runScript('drift', [...args, '--stack', 'digidig-dev']);

    expect(pim.code).toBe(0);
    expect(digidig.code).toBe(3);
    expect(digidig.stdout).toContain(`${basename(file)} (committed)`);
  });
});
