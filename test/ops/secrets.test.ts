// secrets.mjs init | rotate | check: which file a stack's secrets live in, and
// what each subcommand does to it on the real engine. The file is created once
// and never overwritten, rotated with a copy kept next to it, checked without
// printing anything secret; no value ever reaches stdout or stderr.
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/config/errors.js';
import { selectStack } from '../../src/config/select.js';
import { INSTALL_SCRIPT, expectedOwner, keysToRotate, reportOn, selectSecretTarget } from '../../src/ops/secrets.js';
import { envValues, parseEnvFile } from '../../src/ops/secrets-file.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';
import {
  BUSYBOX,
  IDLE_COMMAND,
  Sandbox,
  containerState,
  createVolume,
  exec,
  inVolume,
  parseJsonDocument,
  repoRoot,
  runService,
  show,
  uniqueProject,
  type RunResult,
} from '../helpers/engine.js';

const repoStacks = join(repoRoot, 'stacks');

describe('choosing the secret file', () => {
  const temp = new TempDirs();
  afterAll(() => temp.removeAll());

  function model(yaml: string) {
    return selectStack('shop-dev', temp.stacksDir({ 'shop.yaml': yaml })).model;
  }

  it('finds pim\'s data/secrets.env from its file rule with secret: true', () => {
    const pim = selectStack('pim-prod', repoStacks).model;
    const target = selectSecretTarget(pim, {});
    expect([target.volume.key, target.rule.path, target.env]).toEqual(['data', 'secrets.env', true]);
    expect(target.rule.mode).toBe(0o600);
  });

  it('finds digidig\'s identity key but treats a PEM file as opaque', () => {
    const target = selectSecretTarget(selectStack('digidig-dev', repoStacks).model, {});
    expect([target.volume.key, target.rule.path, target.env]).toEqual(['identity_data', 'jwt_private.pem', false]);
  });

  it('refuses a stack without any secret file rule, saying how to declare one', () => {
    const shop = model(yamlText`
      app: shop
      volumes:
        data: {}
      services:
        web: { image: shop/web:1, mounts: [data:/data] }
      environments:
        dev: {}
    `);
    expect(() => selectSecretTarget(shop, {})).toThrow(UsageError);
    expect(() => selectSecretTarget(shop, {})).toThrow(/declares no secret file.*secret: true/);
  });

  const twoFiles = yamlText`
    app: shop
    volumes:
      data:
        files:
          - { path: secrets.env, secret: true }
          - { path: other.env, secret: true }
          - { path: public.txt }
      keys:
        files:
          - { path: signing.pem, secret: true }
    services:
      web: { image: shop/web:1, user: "1000", mounts: [data:/data, keys:/keys] }
    environments:
      dev: {}
  `;

  it('asks to choose with --volume and --file when there are several, listing them', () => {
    const shop = model(twoFiles);
    expect(() => selectSecretTarget(shop, {})).toThrow(/3 secret files; choose one with --volume data --file secrets.env; --volume data --file other.env; --volume keys --file signing.pem/);
    expect(() => selectSecretTarget(shop, { volume: 'data' })).toThrow(/2 secret files/);
    expect(selectSecretTarget(shop, { volume: 'keys' }).rule.path).toBe('signing.pem');
    expect(selectSecretTarget(shop, { volume: 'data', file: 'other.env' }).label).toBe('data/other.env');
    expect(selectSecretTarget(shop, { file: './secrets.env' }).label).toBe('data/secrets.env');
  });

  it('refuses a selection that matches nothing, naming what exists', () => {
    const shop = model(twoFiles);
    expect(() => selectSecretTarget(shop, { volume: 'nope' })).toThrow(/no volume "nope"/);
    expect(() => selectSecretTarget(shop, { file: 'public.txt' })).toThrow(/no secret file matching --file public.txt; its secret files: /);
  });

  it('takes the owner from the file rule, then the volume, then the one numeric service user', () => {
    const pim = selectStack('pim-prod', repoStacks).model;
    expect(expectedOwner(pim, selectSecretTarget(pim, {}))).toEqual({ owner: { uid: 1000, gid: 1000 }, source: 'file rule' });
    const shop = model(twoFiles);
    expect(expectedOwner(shop, selectSecretTarget(shop, { volume: 'keys' }))).toEqual({ owner: { uid: 1000, gid: 1000 }, source: 'user of service web' });
  });

  it('knows no owner when services disagree or run as a named user', () => {
    const shop = model(yamlText`
      app: shop
      volumes:
        data:
          files: [{ path: secrets.env, secret: true }]
      services:
        web: { image: shop/web:1, user: "1000:1000", mounts: [data:/data] }
        worker: { image: shop/web:1, user: "app", mounts: [data:/data] }
      environments:
        dev: {}
    `);
    expect(expectedOwner(shop, selectSecretTarget(shop, {}))).toBeUndefined();
  });
});

