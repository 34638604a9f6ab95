// @ts-check
// What dist/ is compiled from, and whether it still matches: shared by the compile step
// (build/compile.mjs) and by every script at start-up (build/entry.mjs). Plain JavaScript on
// purpose: it runs before anything can load TypeScript, and it must stay cheap (node: modules only).
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Bumped when the layout of dist/ or of its manifest changes: an older dist/ is then stale. */
export const FORMAT = 1;
export const OUT_DIR = 'dist';
export const MANIFEST = 'manifest.json';
/** Inputs besides src/: the compiler settings come from these, so a change to them makes dist/ stale too. */
export const SETTINGS_FILES = ['tsconfig.json', 'build/compile.mjs'];

/**
 * @typedef {object} Manifest
 * @property {number} format
 * @property {string} compiler       e.g. "esbuild 0.28.2 (tsx's)"
 * @property {string} builtAt        ISO time, for people only
 * @property {Record<string, string>} inputs  repository-relative path -> sha256 of the bytes compiled
 */

/**
 * Every TypeScript source under src/, repository-relative with "/", sorted.
 * @param {string} root repository root
 * @returns {string[]}
 */
export function sourceFiles(root) {
  /** @type {string[]} */
  const out = [];
  /** @param {string} rel */
  const walk = (rel) => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const path = `${rel}/${entry.name}`;
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith('.ts')) out.push(path);
    }
  };
  walk('src');
  return out.sort();
}

/** @param {Buffer | string} bytes */
/**
 * The JSON Schemas, compiled into validators next to dist/ (dist/validators/): a schema that
 * changed makes dist/ stale like a source does.
 * @param {string} root @returns {string[]}
 */
export function schemaFiles(root) {
  if (!existsSync(join(root, 'schemas'))) return [];
  return readdirSync(join(root, 'schemas'))
    .filter((n) => n.endsWith('.json'))
    .sort()
    .map((n) => `schemas/${n}`);
}

/** @param {Buffer | string} bytes */
export function sha256(bytes) {
  return createHash('sha256').update(bytes).digest('hex');
}

/** @param {unknown} value @returns {value is Manifest} */
function isManifest(value) {
  if (typeof value !== 'object' || value === null) return false;
  const m = /** @type {Record<string, unknown>} */ (value);
  const inputs = m['inputs'];
  return (
    typeof m['format'] === 'number' &&
    typeof m['compiler'] === 'string' &&
    typeof inputs === 'object' &&
    inputs !== null &&
    Object.values(inputs).every((h) => typeof h === 'string')
  );
}

/**
 * Why dist/ must not be run, or undefined when it was compiled from exactly the sources and
 * settings on disk now: the same set of src/**\/*.ts files with the same content (sha256), the
 * same tsconfig.json and compile step. Content, not times: a checkout, a copy or a clock can
 * make times lie, and an old dist/ must never run in place of newer sources.
 * @param {string} root repository root
 * @param {string} [compiler] also stale when dist/ was compiled by another compiler than this
 *   (the compile step asks; at start-up the sources alone decide)
 * @returns {string | undefined}
 */
export function staleness(root, compiler) {
  let text;
  try {
    text = readFileSync(join(root, OUT_DIR, MANIFEST), 'utf8');
  } catch {
    return `${OUT_DIR}/ is not built (no ${OUT_DIR}/${MANIFEST}): run npm run build`;
  }
  /** @type {unknown} */
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (!isManifest(parsed)) return `${OUT_DIR}/${MANIFEST} is not a manifest this version writes: run npm run build`;
  if (parsed.format !== FORMAT) return `${OUT_DIR}/ has format ${parsed.format}, this version needs ${FORMAT}: run npm run build`;
  if (compiler !== undefined && parsed.compiler !== compiler) return `${OUT_DIR}/ was compiled by ${parsed.compiler}, the compiler now is ${compiler}: run npm run build`;
  const recorded = parsed.inputs;
  let sources;
  try {
    sources = [...sourceFiles(root), ...schemaFiles(root)];
  } catch (err) {
    return `src/ or schemas/ cannot be listed (${err instanceof Error ? err.message : String(err)})`;
  }
  const now = [...sources, ...SETTINGS_FILES];
  const present = new Set(now);
  const added = now.filter((p) => !Object.hasOwn(recorded, p));
  if (added.length > 0) return `${added[0]} is newer than ${OUT_DIR}/ (not compiled${added.length > 1 ? `, with ${added.length - 1} more` : ''}): run npm run build`;
  const gone = Object.keys(recorded).filter((p) => !present.has(p));
  if (gone.length > 0) return `${gone[0]} was compiled into ${OUT_DIR}/ and is gone${gone.length > 1 ? ` (with ${gone.length - 1} more)` : ''}: run npm run build`;
  for (const path of now) {
    let bytes;
    try {
      bytes = readFileSync(join(root, path));
    } catch {
      return `${path} cannot be read: run npm run build`;
    }
    if (sha256(bytes) !== recorded[path]) return `${path} changed since ${OUT_DIR}/ was compiled: run npm run build`;
  }
  return undefined;
}
