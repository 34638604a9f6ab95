// The policy rules as the lint for Compose users applies them: over the model
// resolved from a stack file. One passing and one failing case per rule; the
// fixture passes every rule, and each failing case changes one thing.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { resolveModel } from '../../src/config/model.js';
import type { StackFile } from '../../src/config/types.js';
import { lintModel } from '../../src/policy/lint.js';
import { factsFromModel } from '../../src/policy/from-model.js';
import { RULES } from '../../src/policy/rules.js';
import { environmentsApart } from '../../src/policy/stack-rules.js';
import type { Violation } from '../../src/policy/types.js';
import { repoRoot } from '../helpers/run.js';
import { AGE_RECIPIENT, cleanStack } from './fixtures.js';

function lint(stack: StackFile, env = 'prod'): Violation[] {
  return lintModel(resolveModel(stack, env, { stackFile: '/srv/checkout/stacks/shop.yaml' }), stack);
}

/** The violations of one rule, as `<kind> <name>` of the objects they name. */
function flagged(stack: StackFile, rule: string, env = 'prod'): string[] {
  return lint(stack, env)
    .filter((v) => v.rule === rule)
    .map((v) => `${v.object.kind} ${v.object.name}`);
}

function edit(change: (stack: StackFile) => void): StackFile {
  const stack = cleanStack();
  change(stack);
  return stack;
}

function service(stack: StackFile, name: string): NonNullable<StackFile['services'][string]> {
  const found = stack.services[name];
  if (found === undefined) throw new Error(`fixture has no service ${name}`);
  return found;
}

function volume(stack: StackFile, name: string): NonNullable<StackFile['volumes'][string]> {
  const found = stack.volumes[name];
  if (found === undefined) throw new Error(`fixture has no volume ${name}`);
  return found;
}

describe('the fixture', () => {
  test('passes every rule in production', () => {
    expect(lint(cleanStack(), 'prod')).toEqual([]);
  });

  test('passes every rule in development', () => {
    expect(lint(cleanStack(), 'dev')).toEqual([]);
  });
});

describe('state-on-volume', () => {
  test('passes when every state path is at or below a mounted volume', () => {
    const stack = edit((s) => (service(s, 'web').statePaths = ['/data', '/data/uploads']));
    expect(flagged(stack, 'state-on-volume')).toEqual([]);
  });

  test('flags a state path no volume is mounted at, naming the container', () => {
    const stack = edit((s) => (service(s, 'web').statePaths = ['/data', '/var/cache/shop']));
    const [violation] = lint(stack).filter((v) => v.rule === 'state-on-volume');
    expect(violation?.object).toEqual({ kind: 'container', name: 'shop-web' });
    expect(violation?.message).toContain('/var/cache/shop');
    expect(violation?.fix).toContain('mount a declared volume at /var/cache/shop');
  });
});

describe('image-pinned', () => {
  test('passes an exact version tag and a digest in production', () => {
    const stack = edit((s) => (service(s, 'worker').image = `shop/worker@sha256:${'a'.repeat(64)}`));
    expect(flagged(stack, 'image-pinned')).toEqual([]);
  });

  test.each([
    ['no tag', 'shop/web'],
    ['latest', 'shop/web:latest'],
    ['a channel', 'shop/web:stable'],
    ['a registry port but no tag', 'registry.local:5000/shop/web'],
  ])('flags a production image with %s', (_what, image) => {
    const stack = edit((s) => (service(s, 'web').image = image));
    expect(flagged(stack, 'image-pinned')).toEqual([`image ${image}`]);
  });

  test('leaves development images alone', () => {
    const stack = edit((s) => (service(s, 'web').image = 'shop/web:latest'));
    expect(flagged(stack, 'image-pinned', 'dev')).toEqual([]);
  });

  test('an environment override is what production runs', () => {
    const stack = edit((s) => {
      const prod = s.environments['prod'];
      if (prod !== undefined) prod.services = { web: { image: 'shop/web:latest' } };
    });
    expect(flagged(stack, 'image-pinned')).toEqual(['image shop/web:latest']);
  });
});