describe('which keys a rotation changes', () => {
  it('rotates every key by default, which needs --force-encryption-key', () => {
    expect(() => keysToRotate([], false)).toThrow(UsageError);
    expect(() => keysToRotate([], false)).toThrow(/refusing to rotate ENCRYPTION_KEY: .*unreadable.*--force-encryption-key.*--key JWT_SECRET/);
    expect(keysToRotate([], true).map((k) => k.name)).toEqual(['JWT_SECRET', 'ENCRYPTION_KEY']);
  });

  it('rotates only the keys asked for, once each', () => {
    expect(keysToRotate(['JWT_SECRET', 'JWT_SECRET'], false).map((k) => k.name)).toEqual(['JWT_SECRET']);
    expect(() => keysToRotate(['ENCRYPTION_KEY'], false)).toThrow(/refusing/);
  });

  it('refuses keys it does not manage', () => {
    expect(() => keysToRotate(['DB_PASSWORD'], true)).toThrow(/--key DB_PASSWORD: unknown key; stowage manages JWT_SECRET, ENCRYPTION_KEY/);
  });
});

describe('check reports', () => {
  const pim = selectStack('pim-prod', repoStacks).model;
  const target = selectSecretTarget(pim, {});
  const file = (content: string, mode = 0o600, uid = 1000) =>
    ({ state: 'present', type: 'file', mode, uid, gid: uid, size: content.length, content: Buffer.from(content) }) as const;

  it('says a missing file is a problem and how to create or restore it', () => {
    const report = reportOn(pim, target, { state: 'missing' });
    expect([report.ok, report.exists]).toEqual([false, false]);
    expect(report.problems[0]?.message).toMatch(/data\/secrets.env is missing; create it with secrets.mjs init --stack pim-prod, or restore it/);
  });

  it('collects file and key problems into one list and never includes values', () => {
    const report = reportOn(pim, target, file('JWT_SECRET=password1\n', 0o644, 0));
    expect(report.ok).toBe(false);
    expect(report.problems.map((p) => p.code)).toEqual(['unsafe-mode', 'wrong-owner', 'placeholder', 'too-short', 'low-variety', 'missing-key']);
    expect(report.problems.find((p) => p.code === 'unsafe-mode')?.message).toContain('fix-permissions.mjs --stack pim-prod --volume data');
    expect(JSON.stringify(report)).not.toContain('password1');
  });

  it('checks only type, mode and owner of an opaque file', () => {
    const digidig = selectStack('digidig-dev', repoStacks).model;
    const pem = selectSecretTarget(digidig, {});
    const report = reportOn(digidig, pem, file('-----BEGIN PRIVATE KEY-----\n'));
    expect([report.ok, report.format, report.keys]).toEqual([true, 'opaque', []]);
  });
});

// ---------------------------------------------------------------- on the engine

const sb = new Sandbox(uniqueProject('sec'));
const data = sb.volume('data');
const other = sb.volume('other');
const backend = sb.container('backend');
const runs: RunResult[] = [];
let bindDir: string;

async function secrets(args: string[], volume = 'data'): Promise<RunResult> {
  const r = await exec('npx', ['zx', 'scripts/secrets.mjs', ...args, '--stack', sb.stack, '--stacks-dir', sb.stacksDir, '--volume', volume], { env: { NO_COLOR: '1' } });
  runs.push(r);
  return r;
}

