import { spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { testImageTag } from '../test/images/ensure.js';
import type { RemoteEngine } from '../test/helpers/remote-engine.js';
import { generatorChildren } from './generate.js';
import { runningChildren } from './measure.js';

/**
 * Everything the benchmark creates, so it can all be removed at the end, after
 * a failure and on Ctrl-C. Cleanup is synchronous on purpose: it also runs
 * from a signal handler just before the process exits.
 */

export const PROJECT = 'stowagebench';
export const IMAGE = testImageTag('busybox');

export class Resources {
  readonly containers = new Set<string>();
  readonly volumes = new Set<string>();
  readonly dirs = new Set<string>();
  /** The engine of the SSH phase while it runs (it removes itself when the phase ends). */
  private remoteEngine: RemoteEngine | undefined;
  private cleaned = false;

  remote(engine: RemoteEngine | undefined): void {
    this.remoteEngine = engine;
  }

  container(name: string): string {
    this.containers.add(name);
    return name;
  }

  volume(name: string): string {
    this.volumes.add(name);
    return name;
  }

  dir(path: string): string {
    this.dirs.add(path);
    return path;
  }

  /** Stops children, removes containers (ours and stowage's helpers for the bench project), volumes and directories. Returns what could not be removed. */
  cleanup(log: (line: string) => void): string[] {
    if (this.cleaned) return [];
    this.cleaned = true;
    const problems: string[] = [];
    for (const child of runningChildren) {
      if (child.exitCode === null && child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGTERM');
        } catch {
          // already gone
        }
      }
    }
    // The SSH phase's engine, its sshd and namespaces, and everything in them.
    this.remoteEngine?.destroySync();
    this.remoteEngine = undefined;
    for (const pid of generatorChildren) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const labelled = (kind: 'ps' | 'volume'): string[] => {
      const args = kind === 'ps' ? ['ps', '--all', '--quiet', '--filter', `label=stowage.project=${PROJECT}`] : ['volume', 'ls', '--quiet', '--filter', `label=stowage.project=${PROJECT}`];
      const r = spawnSync('docker', args, { encoding: 'utf8', timeout: 30_000 });
      return r.status === 0 ? r.stdout.split('\n').filter((l) => l.trim() !== '') : [];
    };
    const containers = [...new Set([...this.containers, ...labelled('ps')])];
    if (containers.length > 0) {
      const r = spawnSync('docker', ['rm', '--force', '--volumes', ...containers], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0 && !/No such container/.test(r.stderr ?? '')) problems.push(`docker rm ${containers.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
    }
    const volumes = [...new Set([...this.volumes, ...labelled('volume')])];
    for (const v of volumes) {
      const r = spawnSync('docker', ['volume', 'rm', '--force', v], { encoding: 'utf8', timeout: 60_000 });
      if (r.status !== 0) problems.push(`docker volume rm ${v}: ${r.error?.message ?? r.stderr.trim()}`);
    }
    for (const dir of [...this.dirs].reverse()) {
      if (!existsSync(dir)) continue;
      try {
        rmSync(dir, { recursive: true, force: true });
      } catch (err) {
        // Files written by containers may not be ours to delete: let a container remove them.
        spawnSync('docker', ['run', '--rm', '--network', 'none', '--user', '0:0', '--mount', `type=bind,source=${dir},target=/x`, IMAGE, 'sh', '-c', 'rm -rf /x/* /x/.[!.]* /x/..?*'], { stdio: 'ignore', timeout: 300_000 });
        try {
          rmSync(dir, { recursive: true, force: true });
        } catch {
          problems.push(`rm -rf ${dir}: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
    }
    if (problems.length > 0) log(`cleanup left things behind:\n  ${problems.join('\n  ')}`);
    return problems;
  }
}
