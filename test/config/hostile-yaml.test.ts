// Stack files and runbooks are input from a repository or a shared disk: a
// file of any size or shape must end in exit 0 or exit 2 with file:line:column,
// in time and memory that grow linearly with its size. The run times bounded
// below are hang detectors (a run killed after a minute), not timing assertions:
// the quadratic loader took 4 minutes on the 1 MiB mapping and 10 minutes on a
// 10 MB file; the linear one needs seconds.
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { StackFileError, type StackIssue } from '../../src/config/errors.js';
import { parseStackText } from '../../src/config/load.js';
import { MAX_YAML_BYTES } from '../../src/config/yaml-source.js';
import { RunbookFileError, parseRunbookText } from '../../src/runbook/load.js';
import { runScript, type RunResult } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

const HANG_MS = 60_000;
const show = (r: RunResult): string => `exit ${r.code}\n--- stdout\n${r.stdout.slice(0, 2000)}\n--- stderr\n${r.stderr.slice(0, 4000)}`;

/** Renders stacks/<app>.yaml through the real command line, as operators run it. */
async function render(app: string, text: string): Promise<RunResult & { file: string; out: string }> {
  const stacksDir = temp.stacksDir({ [`${app}.yaml`]: text });
  const out = join(temp.make(), 'compose');
  const result = await runScript('compose', ['--stacks-dir', stacksDir, '--stack', `${app}-dev`, '--out', out], { hangAfterMs: HANG_MS });
  return { ...result, file: join(stacksDir, `${app}.yaml`), out };
}

function stackIssues(text: string): StackIssue[] {
  try {
    parseStackText(text, 'shop.yaml');
  } catch (err) {
    if (err instanceof StackFileError) return err.issues;
    throw err;
  }
  return [];
}

const where = (i: StackIssue): string => `${i.position.line}:${i.position.column} ${i.keyPath}: ${i.message}`;

/** Nine anchors, each a list of nine aliases of the one before: 9^9 strings once expanded. */
function aliasBomb(): string {
  const lines = ['app: bomb', 'x0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]'];
  for (let i = 1; i <= 8; i++) lines.push(`x${i}: &a${i} [${Array.from({ length: 9 }, () => `*a${i - 1}`).join(', ')}]`);
  return `${lines.join('\n')}\nvolumes: {}\nservices: {}\nenvironments: {dev: {}}\n`;
}

describe('aliases', () => {
  test('an alias bomb is exit 2 naming the alias where the expansion goes over the limit', async () => {
    const run = await render('bomb', aliasBomb());
    expect(run.code, show(run)).toBe(2);
    // x6 (line 8) holds 9^7 strings: the first alias of that line crosses the million.
    expect(run.stderr).toContain(`${run.file}:8:10: x6[0]: alias *a5 expands the document beyond 1000000 values (an alias bomb`);
    expect(run.stderr).toContain('fix: write the values out, or use fewer nested aliases');
    expect(existsSync(run.out)).toBe(false);
  });

  test('an alias of a small anchor is still a plain YAML alias', () => {
    const stack = parseStackText(
      yamlText`
        app: shop
        volumes:
          data: { owner: &owner "1000:1000" }
          logs: { owner: *owner }
        services:
          web: { image: shop/web:1, mounts: [data:/data, logs:/logs] }
        environments:
          dev: {}
      `,
      'shop.yaml',
    );
    expect(stack.volumes['logs']?.owner).toBe('1000:1000');
  });

  test('an alias with no anchor before it is named where it is written', () => {
    const issues = stackIssues('app: shop\nvolumes:\n  data: *missing\nservices: {}\nenvironments: {dev: {}}\n');
    expect(issues.map(where)).toEqual(['3:9 volumes.data: alias *missing has no anchor &missing before it']);
  });

  test('an alias inside the value it refers to is refused, not followed round', () => {
    const issues = stackIssues('app: shop\nvolumes: &v\n  data: *v\nservices: {}\nenvironments: {dev: {}}\n');
    expect(issues.map(where)).toEqual(['3:9 volumes.data: alias *v is inside the value anchored as &v, which would contain itself']);
  });
});

describe('size', () => {
  test(`a stack file over ${MAX_YAML_BYTES} bytes is exit 2 naming the line where the limit is crossed`, async () => {
    // 20,000 lines of 64 bytes: byte 1,048,576 is on line 16,385, column 1.
    const line = `# ${'x'.repeat(61)}\n`;
    const run = await render('huge', line.repeat(20_000));
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(`${run.file}:16385:1: (document): the stack file is 1280000 bytes; a stack file may hold at most 1048576 bytes (1 MiB)`);
    expect(existsSync(run.out)).toBe(false);
  });

  test('a stack file that never ends (a link to /dev/zero) is refused after the first MiB, not read forever', async () => {
    const stacksDir = temp.make('stowage-stacks-');
    symlinkSync('/dev/zero', join(stacksDir, 'zero.yaml'));
    const run = await runScript('compose', ['--stacks-dir', stacksDir, '--stack', 'zero-dev', '--out', join(stacksDir, 'out')], { hangAfterMs: HANG_MS });
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(`${join(stacksDir, 'zero.yaml')}:1:1048577: (document): the stack file is more than 1048576 bytes`);
  });

  test('a file of exactly the limit is read', async () => {
    const head = 'app: shop\nvolumes: {data: {}}\nservices: {web: {image: shop/web:1}}\nenvironments: {dev: {}}\n';
    const text = `${head}#${'x'.repeat(MAX_YAML_BYTES - head.length - 1)}`;
    const stacksDir = temp.stacksDir({ 'shop.yaml': text });
    expect(readFileSync(join(stacksDir, 'shop.yaml')).length).toBe(MAX_YAML_BYTES);
    const run = await render('shop', text);
    expect(run.code, show(run)).toBe(0);
  });
});