const read = (volume: string, path: string): Promise<string> => inVolume(volume, 'cat "/d/$1"', path);
const stat = async (volume: string, path: string): Promise<string> => (await inVolume(volume, 'stat -c "%a %u:%g" "/d/$1"', path)).trim();
const listing = async (volume: string): Promise<string[]> => (await inVolume(volume, 'ls -A /d')).split('\n').filter((l) => l !== '');
const sha = async (volume: string, path: string): Promise<string> => (await inVolume(volume, 'sha256sum "/d/$1"', path)).split(' ')[0] ?? '';
const valuesIn = async (volume: string, path: string): Promise<Map<string, string>> => envValues(parseEnvFile(await read(volume, path)));

beforeAll(async () => {
  bindDir = join(sb.root, 'bind-data');
  mkdirSync(bindDir);
  sb.writeStack(`app: ${sb.project}
helper: { image: ${BUSYBOX} }
volumes:
  data:
    owner: "1000:1000"
    files:
      - { path: secrets.env, mode: "0600", owner: "1000:1000", secret: true }
  other:
    files:
      - { path: app.env, secret: true }
  files:
    files:
      - { path: secrets.env, mode: "0600", owner: "1000:1000", secret: true }
services:
  backend:
    image: ${BUSYBOX}
    user: "1000:1000"
    command: ${JSON.stringify(IDLE_COMMAND)}
    mounts: [data:/data, other:/other, files:/files]
environments:
  dev:
    volumes:
      files: { bind: ${bindDir} }
`);
  await createVolume(sb.project, 'data');
  await createVolume(sb.project, 'other');
  await runService(sb.project, 'backend', { mounts: [['data', '/data'], ['other', '/other']], user: '1000:1000' });
});

afterAll(async () => {
  await sb.cleanup();
});