describe('prod-volume-host-backed', () => {
  test('passes host-backed, bind-mounted and NFS volumes in production', () => {
    const stack = edit((s) => {
      s.environments['prod'] = {
        hostRoot: '/srv/shop',
        volumeBacking: 'bind',
        volumes: { logs: { nfs: { server: 'nas.local', path: '/export/shop-logs' } } },
      };
    });
    expect(flagged(stack, 'prod-volume-host-backed')).toEqual([]);
  });

  test('flags Docker-managed named volumes in production', () => {
    const stack = edit((s) => (s.environments['prod'] = { volumes: { data: { host: '/srv/shop/data' } } }));
    expect(flagged(stack, 'prod-volume-host-backed')).toEqual(['volume shop_logs']);
  });

  test('leaves named volumes in development alone', () => {
    expect(flagged(cleanStack(), 'prod-volume-host-backed', 'dev')).toEqual([]);
  });
});

describe('prod-volume-host-root (advisory)', () => {
  test('passes host directories under hostRoot', () => {
    expect(flagged(cleanStack(), 'prod-volume-host-root')).toEqual([]);
  });

  test('flags a host directory outside hostRoot, as advisory', () => {
    const stack = edit((s) => {
      const prod = s.environments['prod'];
      if (prod !== undefined) prod.volumes = { logs: { host: '/var/log/shop' } };
    });
    const violations = lint(stack).filter((v) => v.rule === 'prod-volume-host-root');
    expect(violations.map((v) => [v.severity, v.object.name, v.message])).toEqual([
      ['advisory', 'shop_logs', 'production volume shop_logs lives in /var/log/shop, outside hostRoot /srv/shop'],
    ]);
  });

  test('a sibling directory with the same prefix is not under hostRoot', () => {
    const stack = edit((s) => {
      const prod = s.environments['prod'];
      if (prod !== undefined) prod.volumes = { logs: { host: '/srv/shop-logs' } };
    });
    expect(flagged(stack, 'prod-volume-host-root')).toEqual(['volume shop_logs']);
  });
});

describe('sqlite-single-writer', () => {
  test('passes a SQLite volume that other services mount read-only', () => {
    const stack = edit((s) => {
      service(s, 'worker').mounts = ['logs:/logs', 'data:/data:ro'];
      // The worker may read the database; secret files would then be shared, so keep them elsewhere.
      volume(s, 'data').files = [];
    });
    expect(flagged(stack, 'sqlite-single-writer')).toEqual([]);
  });

  test('flags a second service writing the SQLite volume', () => {
    const stack = edit((s) => (service(s, 'worker').mounts = ['logs:/logs', 'data:/data']));
    const [violation] = lint(stack).filter((v) => v.rule === 'sqlite-single-writer');
    expect(violation?.object).toEqual({ kind: 'volume', name: 'shop_data' });
    expect(violation?.message).toContain('shop-web, shop-worker');
  });

  test('flags two replicas of the writing service', () => {
    const stack = edit((s) => (service(s, 'web').replicas = 2));
    expect(flagged(stack, 'sqlite-single-writer')).toEqual(['volume shop_data']);
  });
});

describe('secret-file-mode', () => {
  test.each(['0600', '0400'])('passes a secret file with mode %s', (mode) => {
    const stack = edit((s) => (volume(s, 'data').files = [{ path: 'secrets.env', mode, secret: true }]));
    expect(flagged(stack, 'secret-file-mode')).toEqual([]);
  });

  test.each(['0640', '0700', '0644'])('flags a secret file with mode %s', (mode) => {
    const stack = edit((s) => (volume(s, 'data').files = [{ path: 'secrets.env', mode, secret: true }]));
    const [violation] = lint(stack).filter((v) => v.rule === 'secret-file-mode');
    expect(violation?.object).toEqual({ kind: 'volume', name: 'shop_data' });
    expect(violation?.fix).toContain('volumes.data.files[0].mode: "0600"');
  });

  test('flags a secret file without a mode', () => {
    const stack = edit((s) => (volume(s, 'data').files = [{ path: 'secrets.env', secret: true }]));
    expect(flagged(stack, 'secret-file-mode')).toEqual(['volume shop_data']);
  });

  test('leaves files that are not secret alone', () => {
    const stack = edit((s) => (volume(s, 'data').files = [{ path: 'db.sqlite', mode: '0644' }]));
    expect(flagged(stack, 'secret-file-mode')).toEqual([]);
  });
});

describe('secret-file-unshared', () => {
  test('passes a secret file on a volume one service mounts', () => {
    expect(flagged(cleanStack(), 'secret-file-unshared')).toEqual([]);
  });

  test('flags a secret file on a volume a second service mounts, even read-only', () => {
    const stack = edit((s) => (service(s, 'worker').mounts = ['logs:/logs', 'data:/data:ro']));
    const [violation] = lint(stack).filter((v) => v.rule === 'secret-file-unshared');
    expect(violation?.object).toEqual({ kind: 'volume', name: 'shop_data' });
    expect(violation?.message).toContain('(web, worker)');
  });
});

