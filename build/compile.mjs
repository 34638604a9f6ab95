// @ts-check
// npm run build (and `prepare`, which npm ci runs): compiles src/**/*.ts into dist/, one
// JavaScript module per source with the same layout, so the scripts start without a TypeScript
// loader. It is the very transform tsx applies when it loads src/ (tsx's own esbuild, tsx's
// options), done once ahead of time; dist/manifest.json records the sha256 of every byte
// compiled, and build/entry.mjs runs dist/ only while those still match (else src/ through tsx).
//
//   node build/compile.mjs            compile (a no-op when dist/ is current)
//   node build/compile.mjs --force    compile even when current
//   node build/compile.mjs --check    exit 3 and say why when dist/ is stale, 0 when current
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FORMAT, MANIFEST, OUT_DIR, SETTINGS_FILES, schemaFiles, sha256, sourceFiles, staleness } from './sources.mjs';
import { Ajv2020 } from 'ajv/dist/2020.js';

// ajv's standalone generator is CommonJS whose default export ESM sees as the module itself.
/** @type {typeof import('ajv/dist/standalone/index.js').default} */
const standaloneCode = createRequire(import.meta.url)('ajv/dist/standalone/index.js').default;

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * tsx's esbuild, resolved from tsx's own directory: the compiled output is then what tsx would
 * have produced from the same source at run time.
 * @returns {typeof import('esbuild')}
 */
function tsxEsbuild() {
  const tsxPackage = createRequire(import.meta.url).resolve('tsx/package.json');
  return createRequire(tsxPackage)('esbuild');
}

/** @param {{ version: string }} esbuild */
const compilerName = (esbuild) => `esbuild ${esbuild.version} (tsx's)`;

/**
 * compilerOptions of tsconfig.json: esbuild takes from them the settings that change emitted code, as tsx passes them.
 * @param {Buffer} bytes
 * @returns {Record<string, unknown>}
 */
function compilerOptions(bytes) {
  /** @type {unknown} */
  const parsed = JSON.parse(bytes.toString('utf8'));
  const options = typeof parsed === 'object' && parsed !== null ? /** @type {Record<string, unknown>} */ (parsed)['compilerOptions'] : undefined;
  if (typeof options !== 'object' || options === null) throw new Error('tsconfig.json has no compilerOptions object');
  return /** @type {Record<string, unknown>} */ (options);
}

/**
 * Compiles every source into a fresh directory next to dist/ and swaps it in whole, so a script
 * starting meanwhile sees the old dist/, no dist/ (and runs src/ through tsx), or the new one:
 * never half of one.
 */
