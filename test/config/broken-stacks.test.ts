// Broken stack files, run through the real command line: every one must be
// refused with exit code 2, a message naming file:line:column, the key path and
// what is wrong, and nothing may be rendered.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { StackFileError, type StackIssue } from '../../src/config/errors.js';
import { parseStackText } from '../../src/config/load.js';
import { runScript } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

interface BrokenCase {
  /** The behaviour under test, as the test's name. */
  name: string;
  /** Contents of stacks/shop.yaml (rendered with --stack shop-dev). */
  yaml: string;
  line: number;
  column: number;
  /** Key path as printed; `(document)` for the whole file. */
  keyPath: string;
  /** The problem as printed after the key path. */
  message: string;
  /** Part of the "fix:" advice printed under it, when the advice matters. */
  fix?: string;
}

const cases: BrokenCase[] = [
  {
    name: 'an unknown top-level key (a typo of "backups")',
    yaml: yamlText`
      app: shop
      backup:
        to: ./backups
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev: {}
    `,
    line: 2,
    column: 1,
    keyPath: 'backup',
    message: 'unknown key "backup"',
    fix: 'allowed here: app, description, helper, secrets, backups,',
  },
  {
    name: 'an unknown key inside a service (a typo of "mounts")',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web:
          image: shop/web:1
          mountz: [data:/data]
      environments:
        dev: {}
    `,
    line: 7,
    column: 5,
    keyPath: 'services.web.mountz',
    message: 'unknown key "mountz"',
    fix: 'correct its spelling',
  },
  {
    name: 'a missing "app" key',
    yaml: yamlText`
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev: {}
    `,
    line: 1,
    column: 1,
    keyPath: '(document)',
    message: 'missing required key "app"',
    fix: 'add "app"',
  },
  {
    name: 'an app name that does not match [a-z][a-z0-9-]*',
    yaml: yamlText`
      app: Shop_App
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev: {}
    `,
    line: 1,
    column: 6,
    keyPath: 'app',
    message: '"Shop_App" must match ^[a-z][a-z0-9-]*$',
  },
  {
    name: 'mounts written as a string instead of a list',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web:
          image: shop/web:1
          mounts: data:/data
      environments:
        dev: {}
    `,
    line: 7,
    column: 13,
    keyPath: 'services.web.mounts',
    message: 'must be an array, not string "data:/data"',
  },
  {
    name: 'a backup method that does not exist',
    yaml: yamlText`
      app: shop
      volumes:
        data:
          backup:
            method: rsync
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev: {}
    `,
    line: 5,
    column: 15,
    keyPath: 'volumes.data.backup.method',
    message: '"rsync" is not allowed',
    fix: 'use one of: tar, sqlite, pg_dump, mongodump, none',
  },
  {
    name: 'a mount naming an undeclared volume',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web:
          image: shop/web:1
          mounts:
            - data:/data
            - cache:/cache
      environments:
        dev: {}
    `,
    line: 9,
    column: 9,
    keyPath: 'services.web.mounts[1]',
    message: 'mount names undeclared volume "cache"',
    fix: 'use one of: data',
  },
  {
    name: 'a mount target that is not an absolute path',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web:
          image: shop/web:1
          mounts:
            - data:app/data
      environments:
        dev: {}
    `,
    line: 8,
    column: 9,
    keyPath: 'services.web.mounts[0]',
    message: 'mount target "app/data" is not an absolute path',
  },
  {
    name: 'two mounts on the same target in one service (a trailing slash does not make it different)',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
        cache: {}
      services:
        web:
          image: shop/web:1
          mounts:
            - data:/data
            - cache:/data/
      environments:
        dev: {}
    `,
    line: 10,
    column: 9,
    keyPath: 'services.web.mounts[1]',
    message: 'target "/data" is already mounted by mounts[0]',
  },
  {
    name: 'a state path that is not on any volume of the service',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web:
          image: shop/web:1
          mounts: [data:/data]
          statePaths: [/data/db, /var/lib/shop]
      environments:
        dev: {}
    `,
    line: 8,
    column: 28,
    keyPath: 'services.web.statePaths[1]',
    message: 'state path "/var/lib/shop" is not on a volume of "web"',
    fix: 'mounted: /data',
  },
  {
    name: 'a SQLite volume mounted read-write by two services',
    yaml: yamlText`
      app: shop
      volumes:
        data:
          backup: { method: sqlite, databases: [shop.sqlite] }
      services:
        web:
          image: shop/web:1
          mounts: [data:/data]
        worker:
          image: shop/worker:1
          mounts: [data:/data]
      environments:
        dev: {}
    `,
    line: 11,
    column: 14,
    keyPath: 'services.worker.mounts[0]',
    message: 'SQLite volume "data" has more than one writer (web, worker)',
    fix: 'mount it read-only (":ro")',
  },
  {
    name: 'two replicas of a service that writes a SQLite volume',
    yaml: yamlText`
      app: shop
      volumes:
        data:
          backup: { method: sqlite, databases: [shop.sqlite] }
      services:
        web:
          image: shop/web:1
          replicas: 2
          mounts: [data:/data]
      environments:
        dev: {}
    `,
    line: 8,
    column: 15,
    keyPath: 'services.web.replicas',
    message: '2 replicas of "web" would all write SQLite volume "data"',
    fix: 'set replicas: 1',
  },
  {
    name: 'two replicas of a SQLite writer set by an environment override (of another environment than the one selected)',
    yaml: yamlText`
      app: shop
      volumes:
        data:
          backup: { method: sqlite, databases: [shop.sqlite] }
      services:
        web:
          image: shop/web:1
          mounts: [data:/data]
      environments:
        dev: {}
        prod:
          services:
            web:
              replicas: 2
    `,
    line: 14,
    column: 19,
    keyPath: 'environments.prod.services.web.replicas',
    message: '2 replicas of "web" would all write SQLite volume "data"',
  },
  {
    name: 'an owner written with user names instead of uid:gid',
    yaml: yamlText`
      app: shop
      volumes:
        data:
          owner: www-data:www-data
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev: {}
    `,
    line: 4,
    column: 12,
    keyPath: 'volumes.data.owner',
    message: 'owner "www-data:www-data" is not uid:gid',
    fix: '"1000:1000"',
  },
  {
    name: 'a mode that is not octal',
    yaml: yamlText`
      app: shop
      volumes:
        data:
          mode: rwxr-x---
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev: {}
    `,
    line: 4,
    column: 11,
    keyPath: 'volumes.data.mode',
    message: 'mode "rwxr-x---" is not an octal permission',
    fix: '"0750"',
  },
  {
    name: 'a relative hostRoot',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev:
          hostRoot: srv/shop
          volumeBacking: host
    `,
    line: 8,
    column: 15,
    keyPath: 'environments.dev.hostRoot',
    message: 'host path "srv/shop" is not absolute',
  },
  {
    name: 'a hostRoot that climbs out with ".."',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev:
          hostRoot: /srv/shop/../../etc
          volumeBacking: host
    `,
    line: 8,
    column: 15,
    keyPath: 'environments.dev.hostRoot',
    message: 'host path "/srv/shop/../../etc" contains ".."',
  },
  {
    name: 'a bind override that climbs out of the checkout with ".."',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev:
          volumes:
            data: { bind: ./../outside }
    `,
    line: 9,
    column: 21,
    keyPath: 'environments.dev.volumes.data.bind',
    message: 'host path "./../outside" contains ".."',
  },
  {
    name: 'a relative host-backed volume override',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev:
          volumes:
            data:
              host: srv/shop/data
    `,
    line: 10,
    column: 15,
    keyPath: 'environments.dev.volumes.data.host',
    message: 'host path "srv/shop/data" is not absolute',
  },
  {
    name: 'a key repeated in one mapping',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web:
          image: shop/web:1
          image: shop/web:2
          mounts: [data:/data]
      environments:
        dev: {}
    `,
    line: 7,
    column: 5,
    keyPath: 'services.web.image',
    message: 'duplicate key "image": a key may appear only once in a mapping',
  },
  {
    name: 'a YAML syntax error (a tab used as indentation)',
    yaml: 'app: shop\nvolumes:\n\tdata: {}\nservices:\n  web: { image: shop/web:1 }\nenvironments:\n  dev: {}\n',
    line: 3,
    column: 1,
    keyPath: '(document)',
    message: 'YAML syntax error: Tabs are not allowed as indentation',
  },
  {
    name: 'an environment variable that references an undeclared secret',
    yaml: yamlText`
      app: shop
      secrets:
        api_key: {}
      volumes:
        data: {}
      services:
        web:
          image: shop/web:1
          mounts: [data:/data]
          environment:
            DB_PASSWORD: { secret: db_password }
      environments:
        dev: {}
    `,
    line: 11,
    column: 30,
    keyPath: 'services.web.environment.DB_PASSWORD.secret',
    message: 'secret "db_password" is not declared',
    fix: 'declared: api_key',
  },
  {
    name: 'dependsOn naming an undeclared service',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web:
          image: shop/web:1
          mounts: [data:/data]
          dependsOn: [db]
      environments:
        dev: {}
    `,
    line: 8,
    column: 17,
    keyPath: 'services.web.dependsOn[0]',
    message: 'depends on undeclared service "db"',
    fix: 'use one of: web',
  },
  {
    name: 'services that depend on each other in a cycle',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web:
          image: shop/web:1
          mounts: [data:/data]
          dependsOn: [worker]
        worker:
          image: shop/worker:1
          dependsOn: [web]
      environments:
        dev: {}
    `,
    line: 8,
    column: 16,
    keyPath: 'services.web.dependsOn',
    message: 'dependency cycle: web -> worker -> web',
  },
  {
    name: 'an environment overriding a volume that is not declared',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev:
          volumes:
            cache: { named: true }
    `,
    line: 9,
    column: 7,
    keyPath: 'environments.dev.volumes.cache',
    message: 'override for undeclared volume "cache"',
    fix: 'use one of: data',
  },
  {
    name: 'volumeBacking host without a hostRoot',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev: {}
        prod:
          volumeBacking: host
    `,
    line: 9,
    column: 20,
    keyPath: 'environments.prod.volumeBacking',
    message: 'volumeBacking host needs hostRoot',
    fix: 'add hostRoot:',
  },
  {
    name: 'a secret file that group and others could read (0644)',
    yaml: yamlText`
      app: shop
      volumes:
        data:
          files:
            - path: secrets.env
              secret: true
              mode: "0644"
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev: {}
    `,
    line: 7,
    column: 15,
    keyPath: 'volumes.data.files[0].mode',
    message: 'secret file "secrets.env" would be readable by group or others (0644)',
    fix: '"0600"',
  },
  {
    name: 'pg_dump without "service" when two services mount the volume',
    yaml: yamlText`
      app: shop
      volumes:
        db:
          backup:
            method: pg_dump
            database: shop
      services:
        postgres: { image: postgres:15, mounts: [db:/var/lib/postgresql/data] }
        pgadmin: { image: pgadmin:8, mounts: [db:/pgdata:ro] }
      environments:
        dev: {}
    `,
    line: 5,
    column: 7,
    keyPath: 'volumes.db.backup',
    message: 'method pg_dump needs the service whose container runs the dump',
    fix: 'services mounting "db": postgres, pgadmin',
  },
  {
    name: 'method sqlite without the database files',
    yaml: yamlText`
      app: shop
      volumes:
        data:
          backup:
            method: sqlite
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev: {}
    `,
    line: 5,
    column: 7,
    keyPath: 'volumes.data.backup',
    message: 'method sqlite needs the database files',
    fix: 'databases: [database.sqlite]',
  },
  {
    name: 'a backups.maxAge written out in words',
    yaml: yamlText`
      app: shop
      backups:
        maxAge: 26 hours
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev: {}
    `,
    line: 3,
    column: 11,
    keyPath: 'backups.maxAge',
    message: '"26 hours" must match',
    fix: 'e.g. 26h, 2d',
  },
  {
    name: 'a relative bind in an environment that runs on another host (ssh://)',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        prod:
          engine: ssh://deploy@shop.example.org
          volumes:
            data: { bind: ./data }
        dev: {}
    `,
    line: 10,
    column: 21,
    keyPath: 'environments.prod.volumes.data.bind',
    message: 'bind "./data" is relative to this checkout, but environment "prod" runs on ssh://deploy@shop.example.org',
    fix: 'write the absolute path on that host, e.g. bind: /srv/<app>/data',
  },
  {
    name: 'an engine address that is not one (a bare host name)',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev:
          engine: shop.example.org
    `,
    line: 8,
    column: 13,
    keyPath: 'environments.dev.engine',
    message: '"shop.example.org" is not an engine address',
    fix: 'write ssh://user@host[:port], tcp://host:port or unix:///path/to/docker.sock',
  },
  {
    name: 'an ssh engine with a password in it',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev:
          engine: ssh://deploy:hunter2@shop.example.org
    `,
    line: 8,
    column: 13,
    keyPath: 'environments.dev.engine',
    message: 'the address carries a password (ssh://deploy:***@shop.example.org)',
    fix: 'use an SSH key',
  },
  {
    name: 'a tcp:// engine without TLS',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev:
          engine: tcp://shop.example.org:2375
    `,
    line: 8,
    column: 13,
    keyPath: 'environments.dev.engine',
    message: 'tcp://shop.example.org:2375 without TLS: anyone who reaches that port is root on the engine\'s host',
    fix: 'add engineTls: { certPath:',
  },
  {
    name: 'TLS settings for an ssh:// engine',
    yaml: yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev:
          engine: ssh://deploy@shop.example.org
          engineTls: { certPath: /etc/shop/certs }
    `,
    line: 9,
    column: 5,
    keyPath: 'environments.dev.engineTls',
    message: 'engineTls applies to a tcp:// engine only, not to ssh://deploy@shop.example.org',
    fix: 'remove engineTls',
  },
];

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Renders shop-dev from a stacks directory holding only `shop.yaml`, into a directory that does not exist yet. */
async function renderBroken(yaml: string): Promise<{ code: number; stdout: string; stderr: string; file: string; out: string }> {
  const stacksDir = temp.stacksDir({ 'shop.yaml': yaml });
  const out = join(temp.make(), 'compose');
  const result = await runScript('compose', ['--stacks-dir', stacksDir, '--stack', 'shop-dev', '--out', out]);
  return { ...result, file: join(stacksDir, 'shop.yaml'), out };
}

