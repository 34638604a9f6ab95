// .github/workflows/ci.yml, the workflow users adopt (docs/drift.md): it parses,
// tests and gates every push, and previews every stack daily with its policies.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseDocument } from 'yaml';
import { describe, expect, test } from 'vitest';
import { repoRoot } from '../helpers/run.js';

const text = readFileSync(join(repoRoot, '.github/workflows/ci.yml'), 'utf8');
const parsed = parseDocument(text, { uniqueKeys: true });
const workflow: unknown = parsed.toJS();

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** The value at a path of keys and indexes, or undefined. */
function at(value: unknown, ...path: Array<string | number>): unknown {
  let current = value;
  for (const key of path) {
    if (typeof key === 'number') current = Array.isArray(current) ? current[key] : undefined;
    else current = isRecord(current) ? current[key] : undefined;
  }
  return current;
}

function steps(job: string): Array<Record<string, unknown>> {
  const list = at(workflow, 'jobs', job, 'steps');
  return Array.isArray(list) ? list.filter(isRecord) : [];
}

/** Every `run:` script of a job, in order. */
function scripts(job: string): string[] {
  return steps(job).flatMap((s) => (typeof s['run'] === 'string' ? [s['run']] : []));
}

describe('ci.yml', () => {
  test('is valid YAML without repeated keys', () => {
    expect(parsed.errors).toEqual([]);
    expect(isRecord(workflow)).toBe(true);
  });

  test('runs on push, pull requests and a daily schedule', () => {
    expect(at(workflow, 'on', 'push')).toBeNull();
    expect(at(workflow, 'on', 'pull_request')).toBeNull();
    expect(at(workflow, 'on', 'schedule', 0, 'cron')).toMatch(/^\d+ \d+ \* \* \*$/);
  });

  test('the test job checks out, sets up Node 20, installs the tools with apt, then npm ci, npm test and the drift gate, in that order', () => {
    expect(steps('test')[0]).toMatchObject({ uses: 'actions/checkout@v4' });
    expect(steps('test')[1]).toMatchObject({ uses: 'actions/setup-node@v4', with: { 'node-version': 20 } });
    const run = scripts('test').join('\n');
    for (const tool of ['docker-compose', 'zstd', 'sqlite3', 'busybox-static', 'postgresql-15', 'age', 'jq', 'restic', 'openssh-server', 'rclone']) expect(run).toContain(tool);
    const order = ['apt-get install', 'npm ci', 'test/images/build.sh', 'npm test', 'npx zx scripts/drift.mjs --all'].map((part) => run.indexOf(part));
    expect(order.every((position) => position >= 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  test('npm test gets a headless browser for the status page tests, and keeps it under sudo', () => {
    const npmTest = steps('test').find((s) => typeof s['run'] === 'string' && s['run'].includes('npm test'));
    const browser = at(npmTest, 'env', 'STOWAGE_CHROMIUM');
    expect(browser).toBe('/usr/bin/google-chrome');
    expect(String(npmTest?.['run'])).toMatch(/--preserve-env=[^ ]*STOWAGE_CHROMIUM/);
  });

  test('previews every shipped stack daily with refresh, expecting no changes, under the policy pack', () => {
    expect(at(workflow, 'jobs', 'preview', 'strategy', 'matrix', 'stack')).toEqual(['pim-dev', 'pim-prod', 'digidig-dev', 'digidig-prod']);
    const preview = scripts('preview').find((s) => s.startsWith('pulumi preview')) ?? '';
    for (const flag of ['--stack "${{ matrix.stack }}"', '--refresh', '--expect-no-changes', '--policy-pack policies', '--non-interactive']) {
      expect(preview).toContain(flag);
    }
  });

  test('the preview job installs the Pulumi CLI and logs in to the file backend or Pulumi Cloud, with the passphrase from secrets', () => {
    expect(steps('preview').some((s) => s['uses'] === 'pulumi/actions@v6')).toBe(true);
    expect(at(workflow, 'jobs', 'preview', 'env', 'PULUMI_CONFIG_PASSPHRASE')).toBe('${{ secrets.PULUMI_CONFIG_PASSPHRASE }}');
    expect(at(workflow, 'jobs', 'preview', 'env', 'PULUMI_ACCESS_TOKEN')).toBe('${{ secrets.PULUMI_ACCESS_TOKEN }}');
    expect(String(at(workflow, 'jobs', 'preview', 'env', 'STOWAGE_PULUMI_BACKEND'))).toContain('file:///srv/stowage/pulumi-state');
    expect(scripts('preview').join('\n')).toContain('pulumi login "$STOWAGE_PULUMI_BACKEND"');
  });

  test('every stack it previews has a Pulumi stack config', () => {
    const stacks = at(workflow, 'jobs', 'preview', 'strategy', 'matrix', 'stack');
    expect(Array.isArray(stacks)).toBe(true);
    for (const stack of Array.isArray(stacks) ? stacks : []) expect(existsSync(join(repoRoot, 'stacks', `Pulumi.${String(stack)}.yaml`))).toBe(true);
  });

  test('scheduled jobs stay off until the repository opts in', () => {
    expect(at(workflow, 'jobs', 'preview', 'if')).toContain("vars.STOWAGE_PREVIEW == 'true'");
    expect(at(workflow, 'jobs', 'live-drift', 'if')).toContain("vars.STOWAGE_LIVE_DRIFT == 'true'");
  });
});