async function compile() {
  const started = performance.now();
  const esbuild = tsxEsbuild();
  // Read and hash first, then compile exactly those bytes: a file saved during the build makes
  // dist/ stale (its hash differs), never wrongly current.
  const sources = sourceFiles(root).map((path) => ({ path, bytes: readFileSync(join(root, path)) }));
  const settings = SETTINGS_FILES.map((path) => ({ path, bytes: readFileSync(join(root, path)) }));
  const schemas = schemaFiles(root).map((path) => ({ path, bytes: readFileSync(join(root, path)) }));
  const tsconfig = settings.find((s) => s.path === 'tsconfig.json');
  if (tsconfig === undefined) throw new Error('tsconfig.json is not among the settings files');
  const tsconfigRaw = { compilerOptions: compilerOptions(tsconfig.bytes) };

  const staging = join(root, `.${OUT_DIR}-${process.pid}-${Date.now()}`);
  rmSync(staging, { recursive: true, force: true });
  try {
    await Promise.all(
      sources.map(async ({ path, bytes }) => {
        const rel = path.slice('src/'.length).replace(/\.ts$/, '.js');
        const out = join(staging, rel);
        // The map names the source relative to itself (dist/x/y.js.map -> ../../src/x/y.ts), so stack traces point at src/.
        const sourcefile = posix.relative(posix.dirname(posix.join(OUT_DIR, rel)), path);
        let result;
        try {
          result = await esbuild.transform(bytes.toString('utf8'), {
            loader: 'ts',
            format: 'esm',
            // package.json engines: what every supported node runs.
            target: 'node20',
            sourcemap: 'external',
            sourcefile,
            // The sources sit next to dist/; maps need not carry a copy.
            sourcesContent: false,
            // tsx's settings for the same transform.
            minifyWhitespace: true,
            keepNames: true,
            tsconfigRaw,
          });
        } catch (err) {
          throw new Error(`cannot compile ${path}: ${err instanceof Error ? err.message : String(err)}`);
        }
        const name = posix.basename(rel);
        mkdirSync(dirname(out), { recursive: true });
        writeFileSync(out, `${result.code}//# sourceMappingURL=${name}.map\n`);
        writeFileSync(`${out}.map`, result.map);
      }),
    );
    for (const { path, bytes } of schemas) writeValidator(staging, path, bytes);
    /** @type {import('./sources.mjs').Manifest} */
    const manifest = {
      format: FORMAT,
      compiler: compilerName(esbuild),
      builtAt: new Date().toISOString(),
      inputs: Object.fromEntries([...sources, ...schemas, ...settings].map(({ path, bytes }) => [path, sha256(bytes)])),
    };
    writeFileSync(join(staging, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    swapIn(staging);
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(`compiled ${sources.length} files from src/ into ${OUT_DIR}/ in ${seconds.toFixed(1)} s (esbuild ${esbuild.version})\n`);
}

/**
 * The options src/config/schema.ts compiles every schema with (makeAjv); the module records
 * them with the schema's sha256, and schema.ts uses it only when both still match.
 */
const AJV_OPTIONS = { allErrors: true, strict: true, verbose: true, useDefaults: false };

/**
 * Compiles schemas/<name>.json into dist/validators/<name>.cjs (ajv's standalone code): at
 * start-up a script loads the validator instead of compiling the schema (80 ms for the stack
 * file's alone).
 * @param {string} staging @param {string} path @param {Buffer} bytes
 */
function writeValidator(staging, path, bytes) {
  const ajv = new Ajv2020({ ...AJV_OPTIONS, code: { source: true } });
  let code;
  try {
    code = standaloneCode(ajv, ajv.compile(JSON.parse(bytes.toString('utf8'))));
  } catch (err) {
    throw new Error(`cannot compile ${path} into a validator: ${err instanceof Error ? err.message : String(err)}`);
  }
  const name = posix.basename(path).replace(/\.json$/, '.cjs');
  mkdirSync(join(staging, 'validators'), { recursive: true });
  writeFileSync(
    join(staging, 'validators', name),
    `${code}\nmodule.exports.compiledFrom = ${JSON.stringify({ schemaSha256: sha256(bytes), options: AJV_OPTIONS })};\n`,
  );
}

/** @param {unknown} err @param {string} code */
const isCode = (err, code) => typeof err === 'object' && err !== null && /** @type {{ code?: unknown }} */ (err).code === code;

/**
 * Replaces dist/ by `staging`; another build finishing at the same moment may win, which is as good.
 * @param {string} staging
 */
function swapIn(staging) {
  const live = join(root, OUT_DIR);
  for (let attempt = 1; ; attempt++) {
    const old = `${staging}.old`;
    try {
      renameSync(live, old);
    } catch (err) {
      if (!isCode(err, 'ENOENT')) throw err;
    }
    try {
      renameSync(staging, live);
      rmSync(old, { recursive: true, force: true });
      return;
    } catch (err) {
      rmSync(old, { recursive: true, force: true });
      // Another build put its dist/ in between our two renames: move it aside and try again.
      if (!(isCode(err, 'ENOTEMPTY') || isCode(err, 'EEXIST')) || attempt >= 5) throw err;
    }
  }
}

const args = process.argv.slice(2);
const unknown = args.filter((a) => a !== '--check' && a !== '--force');
if (unknown.length > 0) {
  process.stderr.write(`error: unknown argument ${unknown[0]}; usage: node build/compile.mjs [--check | --force]\n`);
  process.exit(2);
}
const why = staleness(root, compilerName(tsxEsbuild()));
if (args.includes('--check')) {
  process.stdout.write(why === undefined ? `${OUT_DIR}/ is current\n` : `${why}\n`);
  process.exit(why === undefined ? 0 : 3);
}
if (why === undefined && !args.includes('--force')) {
  process.stdout.write(`${OUT_DIR}/ is current: nothing to compile\n`);
} else {
  try {
    await compile();
  } catch (err) {
    process.stderr.write(`error: ${err instanceof Error ? err.message : String(err)}\nThe scripts still run, from src/ through tsx; fix the source and run npm run build again.\n`);
    process.exit(1);
  }
}