describe('compose.mjs refuses a broken stack file with exit code 2', () => {
  test('the cases below are distinct files', () => {
    expect(new Set(cases.map((c) => c.yaml)).size).toBe(cases.length);
    expect(cases.length).toBeGreaterThanOrEqual(18);
  });

  test.concurrent.each(cases)('$name', async (c) => {
    const { code, stdout, stderr, file, out } = await renderBroken(c.yaml);

    expect(code).toBe(2);
    expect(stdout).toBe('');
    const issueLine = new RegExp(`^${escapeRegExp(`${file}:${c.line}:${c.column}: ${c.keyPath}: ${c.message}`)}`, 'm');
    expect(stderr).toMatch(issueLine);
    expect(stderr).toMatch(/^ {2}fix: \S/m);
    if (c.fix !== undefined) expect(stderr).toContain(c.fix);
    expect(existsSync(out)).toBe(false);
  });
});

describe('every problem in a file is reported at once', () => {
  test('schema problems in different places are all listed, each with its own line', async () => {
    const yaml = yamlText`
      app: shop
      volumes:
        data:
          backup: { method: rsync }
      services:
        web:
          image: shop/web:1
          mounts: data:/data
          restart: sometimes
          mountz: []
      environments:
        dev:
          volumeBacking: hosted
    `;
    const { code, stderr, file } = await renderBroken(yaml);

    expect(code).toBe(2);
    const locations = [...stderr.matchAll(new RegExp(`^${escapeRegExp(file)}:(\\d+):\\d+: (\\S+):`, 'gm'))].map((m) => `${m[1]} ${m[2]}`);
    expect(locations.sort()).toEqual(
      [
        '4 volumes.data.backup.method',
        '8 services.web.mounts',
        '9 services.web.restart',
        '10 services.web.mountz',
        '13 environments.dev.volumeBacking',
      ].sort(),
    );
  });

  test('reference and safety problems in different places are all listed', async () => {
    const yaml = yamlText`
      app: shop
      volumes:
        data:
          owner: www-data
      services:
        web:
          image: shop/web:1
          mounts: [data:/data, logs:/logs]
          dependsOn: [db]
      environments:
        dev:
          hostRoot: ../srv
    `;
    const { code, stderr, file } = await renderBroken(yaml);

    expect(code).toBe(2);
    const locations = [...stderr.matchAll(new RegExp(`^${escapeRegExp(file)}:(\\d+):\\d+: (\\S+):`, 'gm'))].map((m) => `${m[1]} ${m[2]}`);
    expect(locations.sort()).toEqual(
      ['4 volumes.data.owner', '8 services.web.mounts[1]', '9 services.web.dependsOn[0]', '12 environments.dev.hostRoot'].sort(),
    );
  });
});

