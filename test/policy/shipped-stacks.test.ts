// The shipped stacks (pim, digidig) pass every mandatory rule in every
// environment; what remains are the advisories docs/policies.md explains.
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { lintStacksDirectory, summarize } from '../../src/policy/lint.js';
import { repoRoot } from '../helpers/run.js';

const summary = summarize(lintStacksDirectory(join(repoRoot, 'stacks')));

describe('the shipped stacks', () => {
  test('are linted in all four environments', () => {
    expect(summary.stacks.map((s) => s.stack)).toEqual(['digidig-dev', 'digidig-prod', 'pim-dev', 'pim-prod']);
  });

  test('violate no mandatory rule', () => {
    expect(summary.stacks.flatMap((s) => s.violations.filter((v) => v.severity === 'mandatory'))).toEqual([]);
    expect(summary.passed).toBe(true);
  });

  test('leave the advisories docs/policies.md explains: unencrypted production backups, digidig logs beside hostRoot, dev and prod named alike', () => {
    const advisories = summary.stacks.flatMap((s) => s.violations.map((v) => `${s.stack} ${v.rule} ${v.object.kind} ${v.object.name}`));
    expect(advisories).toEqual([
      'digidig-dev environments-apart stack digidig-dev',
      'digidig-prod prod-volume-host-root volume digidig_app_logs',
      'digidig-prod backups-encrypted stack digidig-prod',
      'digidig-prod environments-apart stack digidig-prod',
      'pim-dev environments-apart stack pim-dev',
      'pim-prod backups-encrypted stack pim-prod',
      'pim-prod environments-apart stack pim-prod',
    ]);
  });
});
