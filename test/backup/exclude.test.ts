import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BUSYBOX, IDLE_COMMAND, Sandbox, createVolume, hostShell, inVolume, runService, uniqueProject } from '../helpers/engine.js';

const sb = new Sandbox(uniqueProject('ex'));
let volume: string;

beforeAll(async () => {
  sb.writeStack(`app: ${sb.project}
volumes:
  data:
    backup:
      method: tar
      exclude: [cache, tmp/scratch.bin]
services:
  app:
    image: ${BUSYBOX}
    command: ${JSON.stringify(IDLE_COMMAND)}
    mounts: ["data:/data"]
environments:
  dev: {}
`);
  volume = await createVolume(sb.project, 'data');
  await inVolume(volume, 'cd /d && mkdir -p cache/deep tmp && echo keep > keep.txt && echo x > cache/deep/c && echo y > tmp/scratch.bin && echo z > tmp/other.txt');
  await runService(sb.project, 'app', { image: BUSYBOX, command: IDLE_COMMAND, mounts: [['data', '/data']] });
});

afterAll(async () => {
  await sb.cleanup();
});

describe('volumes.<v>.backup.exclude', () => {
  it('leaves the excluded paths (and everything below them) out of the artifact and keeps the rest', async () => {
    const r = await sb.cli('backup', ['--to', sb.to, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc: unknown = JSON.parse(r.stdout);
    const path = typeof doc === 'object' && doc !== null && 'path' in doc && typeof doc.path === 'string' ? doc.path : '';
    const listing = (await hostShell('zstd -dc "$1"/data.tar.zst | tar -tf -', path)).split('\n').filter((l) => l !== '');
    expect(listing).toContain('./keep.txt');
    expect(listing).toContain('./tmp/other.txt');
    expect(listing.some((l) => l.startsWith('./cache'))).toBe(false);
    expect(listing).not.toContain('./tmp/scratch.bin');
  });
});