describe('parseStackText reports structured issues', () => {
  function issuesOf(text: string): StackIssue[] {
    try {
      parseStackText(text, 'stacks/shop.yaml');
    } catch (err) {
      if (err instanceof StackFileError) return err.issues;
      throw err;
    }
    throw new Error('expected parseStackText to throw a StackFileError');
  }

  test('an unknown nested key points at the key itself', () => {
    const issues = issuesOf(yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web:
          image: shop/web:1
          mountz: [data:/data]
      environments:
        dev: {}
    `);

    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({
      file: 'stacks/shop.yaml',
      position: { line: 7, column: 5 },
      keyPath: 'services.web.mountz',
      message: 'unknown key "mountz"',
    });
    expect(issues[0]?.fix).toContain('mounts');
  });

  test('a second SQLite writer points at the second mount', () => {
    const issues = issuesOf(yamlText`
      app: shop
      volumes:
        data:
          backup: { method: sqlite, databases: [shop.sqlite] }
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
        worker:
          image: shop/worker:1
          mounts:
            - data:/data
      environments:
        dev: {}
    `);

    expect(issues).toEqual([
      {
        file: 'stacks/shop.yaml',
        position: { line: 10, column: 9 },
        keyPath: 'services.worker.mounts[0]',
        message: 'SQLite volume "data" has more than one writer (web, worker)',
        fix: expect.stringContaining('read-only'),
      },
    ]);
  });

  test('a SQLite volume with one writer and read-only readers is accepted', () => {
    const stack = parseStackText(
      yamlText`
        app: shop
        volumes:
          data:
            backup: { method: sqlite, databases: [shop.sqlite] }
        services:
          web: { image: shop/web:1, mounts: [data:/data] }
          report: { image: shop/report:1, mounts: ["data:/data:ro"] }
        environments:
          dev: {}
      `,
      'stacks/shop.yaml',
    );

    expect(Object.keys(stack.services)).toEqual(['web', 'report']);
  });

  test('a duplicate key names the repeated key and where it repeats', () => {
    const issues = issuesOf('app: shop\napp: shop2\nvolumes: {}\nservices: { web: { image: a } }\nenvironments: { dev: {} }\n');

    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ position: { line: 2, column: 1 }, keyPath: 'app', message: expect.stringContaining('duplicate key "app"') });
  });
});
