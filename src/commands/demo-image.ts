import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import tar from 'tar-stream';
import { command, type Command } from '../engine/command.js';

/**
 * The demo's image, built without a registry and without root: a root
 * filesystem of the host's busybox and sqlite3 (with the libraries `ldd`
 * lists) is written as a tar stream, owners set in the headers, and turned
 * into an image by `docker import`.
 */

export const BUSYBOX = '/bin/busybox';
export const SQLITE3 = '/usr/bin/sqlite3';

export interface HostTools {
  problems: string[];
  packages: string[];
}

/** What the image needs from the host; each missing piece names the Debian package that provides it. */
export function checkHostTools(): HostTools {
  const problems: string[] = [];
  const packages: string[] = [];
  if (!existsSync(BUSYBOX)) {
    problems.push(`${BUSYBOX} is missing: the demo image is built from the host's busybox`);
    packages.push('busybox-static');
  }
  if (!existsSync(SQLITE3)) {
    problems.push(`${SQLITE3} is missing: the demo app writes a SQLite database`);
    packages.push('sqlite3');
  }
  if (spawnSync('ldd', ['--version'], { stdio: 'ignore' }).error !== undefined) {
    problems.push('ldd is missing: it lists the libraries sqlite3 needs');
    packages.push('libc-bin');
  }
  return { problems, packages };
}

/** Shared libraries of an executable, as `ldd` resolves them (none for a static binary). */
export function librariesOf(file: string): string[] {
  const result = spawnSync('ldd', [file], { encoding: 'utf8' });
  if (result.status !== 0) return [];
  if (/not found/.test(result.stdout)) throw new Error(`ldd ${file} reports missing libraries:\n${result.stdout}`);
  const libs = new Set<string>();
  for (const line of result.stdout.split('\n')) {
    const arrow = /=>\s+(\/\S+)/.exec(line);
    const direct = /^\s*(\/\S+)\s+\(/.exec(line);
    const path = arrow?.[1] ?? direct?.[1];
    if (path !== undefined) libs.add(path);
  }
  return [...libs].sort();
}

function applets(): string[] {
  const result = spawnSync(BUSYBOX, ['--list'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${BUSYBOX} --list failed: ${result.stderr}`);
  return result.stdout.split('\n').filter((a) => /^[a-z0-9_.[-]+$/.test(a) && a !== 'busybox');
}

interface Entry {
  name: string;
  type: 'directory' | 'file' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  content?: Buffer;
  linkname?: string;
}

/** The image's root filesystem: directories with their owners, busybox and its applets, sqlite3 and its libraries, users root and app (1000). */
export function rootfsEntries(): Entry[] {
  const entries = new Map<string, Entry>();
  const dir = (name: string, mode = 0o755, uid = 0, gid = 0): void => {
    for (let parent = dirname(name); parent !== '.' && parent !== '/' && !entries.has(parent); parent = dirname(parent)) entries.set(parent, { name: parent, type: 'directory', mode: 0o755, uid: 0, gid: 0 });
    entries.set(name, { name, type: 'directory', mode, uid, gid });
  };
  const file = (name: string, content: Buffer, mode: number): void => {
    dir(dirname(name));
    entries.set(name, { name, type: 'file', mode, uid: 0, gid: 0, content });
  };
  const hostFile = (path: string): void => file(path.slice(1), readFileSync(path), statSync(path).mode & 0o7777);
  for (const d of ['bin', 'etc', 'usr/bin', 'usr/local/bin', 'var/tmp', 'proc', 'sys', 'dev']) dir(d);
  dir('root', 0o700);
  dir('tmp', 0o1777);
  dir('home/app', 0o755, 1000, 1000);
  // A new named volume takes the owner and mode of the image's directory it is mounted on.
  dir('data', 0o750, 1000, 1000);
  dir('uploads', 0o750, 1000, 1000);
  file('bin/busybox', readFileSync(BUSYBOX), 0o755);
  for (const applet of applets()) entries.set(`bin/${applet}`, { name: `bin/${applet}`, type: 'symlink', mode: 0o777, uid: 0, gid: 0, linkname: 'busybox' });
  hostFile(SQLITE3);
  for (const lib of [...librariesOf(BUSYBOX), ...librariesOf(SQLITE3)]) hostFile(lib);
  file('etc/passwd', Buffer.from('root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n'), 0o644);
  file('etc/group', Buffer.from('root:x:0:\napp:x:1000:\n'), 0o644);
  file('etc/nsswitch.conf', Buffer.from('passwd: files\ngroup: files\nhosts: files dns\n'), 0o644);
  return [...entries.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** The root filesystem as one tar archive in memory (a few MB). */
export async function rootfsTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = new Promise<void>((resolve, reject) => {
    pack.on('data', (chunk: unknown) => {
      if (chunk instanceof Uint8Array) chunks.push(Buffer.from(chunk));
    });
    pack.on('end', () => resolve());
    pack.on('error', reject);
  });
  const mtime = new Date('2024-01-01T00:00:00Z');
  for (const e of entries) {
    const header = { name: e.name, mode: e.mode, uid: e.uid, gid: e.gid, mtime };
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (e.type === 'file') pack.entry({ ...header, type: 'file', size: e.content?.length ?? 0 }, e.content ?? Buffer.alloc(0), done);
      else if (e.type === 'symlink') pack.entry({ ...header, type: 'symlink', linkname: e.linkname ?? '' }, done);
      else pack.entry({ ...header, type: 'directory' }, done);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

export function importCommand(tag: string): Command {
  return command(
    'docker',
    // No labels: a container inherits its image's, and the demo's container must carry exactly what its stack declares.
    ['import', '--change', 'ENV PATH=/usr/local/bin:/usr/bin:/bin', '--change', 'CMD ["sh"]', '--message', 'built by npm run demo', '-', tag],
    `import the demo image ${tag}`,
  );
}
