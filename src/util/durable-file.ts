import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/**
 * Temp file in the same directory, fsync, rename, fsync the directory: readers
 * (node_exporter, the next run, status.mjs) see the old file or the new one,
 * never half of one, and a power cut after the call cannot lose the rename.
 */
export function writeFileAtomic(file: string, content: string, mode = 0o644): void {
  try {
    writeDurably(file, content, mode);
  } catch (err) {
    throw new Error(`cannot write ${file}: ${err instanceof Error ? err.message : String(err)}; check that its directory is writable and has space`);
  }
}

function writeDurably(file: string, content: string, mode: number): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true });
  // Not ending in the target's extension: node_exporter's textfile collector must not pick up the temp file.
  const temp = join(dir, `.${basename(file)}.${process.pid}.tmp`);
  try {
    const fd = openSync(temp, 'w', mode);
    try {
      writeSync(fd, content);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
  fsyncDirectory(dir);
}

function fsyncDirectory(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // Some filesystems refuse fsync on a directory; the rename itself has happened.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}


/** fsync a file or directory by path, so a crash cannot lose what was written. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
