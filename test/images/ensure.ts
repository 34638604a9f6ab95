// The local images the tests and the benchmark run (no registry is reachable
// here): present ones are reused, missing ones are built once by build.sh from
// the host's binaries. `npm test` (vitest's global setup, the bats suite's
// setup_suite) and `npm run bench` call this, so neither depends on an earlier
// `.ci/run` or `npm run images`.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export type TestImage = 'busybox' | 'sqlite' | 'postgres';

export const ALL_TEST_IMAGES: readonly TestImage[] = ['busybox', 'sqlite', 'postgres'];

/** The tag prefix every test uses; a test of this module builds into one of its own. */
export const DEFAULT_PREFIX = 'stowage-test';

const VERSIONS: Record<TestImage, string> = { busybox: '1', sqlite: '1', postgres: '15' };

const buildScript = fileURLToPath(new URL('./build.sh', import.meta.url));

export function testImageTag(image: TestImage, prefix: string = DEFAULT_PREFIX): string {
  return `${prefix}/${image}:${VERSIONS[image]}`;
}

export interface EnsureOptions {
  /** Tag prefix (build.sh's STOWAGE_TEST_IMAGE_PREFIX); default stowage-test. */
  prefix?: string;
  /** Extra environment for docker and build.sh (e.g. DOCKER_HOST). */
  env?: Record<string, string>;
  /** Where build.sh's progress goes while it builds. */
  log?: (line: string) => void;
}

export interface EnsureResult {
  /** Tags that were missing and have been built now. */
  built: string[];
  /** Tags that were there already and are reused. */
  reused: string[];
}

function exists(tag: string, env: NodeJS.ProcessEnv): boolean {
  return spawnSync('docker', ['image', 'inspect', '--format', '{{.Id}}', tag], { env, stdio: 'ignore' }).status === 0;
}

function runBuild(names: TestImage[], env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [buildScript, ...names], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    let pending = '';
    const forward = (chunk: string): void => {
      stderr += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) log(line);
    };
    child.stdout.setEncoding('utf8').on('data', forward);
    child.stderr.setEncoding('utf8').on('data', forward);
    child.on('error', (err) => reject(new Error(`cannot run bash ${buildScript}: ${err.message}`)));
    child.on('close', (code) => {
      if (pending !== '') log(pending);
      resolve({ code: code ?? 1, stderr });
    });
  });
}

/**
 * Makes sure the images exist, building the missing ones with build.sh (it
 * waits for a concurrent build of the same prefix instead of racing it).
 * Throws with build.sh's reason and what to do when they cannot be had: no
 * engine, not root, a package that cannot be installed.
 */
export async function ensureTestImages(images: readonly TestImage[], options: EnsureOptions = {}): Promise<EnsureResult> {
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, STOWAGE_TEST_IMAGE_PREFIX: prefix };
  const log = options.log ?? (() => undefined);
  // Without an engine nothing can be looked up: build.sh then says why and what to do.
  const engine = spawnSync('docker', ['version', '--format', '{{.Server.Version}}'], { env, stdio: 'ignore' }).status === 0;
  const missing = engine ? images.filter((image) => !exists(testImageTag(image, prefix), env)) : [...images];
  const reused = images.filter((image) => !missing.includes(image)).map((image) => testImageTag(image, prefix));
  if (missing.length === 0) return { built: [], reused };
  const built = missing.map((image) => testImageTag(image, prefix));
  if (engine) log(`building the test images ${built.join(', ')} (once: later runs reuse them)`);
  const result = await runBuild(missing, env, log);
  const reason = result.stderr
    .split('\n')
    .filter((line) => line.includes('ERROR'))
    .map((line) => line.replace(/^build\.sh: ERROR: /, ''))
    .join('\n');
  if (result.code !== 0) {
    throw new Error(`the test images ${built.join(', ')} are missing and could not be built: ${reason || `bash ${buildScript} exited with ${result.code}`}`);
  }
  const still = built.filter((tag) => !exists(tag, env));
  if (still.length > 0) throw new Error(`bash ${buildScript} ${missing.join(' ')} succeeded, yet ${still.join(', ')} ${still.length === 1 ? 'is' : 'are'} still missing`);
  return { built, reused };
}
