// drift.mjs --all, the CI gate: stack files valid, Compose files current,
// generated runbook pages current, and no mandatory policy violation. Every
// check runs; exit 3 lists each that failed.
import { appendFileSync, cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { checkAll, type CheckAllOptions, type CheckAllReport, type CheckStatus } from '../../src/ops/check-all.js';
import { renderStackFile, writeRendered } from '../../src/ops/compose-files.js';
import { repoRoot, runScript } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

/** The checkout's directories that --all reads. */
function directories(root: string): CheckAllOptions {
  return { stacksDir: join(root, 'stacks'), composeDir: join(root, 'compose'), runbooksDir: join(root, 'runbooks'), docsDir: join(root, 'docs', 'runbooks') };
}

/** A copy of what --all reads, laid out as in the checkout. */
function checkout(): CheckAllOptions {
  const root = temp.make('stowage-check-all-');
  for (const dir of ['stacks', 'compose', 'runbooks', 'docs/runbooks']) cpSync(join(repoRoot, dir), join(root, dir), { recursive: true });
  return directories(root);
}

/** The flags that point drift.mjs --all at a copy. */
function flags(dirs: CheckAllOptions): string[] {
  return ['--stacks-dir', dirs.stacksDir, '--compose-dir', dirs.composeDir, '--runbooks-dir', dirs.runbooksDir, '--docs-dir', dirs.docsDir];
}

function statuses(report: CheckAllReport): Record<string, CheckStatus> {
  return Object.fromEntries(report.checks.map((c) => [c.check, c.status]));
}

const SHOP_ON_LATEST = yamlText`
  app: shop
  volumes:
    data: {}
  services:
    web:
      image: shop/web:latest
      mounts: [data:/data]
  environments:
    dev: {}
    prod: { hostRoot: /srv/shop, volumeBacking: host }
`;

describe('drift --all over the repository', () => {
  test('passes: stack files valid, Compose files and runbook pages current, no mandatory violation', () => {
    const report = checkAll(directories(repoRoot));
    expect(statuses(report)).toEqual({ 'stack-files': 'passed', compose: 'passed', docs: 'passed', policies: 'passed' });
    expect(report.passed).toBe(true);
  });
});

describe('drift --all on a broken checkout', () => {
  test('a Compose file edited by hand fails the compose check with its diff', () => {
    const dirs = checkout();
    appendFileSync(join(dirs.composeDir, 'pim.prod.yml'), '# edited by hand\n');
    const report = checkAll(dirs);
    expect(statuses(report)).toMatchObject({ 'stack-files': 'passed', compose: 'failed', policies: 'passed' });
    expect(report.checks.find((c) => c.check === 'compose')?.details.join('\n')).toContain('-# edited by hand');
    expect(report.passed).toBe(false);
  });

  test('an invalid stack file fails the stack-files check; the other stacks are still checked', () => {
    const dirs = checkout();
    writeFileSync(join(dirs.stacksDir, 'shop.yaml'), 'app: shop\nvolumes: {}\nservices:\n  web: { image: shop/web:1, mountz: [] }\nenvironments: { dev: {} }\n');
    const report = checkAll(dirs);
    expect(statuses(report)).toMatchObject({ 'stack-files': 'failed', compose: 'passed', policies: 'passed' });
    expect(report.checks.find((c) => c.check === 'stack-files')?.details.join('\n')).toContain('shop.yaml:4:');
  });

  test('a generated runbook page edited by hand fails the docs check with its diff', () => {
    const dirs = checkout();
    appendFileSync(join(dirs.docsDir, 'restore.md'), 'edited by hand\n');
    const report = checkAll(dirs);
    expect(statuses(report)).toMatchObject({ compose: 'passed', docs: 'failed', policies: 'passed' });
    const docs = report.checks.find((c) => c.check === 'docs');
    expect(docs?.summary).toContain('run npx zx scripts/runbook.mjs --render-docs');
    expect(docs?.details.join('\n')).toContain('-edited by hand');
  });

  test('a page no runbook renders any more fails the docs check', () => {
    const dirs = checkout();
    writeFileSync(join(dirs.docsDir, 'retired.md'), '# retired\n');
    expect(checkAll(dirs).checks.find((c) => c.check === 'docs')?.details).toEqual([expect.stringContaining('retired.md: no runbook renders it any more')]);
  });

  test('a mandatory policy violation fails the policies check, naming rule and object', () => {
    const dirs = checkout();
    const stackFile = join(dirs.stacksDir, 'shop.yaml');
    writeFileSync(stackFile, SHOP_ON_LATEST);
    writeRendered(renderStackFile(stackFile, dirs.composeDir), dirs.composeDir);
    const report = checkAll(dirs);
    expect(statuses(report)).toMatchObject({ 'stack-files': 'passed', compose: 'passed', policies: 'failed' });
    expect(report.checks.find((c) => c.check === 'policies')?.details.join('\n')).toContain('MANDATORY image-pinned  image shop/web:latest');
  });

  test('every failing check is listed, not only the first', () => {
    const dirs = checkout();
    writeFileSync(join(dirs.stacksDir, 'shop.yaml'), SHOP_ON_LATEST);
    const report = checkAll(dirs);
    expect(report.checks.filter((c) => c.status === 'failed').map((c) => c.check)).toEqual(['compose', 'policies']);
  });
});

describe('drift.mjs --all', () => {
  test('exits 0 on the repository', async () => {
    const result = await runScript('drift', ['--all']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('PASSED  docs:');
    expect(result.stdout).toContain('all checks passed');
  });

  test('exits 3 listing each failed check', async () => {
    const dirs = checkout();
    writeFileSync(join(dirs.stacksDir, 'shop.yaml'), SHOP_ON_LATEST);
    const result = await runScript('drift', ['--all', ...flags(dirs)]);
    expect(result.code).toBe(3);
    expect(result.stdout).toContain('FAILED  compose:');
    expect(result.stdout).toContain('FAILED  policies:');
    expect(result.stdout).toContain('2 check(s) failed: compose, policies');
  });

  test('--json prints one document with every check', async () => {
    const result = await runScript('drift', ['--all', '--json']);
    expect(result.code).toBe(0);
    const document: unknown = JSON.parse(result.stdout);
    expect(document).toMatchObject({ all: { passed: true, checks: [{ check: 'stack-files' }, { check: 'compose' }, { check: 'docs' }, { check: 'policies' }] } });
  });

  test('refuses --all with --stack (exit 2)', async () => {
    const result = await runScript('drift', ['--all', '--stack', 'pim-dev']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--all checks every stack file');
  });
});
