import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { makeDirectories, planDataset, shareOf, stampDirectories, summaryOf, writeFiles, type DatasetSpec, type DatasetSummary } from './dataset.js';

const WORKER = fileURLToPath(new URL('./gen-worker.mjs', import.meta.url));

/** Children still running, so an interrupted bench can stop them. */
export const generatorChildren = new Set<number>();

/** Writes the seeded data set under root with one process per core. */
export async function generateDataset(root: string, spec: DatasetSpec, workers = Math.max(1, Math.min(4, availableParallelism()))): Promise<DatasetSummary> {
  const started = Date.now();
  const plan = planDataset(spec);
  makeDirectories(root, plan);
  await Promise.all(
    Array.from({ length: workers }, (_, k) =>
      new Promise<void>((resolve, reject) => {
        const child = spawn(process.execPath, [WORKER, root, String(spec.bytes), String(spec.seed), String(spec.textShare ?? 0.6), String(k), String(workers)], {
          stdio: ['ignore', 'ignore', 'pipe'],
        });
        if (child.pid !== undefined) generatorChildren.add(child.pid);
        const err: Buffer[] = [];
        child.stderr.on('data', (c: Buffer) => err.push(c));
        child.on('error', reject);
        child.on('close', (code, signal) => {
          if (child.pid !== undefined) generatorChildren.delete(child.pid);
          if (code === 0) resolve();
          else reject(new Error(`data set worker ${k} failed (${signal ?? `exit ${code ?? '?'}`}): ${Buffer.concat(err).toString().trim()}`));
        });
      }),
    ),
  );
  stampDirectories(root, plan);
  return summaryOf(plan, (Date.now() - started) / 1000);
}

export async function runWorker(argv: string[]): Promise<void> {
  const [root, bytes, seed, textShare, k, n] = argv;
  if (root === undefined || n === undefined) throw new Error('usage: gen-worker.mjs ROOT BYTES SEED TEXTSHARE K N');
  const spec: DatasetSpec = { bytes: Number(bytes), seed: Number(seed), textShare: Number(textShare) };
  const plan = planDataset(spec);
  writeFiles(root, spec.seed, shareOf(plan, Number(k), Number(n)));
}
