import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import type { StackFile } from './types.js';

/**
 * The JSON Schemas in schemas/, compiled with ajv (draft 2020-12, strict).
 */

const schemaDir = fileURLToPath(new URL('../../schemas/', import.meta.url));

/** Loads a JSON Schema shipped in schemas/ (they are data, validated by ajv's meta-schema). */
export function loadSchema(name: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(readFileSync(`${schemaDir}${name}`, 'utf8'));
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`schemas/${name} is not a JSON object: reinstall stowage`);
  }
  return Object.fromEntries(Object.entries(parsed));
}

/** One ajv instance: strict, every error reported, schemas compiled once. */
export function makeAjv(): Ajv2020 {
  return new Ajv2020({ allErrors: true, strict: true, verbose: true, useDefaults: false });
}

let stackValidator: ValidateFunction<StackFile> | undefined;

export function stackFileValidator(): ValidateFunction<StackFile> {
  stackValidator ??= makeAjv().compile<StackFile>(loadSchema('stack.schema.json'));
  return stackValidator;
}

export function compileSchema<T>(name: string): ValidateFunction<T> {
  return makeAjv().compile<T>(loadSchema(name));
}

export type { ErrorObject, ValidateFunction };
