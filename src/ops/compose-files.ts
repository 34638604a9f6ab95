import { existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { basename, join, relative, resolve } from 'node:path';
import { createTwoFilesPatch } from 'diff';
import { writeFileAtomic } from '../util/durable-file.js';
import { loadStackFile } from '../config/load.js';
import { resolveModel } from '../config/model.js';
import { listStackFiles, selectStack } from '../config/select.js';
import { renderStackFiles, type RenderedFile } from '../compose/render.js';

/** Renders every environment of one stack file (declared order; the first is the base file). */
export function renderStackFile(stackFile: string, outDir: string): RenderedFile[] {
  const { stack } = loadStackFile(stackFile);
  const models = Object.keys(stack.environments).map((env) => resolveModel(stack, env, { stackFile }));
  return renderStackFiles(models, resolve(outDir), `stacks/${basename(stackFile)}`);
}

/** `--stack S` renders that stack's file set; without it, every stack file in the directory. */
export function renderRequested(stacksDir: string, outDir: string, stackArg: string | undefined): RenderedFile[] {
  if (stackArg !== undefined) return renderStackFile(selectStack(stackArg, stacksDir).file, outDir);
  return listStackFiles(stacksDir).flatMap((file) => renderStackFile(file, outDir));
}

/** The files a write would create or replace: those missing or different in `outDir` (current ones are left alone). */
export function outdatedFiles(files: RenderedFile[], outDir: string): RenderedFile[] {
  return files.filter((file) => {
    const target = join(outDir, file.name);
    return !(existsSync(target) && readFileSync(target, 'utf8') === file.content);
  });
}

export function writeRendered(files: RenderedFile[], outDir: string): string[] {
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  for (const file of outdatedFiles(files, outDir)) {
    const target = join(outDir, file.name);
    writeFileAtomic(target, file.content);
    written.push(target);
  }
  return written;
}

export interface FileDrift {
  file: string;
  state: 'missing' | 'changed' | 'stale';
  diff: string;
}

/**
 * Compares committed Compose files with a fresh render. Files in the directory
 * that no stack produces any more (a removed environment) count as stale.
 */
export function composeDrift(files: RenderedFile[], composeDir: string, checkStale: boolean): FileDrift[] {
  const drift: FileDrift[] = [];
  const label = (name: string): string => relative(process.cwd(), join(composeDir, name)) || name;
  for (const file of files) {
    const path = join(composeDir, file.name);
    const committed = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
    if (committed === file.content) continue;
    drift.push({
      file: label(file.name),
      state: committed === undefined ? 'missing' : 'changed',
      diff: createTwoFilesPatch(`${label(file.name)} (committed)`, `${label(file.name)} (rendered)`, committed ?? '', file.content),
    });
  }
  if (checkStale && existsSync(composeDir)) {
    const expected = new Set(files.map((f) => f.name));
    for (const name of readdirSync(composeDir).sort()) {
      if (!/\.(yml|env\.example)$/.test(name) || expected.has(name)) continue;
      drift.push({ file: label(name), state: 'stale', diff: `${label(name)}: no stack file renders it any more; delete it\n` });
    }
  }
  return drift;
}
