// The compile step (build/compile.mjs, run by npm ci through `prepare`) and the scripts' loader
// (build/entry.mjs): scripts run dist/ only when it was compiled from exactly the sources on disk,
// and src/ through tsx otherwise, so a stale dist/ never runs.
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exec, repoRoot } from '../helpers/engine.js';

const node = process.execPath;
const QUIET = { STOWAGE_DEBUG: undefined, STOWAGE_FROM_SOURCE: undefined };

describe("the repository's dist/", () => {
  it('was compiled from the sources on disk (after changing src/, run npm run build)', async () => {
    const r = await exec(node, ['build/compile.mjs', '--check'], { env: QUIET });
    expect(r.stdout.trim()).toBe('dist/ is current');
    expect(r.code).toBe(0);
  });

  // The same code either way: every script's --help from dist/ equals its --help from src/ through tsx.
  const scripts = readdirSync(join(repoRoot, 'scripts')).filter((n) => n.endsWith('.mjs'));
  it.each(scripts)('scripts/%s runs from dist/ and prints what it prints from src/', async (script) => {
    const compiled = await exec(node, [`scripts/${script}`, '--help'], { env: { ...QUIET, STOWAGE_DEBUG: '1' } });
    const source = await exec(node, [`scripts/${script}`, '--help'], { env: { ...QUIET, STOWAGE_DEBUG: '1', STOWAGE_FROM_SOURCE: '1' } });
    expect(compiled.stderr).toContain('stowage: running dist/');
    expect(source.stderr).toContain('stowage: running src/ (STOWAGE_FROM_SOURCE=1)');
    expect(compiled.code).toBe(0);
    expect(compiled.stdout).toBe(source.stdout);
  });
});

/**
 * A small project laid out like this repository (build/, scripts/, src/cli, src/commands,
 * tsconfig.json, node_modules), whose one command prints a message from another module and
 * the file its code was loaded from.
 */
class Project {
  readonly root: string;

  constructor() {
    this.root = mkdtempSync(join(tmpdir(), 'stowage-build-'));
    cpSync(join(repoRoot, 'build'), join(this.root, 'build'), { recursive: true });
    cpSync(join(repoRoot, 'tsconfig.json'), join(this.root, 'tsconfig.json'));
    symlinkSync(join(repoRoot, 'node_modules'), join(this.root, 'node_modules'));
    writeFileSync(join(this.root, 'package.json'), '{ "type": "module", "private": true }\n');
    this.write('scripts/hello.mjs', "import { runCommand } from '../build/entry.mjs';\n\nawait runCommand('hello', import.meta.url);\n");
    this.write(
      'src/cli/cli.ts',
      [
        'export interface CommandSpec { name: string }',
        'export type Handler = (args: string[]) => Promise<number>;',
        'export async function main(spec: CommandSpec, scriptUrl: string, handler: Handler): Promise<never> {',
        '  const code = await handler(process.argv.slice(2)).catch((err: Error) => {',
        '    process.stderr.write(`${err.stack ?? ""}\\n`);',
        '    return 1;',
        '  });',
        '  process.stdout.write(`${spec.name} ${scriptUrl.endsWith(".mjs") ? "ok" : "?"}\\n`);',
        '  process.exit(code);',
        '}',
        '',
      ].join('\n'),
    );
    this.write('src/lib/message.ts', "export const message: string = 'v1';\n");
    this.write(
      'src/commands/hello.ts',
      [
        "import type { CommandSpec, Handler } from '../cli/cli.js';",
        "import { message } from '../lib/message.js';",
        "export const spec: CommandSpec = { name: 'hello' };",
        'export const handler: Handler = async (args) => {',
        "  if (args[0] === 'throw') throw new Error('boom');",
        "  process.stdout.write(`${message} from ${import.meta.url.split('/').slice(-3).join('/')}\\n`);",
        '  return 0;',
        '};',
        '',
      ].join('\n'),
    );
  }

