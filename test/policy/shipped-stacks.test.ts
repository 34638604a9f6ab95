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

  test('leave three advisories: unencrypted production backups, and digidig logs beside hostRoot', () => {
    const advisories = summary.stacks.flatMap((s) => s.violations.map((v) => `${s.stack} ${v.rule} ${v.object.kind} ${v.object.name}`));
    expect(advisories).toEqual([
      'digidig-prod prod-volume-host-root volume digidig_app_logs',
      'digidig-prod backups-encrypted stack digidig-prod',
      'pim-prod backups-encrypted stack pim-prod',
    ]);
  });
});
