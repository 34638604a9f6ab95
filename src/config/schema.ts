import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isDeepStrictEqual } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { StackFile } from './types.js';

/**
 * The JSON Schemas in schemas/, compiled with ajv (draft 2020-12, strict).
 */

const schemaDir = fileURLToPath(new URL('../../schemas/', import.meta.url));

function parseSchema(name: string, text: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(text);
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`schemas/${name} is not a JSON object: reinstall stowage`);
  }
  return Object.fromEntries(Object.entries(parsed));
}

/** Loads a JSON Schema shipped in schemas/ (they are data, validated by ajv's meta-schema). */
export function loadSchema(name: string): Record<string, unknown> {
  return parseSchema(name, readFileSync(`${schemaDir}${name}`, 'utf8'));
}

/** How every schema is compiled: strict, every error reported. build/compile.mjs compiles with the same. */
export const AJV_OPTIONS = { allErrors: true, strict: true, verbose: true, useDefaults: false } as const;

/** One ajv instance: strict, every error reported, schemas compiled once. */
export function makeAjv(): Ajv2020 {
  return new Ajv2020({ ...AJV_OPTIONS });
}

/** Where the compile step put the validators: dist/validators/ beside dist/config/ (absent when running src/). */
const validatorDir = fileURLToPath(new URL('../validators/', import.meta.url));
const requireValidator = createRequire(import.meta.url);

function isValidateFunction(value: unknown): value is ValidateFunction & { compiledFrom?: unknown } {
  return typeof value === 'function';
}

/**
 * The validator the compile step made of schemas/<name> (ajv standalone code),
 * when it was made of exactly this schema with exactly these options;
 * otherwise undefined, and the caller compiles the schema itself. A schema
 * edited after the build therefore never meets an old validator.
 */
function precompiled<T>(name: string, text: string): ValidateFunction<T> | undefined {
  const file = `${validatorDir}${name.replace(/\.json$/, '.cjs')}`;
  if (!existsSync(file)) return undefined;
  const loaded: unknown = requireValidator(file);
  if (!isValidateFunction(loaded)) return undefined;
  const expected = { schemaSha256: createHash('sha256').update(text).digest('hex'), options: AJV_OPTIONS };
  if (!isDeepStrictEqual(loaded.compiledFrom, expected)) return undefined;
  // The same generic promise ajv.compile<T> makes: the schema describes T.
  return loaded as ValidateFunction<T>;
}

let stackValidator: ValidateFunction<StackFile> | undefined;

export function stackFileValidator(): ValidateFunction<StackFile> {
  stackValidator ??= compileSchema<StackFile>('stack.schema.json');
  return stackValidator;
}

export function compileSchema<T>(name: string): ValidateFunction<T> {
  const text = readFileSync(`${schemaDir}${name}`, 'utf8');
  return precompiled<T>(name, text) ?? makeAjv().compile<T>(parseSchema(name, text));
}

export type { ErrorObject, ValidateFunction };
