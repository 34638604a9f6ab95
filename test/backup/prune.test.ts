// backup --prune applies the stack's retention to complete sets, and never
// removes the newest set that verifies, whatever the policy says: when the
// newest sets are damaged, the last good one stays. It works under the
// project lock (a restore reading a set waits for it).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { prune } from '../../src/backup/retention.js';
import { parseStackText } from '../../src/config/load.js';
import { resolveModel } from '../../src/config/model.js';
import { Runner } from '../../src/engine/command.js';
import { BUSYBOX, projectContainers, removeProject, sha256Of, uniqueProject } from '../helpers/engine.js';
import { TempDirs } from '../helpers/stacks.js';

const temp = new TempDirs();
const project = uniqueProject('pr');
afterAll(async () => {
  temp.removeAll();
  await removeProject(project);
});

const stackFile = join(temp.make('stowage-prune-stacks-'), `${project}.yaml`);
const model = resolveModel(
  parseStackText(`app: ${project}\nhelper: { image: ${BUSYBOX} }\nbackups:\n  retention: { last: 1, daily: 0, weekly: 0, monthly: 0 }\nvolumes:\n  data: {}\nservices:\n  app:\n    image: ${BUSYBOX}\n    mounts: [data:/data]\nenvironments:\n  dev: {}\n`, stackFile),
  'dev',
  { stackFile },
);

/** A complete set whose artifact is a real tar.zst; `damaged` flips a byte after the manifest is written. */
function makeSet(root: string, name: string, damaged: boolean): string {
  const dir = join(root, project, name);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'data.tar.zst');
  execFileSync('sh', ['-c', 'd=$(mktemp -d) && printf x > "$d/x" && tar -C "$d" -cf - ./x | zstd -q -c > "$1" && rm -rf "$d"', 'sh', file]);
  const manifest = { format: 1, project, env: 'dev', created: new Date().toISOString(), artifacts: [{ volume: 'data', file: 'data.tar.zst', method: 'tar', format: 'tar+zstd', bytes: statSync(file).size, sha256: sha256Of(file) }] };
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(manifest));
  if (damaged) execFileSync('sh', ['-c', 'printf "\\377" | dd of="$1" bs=1 seek=20 conv=notrunc status=none', 'sh', file]);
  return dir;
}

describe('prune', () => {
  it('keeps what the policy keeps, removes the rest', async () => {
    const root = temp.make('stowage-prune-');
    const [a, b, c] = ['20260101T000000Z', '20260102T000000Z', '20260103T000000Z'].map((n) => makeSet(root, n, false));
    const result = await prune(model, root, new Runner(), undefined);
    expect(result.kept).toEqual([c]);
    expect(result.removed).toEqual([a, b]);
    expect([a, b, c].map((s) => existsSync(s ?? ''))).toEqual([false, false, true]);
  });

  it('never removes the newest set that verifies, even when the policy would', async () => {
    const root = temp.make('stowage-prune-');
    const a = makeSet(root, '20260101T000000Z', false);
    const b = makeSet(root, '20260102T000000Z', false);
    const c = makeSet(root, '20260103T000000Z', true);
    const result = await prune(model, root, new Runner(), undefined);
    expect(result.protectedSet).toBe('20260102T000000Z');
    expect(result.kept).toEqual([b, c]);
    expect(result.removed).toEqual([a]);
    expect(existsSync(b)).toBe(true);
  });

  it('with --dry-run prints what it would remove and removes nothing', async () => {
    const root = temp.make('stowage-prune-');
    const a = makeSet(root, '20260101T000000Z', false);
    makeSet(root, '20260102T000000Z', false);
    const printed: string[] = [];
    const result = await prune(model, root, new Runner({ dryRun: true, printPlan: (l) => printed.push(l) }), undefined);
    expect(result.removed).toEqual([a]);
    expect(printed).toEqual([`rm -rf ${a}`]);
    expect(existsSync(a)).toBe(true);
  });

  it('leaves no lock behind', async () => {
    expect(await projectContainers(project)).toEqual([]);
  });
});