describe('secrets.mjs on the engine', () => {
  it('check before init: exit 3, the file is missing', async () => {
    const r = await secrets(['check']);
    expect(r.code, show(r)).toBe(3);
    expect(r.stdout).toContain('data/secrets.env is missing; create it with secrets.mjs init');
  });

  it('refuses to rotate a file that does not exist: exit 1, nothing created', async () => {
    const r = await secrets(['rotate', '--key', 'JWT_SECRET', '--yes']);
    expect(r.code, show(r)).toBe(1);
    expect(r.stderr).toContain('there is nothing to rotate; create it with secrets.mjs init');
    expect(await listing(data)).toEqual([]);
  });

  it('init --dry-run prints the docker commands and writes nothing', async () => {
    const r = await secrets(['init', '--dry-run']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain(`docker cp --archive - ${sb.project}-stowage-helper-XXXX:/data`);
    expect(r.stdout).toContain("ln -- \"$2\" \"$3\"");
    expect(await listing(data)).toEqual([]);
  });

  it('init creates secrets.env, mode 0600, owned by 1000:1000, with strong JWT_SECRET and ENCRYPTION_KEY', async () => {
    const r = await secrets(['init']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('created data/secrets.env (mode 0600, owner 1000:1000) with JWT_SECRET, ENCRYPTION_KEY');
    expect(await stat(data, 'secrets.env')).toBe('600 1000:1000');
    const values = await valuesIn(data, 'secrets.env');
    expect([...values.keys()]).toEqual(['JWT_SECRET', 'ENCRYPTION_KEY']);
    for (const value of values.values()) expect(value).toMatch(/^[0-9a-f]{64}$/);
    expect(values.get('JWT_SECRET')).not.toBe(values.get('ENCRYPTION_KEY'));
    // No temporary file is left behind.
    expect(await listing(data)).toEqual(['secrets.env']);
    // The backend, running as 1000, can read it.
    expect((await exec('docker', ['exec', backend, 'sh', '-c', 'test -r /data/secrets.env && echo readable'])).stdout.trim()).toBe('readable');
  });

  it('a second init leaves the file untouched and exits 0', async () => {
    const before = await sha(data, 'secrets.env');
    const r = await secrets(['init', '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(parseJsonDocument<{ outcome: string }>(r.stdout).outcome).toBe('exists');
    expect(await sha(data, 'secrets.env')).toBe(before);
    expect(await listing(data)).toEqual(['secrets.env']);
  });

  it('the install step never overwrites a file that appeared after the check (the backend wrote its own)', async () => {
    const before = await sha(data, 'secrets.env');
    await inVolume(data, 'printf "JWT_SECRET=x\\n" > /d/.secrets.env.stowage-race.tmp');
    const r = await exec('docker', ['run', '--rm', '--network', 'none', '-v', `${data}:/data`, BUSYBOX, 'sh', '-c', INSTALL_SCRIPT, 'stowage', '/data', '.secrets.env.stowage-race.tmp', 'secrets.env']);
    expect(r.code, show(r)).toBe(17);
    expect(await sha(data, 'secrets.env')).toBe(before);
    expect(await listing(data)).toEqual(['secrets.env']);
  });

  it('check passes a fresh file: exit 0, one JSON document naming keys, not values', async () => {
    const r = await secrets(['check', '--json']);
    expect(r.code, show(r)).toBe(0);
    const report = parseJsonDocument<{ ok: boolean; mode: string; owner: string; keys: Array<{ name: string; ok: boolean }> }>(r.stdout);
    expect([report.ok, report.mode, report.owner]).toEqual([true, '0600', '1000:1000']);
    expect(report.keys.map((k) => [k.name, k.ok])).toEqual([['JWT_SECRET', true], ['ENCRYPTION_KEY', true]]);
  });

  it('check fails a weak file readable by others: exit 3, every problem named', async () => {
    await inVolume(other, 'printf "JWT_SECRET=hunter2hunter2\\nENCRYPTION_KEY=changeme-now-0000000000000000000000000\\n" > /d/app.env; chown 1000:1000 /d/app.env; chmod 0644 /d/app.env');
    const r = await secrets(['check'], 'other');
    expect(r.code, show(r)).toBe(3);
    expect(r.stdout).toContain('other/app.env (mode 0644, owner 1000:1000): 4 problem(s)');
    expect(r.stdout).toContain('has mode 0644: group or others may access it');
    expect(r.stdout).toContain('JWT_SECRET is 14 characters long; at least 32 are required');
    expect(r.stdout).toContain('ENCRYPTION_KEY looks like a placeholder');
    const json = await secrets(['check', '--json'], 'other');
    expect(json.code).toBe(3);
    expect(parseJsonDocument<{ problems: Array<{ code: string }> }>(json.stdout).problems.map((p) => p.code)).toEqual(['unsafe-mode', 'too-short', 'low-variety', 'placeholder']);
  });

  it('rotate without --yes and without a terminal refuses: exit 2, nothing changed', async () => {
    const before = await sha(data, 'secrets.env');
    const r = await secrets(['rotate', '--key', 'JWT_SECRET']);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('refusing without a terminal to confirm; pass --yes');
    expect(r.stderr).toContain('every user is logged out');
    expect(await sha(data, 'secrets.env')).toBe(before);
    expect(await listing(data)).toEqual(['secrets.env']);
  });

  it('rotate of every key without --force-encryption-key refuses: exit 2, explains, nothing changed', async () => {
    const before = await sha(data, 'secrets.env');
    const r = await secrets(['rotate', '--yes']);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('refusing to rotate ENCRYPTION_KEY');
    expect(r.stderr).toContain('unreadable');
    expect(await sha(data, 'secrets.env')).toBe(before);
  });

  it('rotate --dry-run prints the plan and changes nothing', async () => {
    const before = await sha(data, 'secrets.env');
    const r = await secrets(['rotate', '--key', 'JWT_SECRET', '--dry-run', '--restart']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('mv -f -- "$2" "$3"');
    expect(r.stdout).toContain(`docker restart --time 10 ${backend}`);
    expect(await sha(data, 'secrets.env')).toBe(before);
    expect(await listing(data)).toEqual(['secrets.env']);
  });

  it('rotate --key JWT_SECRET keeps a 0600 copy of the old file and changes only that value', async () => {
    const oldContent = await read(data, 'secrets.env');
    const old = envValues(parseEnvFile(oldContent));
    const r = await secrets(['rotate', '--key', 'JWT_SECRET', '--yes', '--json']);
    expect(r.code, show(r)).toBe(0);
    const result = parseJsonDocument<{ rotated: string[]; backupCopy: string; restartNeeded: string[]; effects: Array<{ key: string; effect: string }> }>(r.stdout);
    expect(result.rotated).toEqual(['JWT_SECRET']);
    expect(result.backupCopy).toMatch(/^secrets\.env\.\d{8}T\d{6}Z\.bak$/);
    expect(result.restartNeeded).toEqual([backend]);
    expect(result.effects[0]?.effect).toContain('log in again');

    expect(await read(data, result.backupCopy)).toBe(oldContent);
    expect(await stat(data, result.backupCopy)).toBe('600 1000:1000');
    expect(await stat(data, 'secrets.env')).toBe('600 1000:1000');
    const now = await valuesIn(data, 'secrets.env');
    expect(now.get('JWT_SECRET')).toMatch(/^[0-9a-f]{64}$/);
    expect(now.get('JWT_SECRET')).not.toBe(old.get('JWT_SECRET'));
    expect(now.get('ENCRYPTION_KEY')).toBe(old.get('ENCRYPTION_KEY'));
    // Comments are kept; no temporary file is left.
    expect((await read(data, 'secrets.env')).split('\n')[0]).toBe(oldContent.split('\n')[0]);
    expect((await listing(data)).sort()).toEqual([result.backupCopy, 'secrets.env'].sort());
  });

  it('rotate --force-encryption-key --restart changes both keys and restarts the backend', async () => {
    const old = await valuesIn(data, 'secrets.env');
    const startedBefore = (await containerState(backend)).startedAt;
    // Backup copies are named to the second: do not collide with the previous rotation.
    await new Promise((r) => setTimeout(r, 1100));
    const r = await secrets(['rotate', '--force-encryption-key', '--restart', '--yes']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('rotated JWT_SECRET, ENCRYPTION_KEY in data/secrets.env');
    expect(r.stdout).toContain(`restarted ${backend}`);
    expect(r.stdout).toContain('take a stowage backup now as well: npx zx scripts/backup.mjs');
    expect(r.stdout).toContain('can no longer be decrypted');
    const now = await valuesIn(data, 'secrets.env');
    expect(now.get('JWT_SECRET')).not.toBe(old.get('JWT_SECRET'));
    expect(now.get('ENCRYPTION_KEY')).not.toBe(old.get('ENCRYPTION_KEY'));
    const state = await containerState(backend);
    expect(state.running).toBe(true);
    expect(state.startedAt).not.toBe(startedBefore);
    expect((await listing(data)).filter((n) => n.endsWith('.bak'))).toHaveLength(2);
  });

  it('init writes into a bind-mounted host directory with the owner and mode of the rule', async () => {
    const r = await secrets(['init'], 'files');
    expect(r.code, show(r)).toBe(0);
    const st = statSync(join(bindDir, 'secrets.env'));
    expect([(st.mode & 0o7777).toString(8), st.uid, st.gid]).toEqual(['600', 1000, 1000]);
  });

  it('rejects options that do not apply, and unknown subcommands: exit 2', async () => {
    expect((await secrets(['check', '--restart'])).code).toBe(2);
    expect((await secrets(['init', '--key', 'JWT_SECRET'])).code).toBe(2);
    expect((await secrets(['rotate', '--key', 'NOPE', '--yes'])).code).toBe(2);
  });

  it('no secret value, old or new, appears in anything any command printed', async () => {
    const files = [
      ...(await listing(data)).map((name) => ({ volume: data, name })),
      { volume: other, name: 'app.env' },
    ];
    const values = new Set<string>();
    for (const f of files) for (const value of (await valuesIn(f.volume, f.name)).values()) values.add(value);
    for (const value of envValues(parseEnvFile(readFileSync(join(bindDir, 'secrets.env'), 'utf8'))).values()) values.add(value);
    expect(values.size).toBeGreaterThanOrEqual(8);
    const printed = runs.map((r) => `${r.stdout}\n${r.stderr}`).join('\n');
    expect(runs.length).toBeGreaterThan(10);
    for (const value of values) expect(printed.includes(value), 'a secret value was printed').toBe(false);
  });
});