describe('loading stays linear in the file size', () => {
  test('30,000 volumes load and render', async () => {
    const volumes = Array.from({ length: 30_000 }, (_, i) => `  v${i}: {}\n`).join('');
    const run = await render('big', `app: big\nvolumes:\n${volumes}services:\n  app:\n    image: busybox:1\n    mounts: [v0:/d]\nenvironments:\n  dev: {}\n`);
    expect(run.code, show(run)).toBe(0);
    const names = readFileSync(join(run.out, 'big.yml'), 'utf8').match(/^ {4}name: big_v\d+$/gm) ?? [];
    expect(names).toHaveLength(30_000);
    expect(names.at(-1)).toBe('    name: big_v29999');
  });

  test('a mapping of 100,000 unknown keys is exit 2 with the first problems and how many more there are', async () => {
    // The worst case for the old loader: every key compared with every earlier one, then every problem located by a scan of the mapping.
    const keys = Array.from({ length: 100_000 }, (_, i) => `k${i.toString(36)}: 0`).join(', ');
    const run = await render('wide', `app: wide\nvolumes:\n  data: {${keys}}\nservices: {app: {image: x}}\nenvironments: {dev: {}}\n`);
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(`${run.file}:3:10: volumes.data.k0: unknown key "k0"`);
    expect(run.stderr).toContain('... and 99950 more problems; fix the ones above and run again');
    expect(run.stderr.length).toBeLessThan(50_000);
  });

  test('a repeated key far from the first one is found and named', () => {
    const keys = Array.from({ length: 1_000 }, (_, i) => `k${i}: 0`);
    keys.push('k999: 1');
    const issues = stackIssues(`app: shop\nvolumes:\n  data: {${keys.join(', ')}}\nservices: {}\nenvironments: {dev: {}}\n`);
    expect(issues).toHaveLength(1);
    expect(issues[0]).toMatchObject({ keyPath: 'volumes.data.k999', message: 'duplicate key "k999": a key may appear only once in a mapping' });
  });

  test('a dependency chain of 20,000 services is checked without overflowing the stack', () => {
    const services = Array.from({ length: 20_000 }, (_, i) => `  s${i}: { image: x, dependsOn: [s${(i + 1) % 20_000}] }\n`).join('');
    const issues = stackIssues(`app: shop\nvolumes: {}\nservices:\n${services}environments: {dev: {}}\n`);
    expect(issues).toHaveLength(1);
    expect(issues[0]?.message).toMatch(/^dependency cycle: s0 -> s1 -> s2 -> .* -> s19999 -> s0$/);
  });
});

describe('other YAML inputs: runbooks', () => {
  const HEADER = 'runbook: broken\ntitle: A broken runbook\ndescription: For the tests.\n';

  test('an alias bomb in a runbook is refused with its position (exit 2 from the command line)', async () => {
    const dir = temp.make('stowage-runbooks-');
    const bomb = aliasBomb().split('\n').slice(1, 10).join('\n');
    writeFileSync(join(dir, 'broken.yaml'), `${HEADER}${bomb}\nsteps:\n  - { id: a, title: A, run: [touch, "${join(dir, 'ran')}"] }\n`);
    const run = await runScript('runbook', ['broken', '--stack', 'pim-dev', '--runbooks-dir', dir], { hangAfterMs: HANG_MS });
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toContain(`${join(dir, 'broken.yaml')}:10:10: x6[0]: alias *a5 expands the document beyond 1000000 values`);
    expect(existsSync(join(dir, 'ran'))).toBe(false);
  });

  test('a runbook over the size limit is refused with exit 2 before it is parsed', async () => {
    const dir = temp.make('stowage-runbooks-');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'broken.yaml'), `${HEADER}${`# ${'x'.repeat(61)}\n`.repeat(20_000)}`);
    const run = await runScript('runbook', ['broken', '--stack', 'pim-dev', '--runbooks-dir', dir], { hangAfterMs: HANG_MS });
    expect(run.code, show(run)).toBe(2);
    expect(run.stderr).toMatch(/broken\.yaml:\d+:\d+: \(document\): the runbook is 1280\d+ bytes; a runbook may hold at most 1048576 bytes/);
  });

  test('a repeated key in a runbook is named where it repeats', () => {
    try {
      parseRunbookText(`${HEADER}title: again\nsteps: []\n`, 'broken.yaml');
      expect.unreachable('the runbook was accepted');
    } catch (err) {
      if (!(err instanceof RunbookFileError)) throw err;
      expect(err.issues.map(where)).toEqual(['4:1 title: duplicate key "title": a key may appear only once in a mapping']);
    }
  });
});