describe('backup-declared', () => {
  test('passes method none with a reason', () => {
    const stack = edit((s) => (volume(s, 'logs').backup = { method: 'none', reason: 'rotated daily; nothing to restore' }));
    expect(flagged(stack, 'backup-declared')).toEqual([]);
  });

  test('passes a volume without a backup key: tar is the default method', () => {
    const stack = edit((s) => delete volume(s, 'logs').backup);
    expect(flagged(stack, 'backup-declared')).toEqual([]);
  });

  test('flags method none without a reason', () => {
    const stack = edit((s) => (volume(s, 'logs').backup = { method: 'none' }));
    const [violation] = lint(stack).filter((v) => v.rule === 'backup-declared');
    expect(violation?.object).toEqual({ kind: 'volume', name: 'shop_logs' });
    expect(violation?.fix).toContain('volumes.logs.backup: {method: none, reason: "..."}');
  });
});

describe('restart-policy', () => {
  test('passes on-failure, for one-shot jobs', () => {
    const stack = edit((s) => (service(s, 'worker').restart = 'on-failure'));
    expect(flagged(stack, 'restart-policy')).toEqual([]);
  });

  test('flags restart "no" on a service, naming the key to change', () => {
    const stack = edit((s) => (service(s, 'worker').restart = 'no'));
    const [violation] = lint(stack).filter((v) => v.rule === 'restart-policy');
    expect(violation?.object).toEqual({ kind: 'container', name: 'shop-worker' });
    expect(violation?.fix).toContain('set services.worker.restart to unless-stopped');
  });

  test('flags restart "no" set by an environment override, naming the override', () => {
    const stack = edit((s) => {
      const prod = s.environments['prod'];
      if (prod !== undefined) prod.services = { worker: { restart: 'no' } };
    });
    const [violation] = lint(stack).filter((v) => v.rule === 'restart-policy');
    expect(violation?.fix).toContain('set environments.prod.services.worker.restart to unless-stopped');
    expect(flagged(stack, 'restart-policy', 'dev')).toEqual([]);
  });
});

describe('privileged-declared, host-network-declared, docker-socket-declared', () => {
  test('pass privileges declared with a reason', () => {
    const stack = edit((s) => {
      service(s, 'worker').privileged = { reason: 'manages loop devices for disk images' };
      service(s, 'worker').hostNetwork = { reason: 'answers mDNS on the LAN' };
    });
    expect(lint(stack).filter((v) => v.rule.endsWith('-declared') && v.rule !== 'backup-declared')).toEqual([]);
  });

  test.each([
    ['privileged-declared', 'privileged'],
    ['host-network-declared', 'hostNetwork'],
  ] as const)('%s flags a blank reason', (rule, key) => {
    const stack = edit((s) => (service(s, 'worker')[key] = { reason: '  ' }));
    expect(flagged(stack, rule)).toEqual(['container shop-worker']);
  });

  test('docker-socket-declared flags a volume bind-mounting the Docker socket without a declaration', () => {
    const stack = edit((s) => {
      s.volumes['engine'] = { backup: { method: 'none', reason: 'the engine socket' } };
      service(s, 'worker').mounts = ['logs:/logs', 'engine:/var/run/docker.sock'];
      const dev = s.environments['dev'];
      if (dev !== undefined) dev.volumes = { engine: { bind: '/var/run/docker.sock' } };
    });
    const [violation] = lint(stack, 'dev').filter((v) => v.rule === 'docker-socket-declared');
    expect(violation?.object).toEqual({ kind: 'container', name: 'shop-dev-worker' });
    expect(violation?.fix).toContain('services.worker.dockerSocket: {reason: "..."}');
  });

  test('docker-socket-declared passes the same mount declared with a reason', () => {
    const stack = edit((s) => {
      s.volumes['engine'] = { backup: { method: 'none', reason: 'the engine socket' } };
      service(s, 'worker').mounts = ['logs:/logs', 'engine:/var/run/docker.sock'];
      service(s, 'worker').dockerSocket = { reason: 'restarts the web container after certificate renewals' };
      const dev = s.environments['dev'];
      if (dev !== undefined) dev.volumes = { engine: { bind: '/var/run/docker.sock' } };
    });
    expect(flagged(stack, 'docker-socket-declared', 'dev')).toEqual([]);
  });
});

