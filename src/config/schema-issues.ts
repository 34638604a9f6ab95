import { formatKeyPath, type KeyPath } from './errors.js';
import type { ErrorObject } from './schema.js';
import type { IssueAt } from './semantic.js';

/**
 * ajv's errors as issues an operator can act on, one per problem, for every
 * schema stowage validates with positions (stack files, runbooks).
 */
export interface SchemaIssueOptions {
  /** What to write instead, when a value matches none of a oneOf's branches. */
  oneOfFix?: string;
}

export function pointerToPath(pointer: string): Array<string | number> {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((raw) => raw.replace(/~1/g, '/').replace(/~0/g, '~'))
    .map((part) => (/^\d+$/.test(part) ? Number(part) : part));
}

export function schemaIssues(errors: ErrorObject[], options: SchemaIssueOptions = {}): IssueAt[] {
  // oneOf failures report every branch; the oneOf error alone says it best.
  const oneOfPaths = new Set(errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath));
  const issues: IssueAt[] = [];
  const seen = new Set<string>();
  for (const error of errors) {
    if (error.keyword !== 'oneOf' && error.schemaPath.includes('/oneOf/') && pointerPrefixes(error.instancePath).some((p) => oneOfPaths.has(p))) continue;
    if (error.keyword === 'propertyNames' || error.keyword === 'if') continue; // reported through the nested pattern error
    const issue = describe(error, options);
    const key = `${formatKeyPath(issue.path)}|${issue.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    issues.push(issue);
  }
  return issues;
}

/** `/a/b` -> `/a/b`, `/a`, ``: looked up in a set, so that N errors cost N lookups per level, not N times N. */
function pointerPrefixes(pointer: string): string[] {
  const prefixes = [pointer];
  for (let at = pointer.lastIndexOf('/'); at >= 0; at = pointer.lastIndexOf('/', at - 1)) {
    prefixes.push(pointer.slice(0, at));
    if (at === 0) break;
  }
  return prefixes;
}

function describe(error: ErrorObject, options: SchemaIssueOptions): IssueAt {
  const path: KeyPath = pointerToPath(error.instancePath);
  const params: Record<string, unknown> = error.params;
  const parent = error.parentSchema;
  const description = parent !== undefined && typeof parent.description === 'string' ? ` (${parent.description})` : '';
  switch (error.keyword) {
    case 'additionalProperties': {
      const extra = String(params['additionalProperty']);
      const allowed = parent !== undefined && isRecord(parent.properties) ? Object.keys(parent.properties) : [];
      return {
        path: [...path, extra],
        pointAtKey: true,
        message: `unknown key "${extra}"`,
        fix: allowed.length > 0 ? `remove it or correct its spelling; allowed here: ${allowed.join(', ')}` : 'remove it',
      };
    }
    case 'required':
      return {
        path,
        message: `missing required key "${String(params['missingProperty'])}"`,
        fix: `add "${String(params['missingProperty'])}"${description}`,
      };
    case 'pattern': {
      const propertyName = error.propertyName;
      if (propertyName !== undefined) {
        return {
          path: [...path, propertyName],
          pointAtKey: true,
          message: `invalid name "${propertyName}": must match ${String(params['pattern'])}`,
          fix: `rename it so that it matches ${String(params['pattern'])}`,
        };
      }
      return {
        path,
        message: `${preview(error.data)} must match ${String(params['pattern'])}`,
        fix: `write a value of the expected form${description}`,
      };
    }
    case 'enum':
      return {
        path,
        message: `${preview(error.data)} is not allowed`,
        fix: `use one of: ${(Array.isArray(params['allowedValues']) ? params['allowedValues'] : []).map(String).join(', ')}`,
      };
    case 'const':
      return { path, message: `must be ${JSON.stringify(params['allowedValue'])}`, fix: `write ${JSON.stringify(params['allowedValue'])}` };
    case 'type':
      return { path, message: `must be ${article(String(params['type']))}, not ${jsonType(error.data)}`, fix: `write ${article(String(params['type']))}${description}` };
    case 'oneOf':
      return {
        path,
        message: `${preview(error.data)} is not a valid value`,
        fix: options.oneOfFix ?? 'write a value of one of the allowed forms',
      };
    case 'minProperties':
    case 'maxProperties':
      if (parent !== undefined && isRecord(parent.properties) && parent.maxProperties === 1) {
        return { path, message: 'must set exactly one key', fix: `choose one of: ${Object.keys(parent.properties).join(', ')}` };
      }
      return { path, message: `must have ${error.keyword === 'minProperties' ? 'at least' : 'at most'} ${String(params['limit'])} entries`, fix: 'add or remove entries' };
    case 'dependentRequired':
      return { path, message: `"${String(params['property'])}" needs "${String(params['missingProperty'])}"`, fix: `add "${String(params['missingProperty'])}"${description}` };
    case 'minItems':
      return { path, message: `must have at least ${String(params['limit'])} item(s)`, fix: `add items${description}` };
    case 'minimum':
    case 'maximum':
    case 'exclusiveMinimum':
    case 'exclusiveMaximum':
      return { path, message: `${preview(error.data)} ${error.message ?? 'is out of range'}`, fix: `use a value ${(error.message ?? 'in range').replace(/^must be /, '')}` };
    default:
      return { path, message: `${error.message ?? 'is invalid'}`, fix: `correct the value${description}` };
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

function jsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${preview(value)}`;
}

/**
 * A value as JSON, cut to about `limit` characters: the offending value may be
 * a mapping of thousands of entries, and every issue would print it whole.
 */
export function preview(value: unknown, limit = 80): string {
  let out = '';
  const emit = (text: string): boolean => {
    out += text;
    return out.length <= limit;
  };
  const walk = (v: unknown, depth: number): boolean => {
    if (Array.isArray(v)) {
      if (depth > 3) return emit('[...]');
      if (!emit('[')) return false;
      for (const [i, item] of v.entries()) if ((i > 0 && !emit(',')) || !walk(item, depth + 1)) return false;
      return emit(']');
    }
    if (v !== null && typeof v === 'object') {
      if (depth > 3) return emit('{...}');
      if (!emit('{')) return false;
      let first = true;
      for (const [k, item] of Object.entries(v)) {
        if ((!first && !emit(',')) || !emit(`${JSON.stringify(k)}:`) || !walk(item, depth + 1)) return false;
        first = false;
      }
      return emit('}');
    }
    return emit(JSON.stringify(v) ?? String(v));
  };
  return walk(value, 0) ? out : `${out.slice(0, limit)}...`;
}
