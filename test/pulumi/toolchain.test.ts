// The conditions under which Pulumi's Node runner loads this program with
// ts-node in ES-module mode (see Pulumi.yaml and docs/pulumi.md). If one stops
// holding, `pulumi up` fails on users' machines while every mock test passes.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { isRecord, PROJECT_ROOT } from './harness.js';

function readYaml(file: string): Record<string, unknown> {
  const data: unknown = parse(readFileSync(join(PROJECT_ROOT, file), 'utf8'));
  if (!isRecord(data)) throw new Error(`${file} is not a mapping`);
  return data;
}

function readJson(file: string): Record<string, unknown> {
  const data: unknown = JSON.parse(readFileSync(join(PROJECT_ROOT, file), 'utf8'));
  if (!isRecord(data)) throw new Error(`${file} is not an object`);
  return data;
}

const project = readYaml('Pulumi.yaml');
const runtime = isRecord(project['runtime']) ? project['runtime'] : {};
const runtimeOptions = isRecord(runtime['options']) ? runtime['options'] : {};
const packageJson = readJson('package.json');
const dependencies = isRecord(packageJson['dependencies']) ? packageJson['dependencies'] : {};

describe('the Pulumi project and its Node toolchain', () => {
  it('runs src/pulumi/index.ts (package.json main) on the nodejs runtime with TypeScript', () => {
    expect([runtime['name'], runtimeOptions['typescript'], packageJson['main']]).toEqual(['nodejs', true, 'src/pulumi/index.ts']);
    expect(existsSync(join(PROJECT_ROOT, 'src/pulumi/index.ts'))).toBe(true);
  });

  it('sets no main in Pulumi.yaml, so the program runs in the project root, beside tsconfig.json', () => {
    expect(project['main']).toBeUndefined();
    expect(existsSync(join(PROJECT_ROOT, 'tsconfig.json'))).toBe(true);
  });

  it('keeps stack configs in stacks/, next to the stack files', () => {
    expect(project['stackConfigDir']).toBe('stacks');
  });

  it('passes Node no loader, which would turn the runner\'s ES-module mode off', () => {
    expect(String(runtimeOptions['nodeargs'] ?? '')).not.toMatch(/--(loader|import|require)\b/);
  });

  it('is an ES-module package', () => {
    expect(packageJson['type']).toBe('module');
  });

  it('depends on ts-node, whose ts-node/esm the runner loads', () => {
    expect(dependencies['ts-node']).toBeDefined();
  });

  it('pins TypeScript to 5.x, which has the compiler API ts-node needs', () => {
    expect(String(dependencies['typescript'])).toMatch(/^[~^]?5\./);
  });
});
