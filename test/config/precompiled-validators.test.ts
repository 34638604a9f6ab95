// The compile step turns schemas/*.json into validators (dist/validators/*.cjs, ajv standalone
// code), so that no script compiles a schema at start-up. A validator is used only when it was
// made of exactly the schema on disk with exactly the options src/config/schema.ts compiles with.
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const repoRoot = join(import.meta.dirname, '../..');

interface SchemaModule {
  compileSchema: (name: string) => ((data: unknown) => boolean) & { errors?: unknown; compiledFrom?: unknown };
}

function isSchemaModule(value: unknown): value is SchemaModule {
  return typeof value === 'object' && value !== null && 'compileSchema' in value && typeof value.compileSchema === 'function';
}

/** dist/ as built, in a copy of its own (with schemas/ beside it) that a test may change. */
async function builtCopy(): Promise<{ root: string; schema: SchemaModule }> {
  const root = mkdtempSync(join(tmpdir(), 'stowage-validators-'));
  cpSync(join(repoRoot, 'dist'), join(root, 'dist'), { recursive: true });
  cpSync(join(repoRoot, 'schemas'), join(root, 'schemas'), { recursive: true });
  cpSync(join(repoRoot, 'package.json'), join(root, 'package.json'));
  // The standalone code requires ajv's runtime helpers.
  cpSync(join(repoRoot, 'node_modules/ajv'), join(root, 'node_modules/ajv'), { recursive: true });
  cpSync(join(repoRoot, 'node_modules/fast-deep-equal'), join(root, 'node_modules/fast-deep-equal'), { recursive: true });
  cpSync(join(repoRoot, 'node_modules/fast-uri'), join(root, 'node_modules/fast-uri'), { recursive: true });
  cpSync(join(repoRoot, 'node_modules/json-schema-traverse'), join(root, 'node_modules/json-schema-traverse'), { recursive: true });
  cpSync(join(repoRoot, 'node_modules/require-from-string'), join(root, 'node_modules/require-from-string'), { recursive: true });
  const loaded: unknown = await import(pathToFileURL(join(root, 'dist/config/schema.js')).href);
  if (!isSchemaModule(loaded)) throw new Error('dist/config/schema.js exports no compileSchema');
  return { root, schema: loaded };
}

describe('precompiled schema validators', () => {
  const copies: string[] = [];
  afterAll(() => copies.forEach((c) => rmSync(c, { recursive: true, force: true })));

  it('are what a compiled script uses: the stack file validator comes from dist/validators/', async () => {
    const { root, schema } = await builtCopy();
    copies.push(root);
    const validate = schema.compileSchema('stack.schema.json');
    expect(validate.compiledFrom).toMatchObject({ options: { allErrors: true, strict: true, verbose: true, useDefaults: false } });
    expect(validate({})).toBe(false);
    expect(JSON.stringify(validate.errors)).toContain("must have required property 'app'");
  });

  it('are not used for a schema edited after the build: it is compiled from the file instead', async () => {
    const { root, schema } = await builtCopy();
    copies.push(root);
    const file = join(root, 'schemas/swap-marker.schema.json');
    const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null) throw new Error('not a schema');
    const marker = { format: 1, mode: 'all', staging: '.stowage-restore-a', old: '.stowage-old-a', args: ['0:0', '755', '@1'] };
    expect(schema.compileSchema('swap-marker.schema.json')(marker)).toBe(true);
    // The edit: markers hold no arguments any more. The old validator would still accept three.
    writeFileSync(file, JSON.stringify({ ...parsed, properties: { ...('properties' in parsed && typeof parsed.properties === 'object' ? parsed.properties : {}), args: { type: 'array', maxItems: 0 } } }));
    const validate = schema.compileSchema('swap-marker.schema.json');
    expect(validate.compiledFrom).toBeUndefined();
    expect(validate(marker)).toBe(false);
  });
});
