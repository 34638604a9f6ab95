// Temporary directories and stack files for tests.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Creates temporary directories and removes all of them in one call (from afterEach/afterAll). */
export class TempDirs {
  private readonly made: string[] = [];

  make(prefix = 'stowage-test-'): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    this.made.push(dir);
    return dir;
  }

  /** A fresh directory holding `<name>` files with the given contents, e.g. `{ 'shop.yaml': text }`. */
  stacksDir(files: Record<string, string>): string {
    const dir = this.make('stowage-stacks-');
    for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
    return dir;
  }

  removeAll(): void {
    for (const dir of this.made.splice(0)) rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Strips the indentation common to all lines and the leading newline, so a stack
 * file can be written indented inside a test and its line numbers still read
 * naturally: the first line after the opening backtick is line 1.
 */
export function yamlText(strings: TemplateStringsArray, ...values: unknown[]): string {
  const raw = strings.reduce((text, part, i) => text + part + (i < values.length ? String(values[i]) : ''), '');
  const lines = raw.replace(/^\n/, '').replace(/\n[ \t]*$/, '\n').split('\n');
  const indents = lines.filter((l) => l.trim() !== '').map((l) => /^ */.exec(l)?.[0].length ?? 0);
  const strip = indents.length === 0 ? 0 : Math.min(...indents);
  return lines.map((l) => l.slice(strip)).join('\n');
}
