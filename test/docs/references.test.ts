// Code, tests and docs cite docs/architecture.md by section
// ("docs/architecture.md, command line") or link to its headings: every cited
// section must exist there. Nothing cites DESIGN.md, a file that is not in the
// repository.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../helpers/run.js';

const ROOTS = ['README.md', '.ci', 'bench', 'demo', 'docs', 'policies', 'runbooks', 'schemas', 'scripts', 'src', 'stacks', 'test'];
const TEXT = /\.(ts|mjs|js|bats|bash|sh|md|ya?ml|json)$|^run$/;

function files(path: string): string[] {
  if (statSync(path).isDirectory()) return readdirSync(path).flatMap((name) => (name === 'node_modules' ? [] : files(join(path, name))));
  return TEXT.test(path.split('/').pop() ?? '') ? [path] : [];
}

const sources = ROOTS.flatMap((root) => files(join(repoRoot, root))).map((path) => ({ path: relative(repoRoot, path), text: readFileSync(path, 'utf8') }));
const architecture = readFileSync(join(repoRoot, 'docs/architecture.md'), 'utf8');
const headings = [...architecture.matchAll(/^#{2,3} (.+)$/gm)].map((m) => (m[1] ?? '').toLowerCase());
/** GitHub's anchor for a heading. */
const slug = (heading: string): string => heading.replace(/[^a-z0-9 -]/g, '').replace(/ /g, '-');

describe('references to the architecture document', () => {
  it('nothing cites DESIGN.md', () => {
    const citing = sources.filter((s) => /DESIGN\.md/.test(s.text) && s.path !== 'test/docs/references.test.ts').map((s) => s.path);
    expect(citing).toEqual([]);
  });

  it('every section cited as "docs/architecture.md, <section>" is a heading there', () => {
    const cited = sources.flatMap((s) => [...s.text.matchAll(/docs\/architecture\.md, "?([A-Za-z ]+?)"?[).:;]/g)].map((m) => ({ path: s.path, section: (m[1] ?? '').toLowerCase() })));
    expect(cited.length).toBeGreaterThan(10);
    expect(cited.filter((c) => !headings.some((h) => h.includes(c.section)))).toEqual([]);
  });

  it('every link to a heading of architecture.md finds it', () => {
    const links = sources.flatMap((s) => [...s.text.matchAll(/architecture\.md#([a-z0-9-]+)/g)].map((m) => ({ path: s.path, anchor: m[1] ?? '' })));
    expect(links.length).toBeGreaterThan(0);
    expect(links.filter((l) => !headings.map(slug).includes(l.anchor))).toEqual([]);
  });
});
