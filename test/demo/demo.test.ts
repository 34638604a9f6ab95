// `npm run demo` (node demo/demo.mjs): the newcomer's first command. It must
// work on the local engine without a registry, finish well under two minutes,
// report every step, and leave nothing behind. Each run uses its own project.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderReport, type DemoReport } from '../../src/commands/demo.js';
import { docker, exec, repoRoot, show } from '../helpers/engine.js';

const demo = (args: string[], env: Record<string, string> = {}) => exec(process.execPath, [join(repoRoot, 'demo', 'demo.mjs'), ...args], { env: { NO_COLOR: '1', ...env } });

function isReport(value: unknown): value is DemoReport {
  return value !== null && typeof value === 'object' && 'ok' in value && 'steps' in value && Array.isArray(value.steps) && 'project' in value && 'seconds' in value;
}

describe('npm run demo', () => {
  it('deploys, backs up, wipes, restores and proves the data is back, then removes everything', async () => {
    const project = `stowage-demo-t${randomBytes(3).toString('hex')}`;
    const started = Date.now();
    const r = await demo(['--app', project, '--json']);
    expect(r.code, show(r)).toBe(0);
    const report: unknown = JSON.parse(r.stdout);
    if (!isReport(report)) throw new Error(`not a demo report:\n${r.stdout}`);
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => s.name)).toEqual([
      'check the machine',
      `build image ${project}/app:1`,
      'render the Compose files',
      'deploy the stack',
      'check the deployment against its stack file',
      'write data',
      'back up',
      'verify the backup',
      'clean start (remove containers and volumes)',
      'redeploy and restore',
      'check the data is back',
      'restore drill (runbook)',
      'remove everything the demo created',
    ]);
    for (const step of report.steps) expect(step.ok, `${step.name}: ${step.detail}`).toBe(true);
    expect(report.steps.find((s) => s.name === 'write data')?.detail).toBe('500 contacts, 200 events in SQLite (WAL), secrets.env, 41 uploads');
    expect(report.steps.find((s) => s.name === 'check the data is back')?.detail).toBe('500 contacts, 200 events, same dump checksum; 42 files, same sha256');
    expect(report.steps.find((s) => s.name === 'back up')?.detail).toMatch(/^data\.tar\.zst [\d.]+ KiB, uploads\.tar\.zst [\d.]+ (KiB|MiB) \(SQLite copied online, no downtime\)$/);
    expect(Date.now() - started).toBeLessThan(120_000);
    const table = renderReport(report);
    expect(table).toMatch(/^ {2}back up +\d+\.\d s {2}PASS {2}data\.tar\.zst/m);
    expect(table).toMatch(/^ {2}check the data is back +\d+\.\d s {2}PASS/m);
    expect(table).toMatch(/^PASS: the data survived a clean start: backed up, verified, wiped, restored and checked in \d+\.\d s\.$/m);

    const label = `label=stowage.project=${project}`;
    expect((await docker('ps', '--all', '--quiet', '--filter', label)).trim()).toBe('');
    expect((await docker('volume', 'ls', '--quiet', '--filter', label)).trim()).toBe('');
    expect((await docker('volume', 'ls', '--quiet', '--filter', `label=stowage.project=${project}-drill`)).trim()).toBe('');
    expect((await exec('docker', ['image', 'inspect', `${project}/app:1`])).code).not.toBe(0);
  });

  it('explains an engine that is not running, and starts nothing', async () => {
    const r = await demo(['--app', 'stowage-demo-noengine'], { DOCKER_HOST: 'unix:///nonexistent/docker.sock' });
    expect(r.code, show(r)).toBe(1);
    expect(r.stdout).toMatch(/check the machine +\d+\.\d s {2}FAIL {2}the Docker engine is not running \(.*\)\. Start it, e\.g\. sudo systemctl start docker/);
    expect(r.stdout).toContain('The demo starts nothing itself.');
    expect(r.stdout).not.toContain('build image');
  });
});
