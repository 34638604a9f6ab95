// A Docker engine of a test's own: a second dockerd with its own data-root,
// exec-root and socket, in its own network namespace (started in the host's
// namespace with --bridge none, a second daemon deletes the host's docker0).
// Tests restart it, or take it away, without disturbing the shared engine.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { exec, must } from './engine.js';

export interface PrivateEngine {
  /** DOCKER_HOST for this engine. */
  host: string;
  /** Runs the docker CLI against this engine. */
  docker(...args: string[]): Promise<string>;
  /** Stops the daemon (SIGTERM, as a service manager would), then starts it again. */
  restart(): Promise<void>;
  /** Stops the daemon and waits until it is gone. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** Stops it and removes everything it made. */
  destroy(): Promise<void>;
}

async function waitUntil(what: string, probe: () => Promise<boolean>, tries = 300): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Starts a private engine and loads the given images into it from the shared one. */
export async function startPrivateEngine(images: string[]): Promise<PrivateEngine> {
  const id = randomBytes(3).toString('hex');
  const netns = `stowage-t${id}`;
  // Short paths: containerd's sockets live below the exec-root and unix socket paths are short.
  const base = `/tmp/se${id}`;
  const socket = `${base}/docker.sock`;
  const host = `unix://${socket}`;
  mkdirSync(`${base}/data`, { recursive: true });
  mkdirSync(`${base}/exec`, { recursive: true });
  await must('ip', ['netns', 'add', netns]);
  await must('nsenter', [`--net=/var/run/netns/${netns}`, 'ip', 'link', 'set', 'lo', 'up']);
  let daemon: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const cli = (...args: string[]): Promise<string> => must('docker', ['-H', host, ...args]);
  const start = async (): Promise<void> => {
    const child = spawn(
      'nsenter',
      [`--net=/var/run/netns/${netns}`, 'dockerd', '--data-root', `${base}/data`, '--exec-root', `${base}/exec`, '--pidfile', `${base}/docker.pid`, '--host', host, '--bridge', 'none', '--iptables=false', '--ip6tables=false'],
      { stdio: 'ignore', detached: false },
    );
    daemon = child;
    exited = new Promise((resolve) => child.once('exit', () => resolve()));
    await waitUntil('the private engine to answer', async () => (await exec('docker', ['-H', host, 'info'], { hangAfterMs: 10_000 })).code === 0);
  };
  const stop = async (): Promise<void> => {
    if (daemon === undefined || daemon.exitCode !== null) return;
    daemon.kill('SIGTERM');
    await exited;
    daemon = undefined;
  };
  await start();
  for (const image of images) {
    const loaded = await exec('sh', ['-c', 'docker save "$1" | docker -H "$2" load', 'sh', image, host]);
    if (loaded.code !== 0) throw new Error(`cannot load ${image} into the private engine: ${loaded.stderr}`);
  }
  return {
    host,
    docker: cli,
    async restart() {
      await stop();
      await start();
    },
    stop,
    start,
    async destroy() {
      await stop();
      await exec('ip', ['netns', 'delete', netns]);
      await exec('sh', ['-c', 'umount -R "$1"/exec 2>/dev/null; umount -R "$1"/data 2>/dev/null; true', 'sh', base]);
      rmSync(base, { recursive: true, force: true });
    },
  };
}
