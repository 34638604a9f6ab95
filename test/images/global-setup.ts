// vitest's global setup: the engine tests need the local test images, so a
// fresh machine builds them here, once, before any test file starts (build.sh
// says what to do when it cannot: no engine, not root).
import { ALL_TEST_IMAGES, ensureTestImages } from './ensure.js';

export default async function setup(): Promise<void> {
  await ensureTestImages(ALL_TEST_IMAGES, { log: (line) => process.stderr.write(`${line}\n`) });
}