describe('backups-encrypted (advisory)', () => {
  test('passes production backups with a recipient', () => {
    expect(flagged(cleanStack(), 'backups-encrypted')).toEqual([]);
  });

  test('flags production backups without recipients, as advisory', () => {
    const stack = edit((s) => delete s.backups);
    expect(lint(stack).filter((v) => v.rule === 'backups-encrypted').map((v) => [v.severity, v.object])).toEqual([
      ['advisory', { kind: 'stack', name: 'shop-prod' }],
    ]);
  });

  test('leaves development backups alone', () => {
    const stack = edit((s) => delete s.backups);
    expect(flagged(stack, 'backups-encrypted', 'dev')).toEqual([]);
  });
});

describe('environments-apart (advisory)', () => {
  const sharedProject = (): StackFile => edit((s) => (s.environments['dev'] = {}));

  test('passes environments with project names of their own', () => {
    expect(flagged(cleanStack(), 'environments-apart', 'prod')).toEqual([]);
    expect(flagged(cleanStack(), 'environments-apart', 'dev')).toEqual([]);
  });

  test('flags each of two environments that share a project name and no engine, as advisory', () => {
    const stack = sharedProject();
    expect(lint(stack, 'prod').filter((v) => v.rule === 'environments-apart').map((v) => [v.severity, v.object])).toEqual([
      ['advisory', { kind: 'stack', name: 'shop-prod' }],
    ]);
    expect(flagged(stack, 'environments-apart', 'dev')).toEqual(['stack shop-dev']);
  });

  test('says what would meet and how to keep the environments apart', () => {
    const [violation] = lint(sharedProject(), 'prod').filter((v) => v.rule === 'environments-apart');
    expect(violation?.message).toContain('shop-prod deploys under project shop, as environment dev does, and no engine tells them apart');
    expect(violation?.message).toContain("every container (shop-<service>) and Docker volume (shop_<volume>), and the second deploy takes over the first one's data");
    expect(violation?.fix).toContain('environments.prod.project: shop-prod');
  });

  test('passes environments bound to different engines, flags ones where an engine is left open', () => {
    const facts = factsFromModel(resolveModel(sharedProject(), 'prod', { stackFile: '/srv/checkout/stacks/shop.yaml' }), sharedProject());
    const placed = (dev: string | undefined, prod: string | undefined): number =>
      environmentsApart.check({ ...facts, environments: [{ env: 'dev', project: 'shop', engine: dev }, { env: 'prod', project: 'shop', engine: prod }] }).length;
    expect(placed('ssh://deploy@dev.example', 'ssh://deploy@prod.example')).toBe(0);
    expect(placed(undefined, 'ssh://deploy@prod.example')).toBe(1);
    expect(placed('unix:///var/run/docker.sock', 'unix:///var/run/docker.sock')).toBe(1);
  });

  test("reads the engines from the stack file's environments.<env>.engine", () => {
    const apart = edit((s) => {
      s.environments['dev'] = { engine: 'ssh://deploy@dev.example' };
      const prod = s.environments['prod'];
      if (prod !== undefined) {
        delete prod.project;
        prod.engine = 'ssh://deploy@prod.example';
      }
    });
    expect(flagged(apart, 'environments-apart', 'prod')).toEqual([]);
    expect(flagged(apart, 'environments-apart', 'dev')).toEqual([]);
  });
});

describe('the rule set', () => {
  test('ids are unique and every rule says what it requires', () => {
    expect(new Set(RULES.map((r) => r.id)).size).toBe(RULES.length);
    for (const rule of RULES) expect(rule.description.length).toBeGreaterThan(20);
  });

  test('only backups-encrypted, prod-volume-host-root and environments-apart are advisory', () => {
    expect(RULES.filter((r) => r.severity === 'advisory').map((r) => r.id)).toEqual(['prod-volume-host-root', 'backups-encrypted', 'environments-apart']);
  });

  test('docs/policies.md explains every rule under a heading that is its id', () => {
    const docs = readFileSync(join(repoRoot, 'docs/policies.md'), 'utf8');
    const headings = [...docs.matchAll(/^### (\S+)$/gm)].map((m) => m[1]);
    expect(headings).toEqual(RULES.map((r) => r.id));
  });

  test('the age recipient of the fixture is one the stack schema accepts', () => {
    expect(AGE_RECIPIENT).toMatch(/^age1[0-9a-z]+$/);
  });
});