  write(path: string, text: string): void {
    mkdirSync(join(this.root, path, '..'), { recursive: true });
    writeFileSync(join(this.root, path), text);
  }

  compile(...args: string[]): ReturnType<typeof exec> {
    return exec(node, ['build/compile.mjs', ...args], { cwd: this.root, env: QUIET });
  }

  hello(env: Record<string, string> = {}, args: string[] = []): ReturnType<typeof exec> {
    return exec(node, ['scripts/hello.mjs', ...args], { cwd: this.root, env: { ...QUIET, ...env } });
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

describe('scripts run dist/ only while it matches the sources', () => {
  let project: Project;

  beforeAll(async () => {
    project = new Project();
    const built = await project.compile();
    expect(built.stderr).toBe('');
    expect(built.stdout).toMatch(/^compiled 3 files from src\/ into dist\/ in [\d.]+ s \(esbuild [\d.]+\)\n$/);
  });
  afterAll(() => project.remove());

  it('runs the compiled modules when dist/ is current', async () => {
    const r = await project.hello();
    expect(r.stdout).toBe('v1 from dist/commands/hello.js\nhello ok\n');
    expect(r.code).toBe(0);
    expect((await project.compile('--check')).code).toBe(0);
  });

  it('runs src/ through tsx when asked to (STOWAGE_FROM_SOURCE=1), and says so with STOWAGE_DEBUG=1', async () => {
    const r = await project.hello({ STOWAGE_FROM_SOURCE: '1', STOWAGE_DEBUG: '1' });
    expect(r.stdout).toBe('v1 from src/commands/hello.ts\nhello ok\n');
    expect(r.stderr).toBe('stowage: running src/ (STOWAGE_FROM_SOURCE=1)\n');
  });

  it('points stack traces at src/ with STOWAGE_DEBUG=1 (source maps), at dist/ otherwise', async () => {
    const debug = await project.hello({ STOWAGE_DEBUG: '1' }, ['throw']);
    expect(debug.stderr).toMatch(/^stowage: running dist\/ .*\nError: boom\n +at .*\/src\/commands\/hello\.ts:5:/);
    const plain = await project.hello({}, ['throw']);
    expect(plain.stderr).toMatch(/^Error: boom\n +at .*\/dist\/commands\/hello\.js:/);
  });

  it('compiles nothing when dist/ is current', async () => {
    const before = readFileSync(join(project.root, 'dist/manifest.json'), 'utf8');
    const r = await project.compile();
    expect(r.stdout).toBe('dist/ is current: nothing to compile\n');
    expect(readFileSync(join(project.root, 'dist/manifest.json'), 'utf8')).toBe(before);
  });
});

describe('a stale dist/ never runs', () => {
  let project: Project;

  beforeAll(async () => {
    project = new Project();
    expect((await project.compile()).code).toBe(0);
  });
  afterAll(() => project.remove());

  it('runs the changed source, not the compiled module, when a module imported by the command changed', async () => {
    project.write('src/lib/message.ts', "export const message: string = 'v2';\n");
    const r = await project.hello({ STOWAGE_DEBUG: '1' });
    expect(r.stdout).toBe('v2 from src/commands/hello.ts\nhello ok\n');
    expect(r.stderr).toBe('stowage: running src/ (src/lib/message.ts changed since dist/ was compiled: run npm run build)\n');
    const check = await project.compile('--check');
    expect(check.code).toBe(3);
    expect(check.stdout).toBe('src/lib/message.ts changed since dist/ was compiled: run npm run build\n');
  });

  it('goes by content, not by times: a changed file with its old modification time is still a change', async () => {
    const file = join(project.root, 'src/lib/message.ts');
    project.write('src/lib/message.ts', "export const message: string = 'v1';\n");
    expect((await project.compile()).code).toBe(0);
    const { atime, mtime } = statSync(file);
    project.write('src/lib/message.ts', "export const message: string = 'v3';\n");
    utimesSync(file, atime, mtime);
    expect((await project.hello()).stdout).toBe('v3 from src/commands/hello.ts\nhello ok\n');
  });

  it('runs src/ when a source was added or removed since the build', async () => {
    project.write('src/lib/message.ts', "export const message: string = 'v1';\n");
    expect((await project.compile()).code).toBe(0);
    project.write('src/lib/extra.ts', 'export const extra = 1;\n');
    const added = await project.hello({ STOWAGE_DEBUG: '1' });
    expect(added.stderr).toBe('stowage: running src/ (src/lib/extra.ts is newer than dist/ (not compiled): run npm run build)\n');
    expect((await project.compile()).code).toBe(0);
    rmSync(join(project.root, 'src/lib/extra.ts'));
    const removed = await project.hello({ STOWAGE_DEBUG: '1' });
    expect(removed.stderr).toBe('stowage: running src/ (src/lib/extra.ts was compiled into dist/ and is gone: run npm run build)\n');
    expect(removed.stdout).toBe('v1 from src/commands/hello.ts\nhello ok\n');
  });

  it('runs src/ when a schema changed since the build (its validator in dist/validators/ is old)', async () => {
    project.write('schemas/thing.schema.json', '{ "type": "object" }\n');
    expect((await project.compile()).code).toBe(0);
    expect(readFileSync(join(project.root, 'dist/validators/thing.schema.cjs'), 'utf8')).toContain('compiledFrom');
    project.write('schemas/thing.schema.json', '{ "type": "object", "required": ["a"] }\n');
    const r = await project.hello({ STOWAGE_DEBUG: '1' });
    expect(r.stderr).toBe('stowage: running src/ (schemas/thing.schema.json changed since dist/ was compiled: run npm run build)\n');
    rmSync(join(project.root, 'schemas'), { recursive: true });
  });

  it('runs src/ when the compiler settings changed (tsconfig.json)', async () => {
    expect((await project.compile()).code).toBe(0);
    const tsconfig = readFileSync(join(project.root, 'tsconfig.json'), 'utf8');
    project.write('tsconfig.json', tsconfig.replace('"strict": true', '"strict": true, "useDefineForClassFields": true'));
    const r = await project.hello({ STOWAGE_DEBUG: '1' });
    expect(r.stderr).toBe('stowage: running src/ (tsconfig.json changed since dist/ was compiled: run npm run build)\n');
    project.write('tsconfig.json', tsconfig);
  });

  it('runs src/ when dist/ has no manifest (an interrupted or foreign build)', async () => {
    expect((await project.compile()).code).toBe(0);
    rmSync(join(project.root, 'dist/manifest.json'));
    const r = await project.hello({ STOWAGE_DEBUG: '1' });
    expect(r.stderr).toBe('stowage: running src/ (dist/ is not built (no dist/manifest.json): run npm run build)\n');
    expect(r.stdout).toBe('v1 from src/commands/hello.ts\nhello ok\n');
  });

  it('keeps the previous dist/ whole when a source does not compile, and leaves no staging directory behind', async () => {
    expect((await project.compile('--force')).code).toBe(0);
    const dist = (path: string): string => readFileSync(join(project.root, 'dist', path), 'utf8');
    const [manifest, hello] = [dist('manifest.json'), dist('commands/hello.js')];
    const source = readFileSync(join(project.root, 'src/commands/hello.ts'), 'utf8');
    project.write('src/commands/hello.ts', source.replace('return 0;', 'return 4;'));
    project.write('src/lib/message.ts', "export const message: string = 'v4' +;\n");
    const r = await project.compile();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: cannot compile src/lib/message.ts:');
    expect(r.stderr).toContain('The scripts still run, from src/ through tsx');
    expect([dist('manifest.json'), dist('commands/hello.js')]).toEqual([manifest, hello]);
    expect(readdirSync(project.root).filter((n) => n.startsWith('.dist-'))).toEqual([]);
    project.write('src/commands/hello.ts', source);
    project.write('src/lib/message.ts', "export const message: string = 'v1';\n");
  });
});
