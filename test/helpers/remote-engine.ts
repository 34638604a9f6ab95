// A Docker engine on "another host", reachable only over SSH, for the tests of
// stacks that run elsewhere. It is a second dockerd with its own data-root,
// exec-root and socket, in a network namespace of its own (a second daemon in
// the host's namespace with --bridge none deletes the host's docker0) and in a
// mount namespace of its own: its socket and its host directories (under
// `hostRoot`) exist only there. On this machine the same paths hold decoys, so
// anything that read or wrote them here instead of on the engine's host would
// be caught. An OpenSSH server on 127.0.0.1 (own host key, one authorised key)
// runs in the same mount namespace, with DOCKER_HOST set for its logins, so
// `ssh ... docker system dial-stdio` (what the docker CLI runs for ssh://)
// reaches the second engine and nothing else does.
//
// The client side is what an operator's ~/.ssh/config would hold (key,
// known_hosts, strict host key checking), given to ssh by a wrapper first on
// PATH: the docker CLI offers no way to pass ssh options. Everything is started
// and stopped by the test that makes it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { exec, killTree, must, type RunResult } from './engine.js';

export interface RemoteEngine {
  /** The engine address: ssh://root@127.0.0.1:<port>. */
  url: string;
  /** Environment for processes that reach it as an operator's machine would (PATH with the configured ssh, connections shared). */
  env: Record<string, string>;
  /** A directory that exists on the engine's host only (a 1 GiB tmpfs); on this machine the same path holds decoys. */
  hostRoot: string;
  /** A directory on the engine's host backed by this machine's disk, for large files (also only there). */
  hostDisk: string;
  /** The docker CLI against the remote engine, over SSH. */
  docker(...args: string[]): Promise<string>;
  /** The same, resolving with the result whatever the exit code. */
  tryDocker(...args: string[]): Promise<RunResult>;
  /** A command on the engine's host (its mount namespace), for looking at its directories. */
  onHost(program: string, ...args: string[]): Promise<string>;
  /** Stops the SSH server and drops every open SSH connection (the engine keeps running). */
  stopSsh(): Promise<void>;
  startSsh(): Promise<void>;
  /** Restarts sshd with socket forwarding forbidden (AllowStreamLocalForwarding no), or allowed again. */
  socketForwarding(allowed: boolean): Promise<void>;
  /** Replaces the known host key with another key and closes the shared connection: the server now looks like an impostor. */
  impostorHostKey(): Promise<void>;
  /** Puts the real host key back. */
  trueHostKey(): void;
  /** Stops everything and removes everything it made. */
  destroy(): Promise<void>;
  /** The same, synchronously, for a signal handler about to exit. */
  destroySync(): void;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

async function waitUntil(what: string, probe: () => Promise<boolean>, tries = 300): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Starts a remote engine and loads the given images into it (over SSH, as an operator would). */
export async function startRemoteEngine(images: string[]): Promise<RemoteEngine> {
  const id = randomBytes(3).toString('hex');
  const netns = `stowage-r${id}`;
  // Short paths: containerd's sockets live below the exec-root and unix socket paths are short.
  const base = `/tmp/sr${id}`;
  const nsDir = `${base}/ns`;
  const mountNs = `${nsDir}/mnt`;
  const remote = `${base}/remote`;
  const socket = `${remote}/run/docker.sock`;
  const hostRoot = `${remote}/srv`;
  // The engine's data-root is seen at ${remote}/docker on its host only: volume mountpoints it reports do not exist here.
  const dataRoot = `${remote}/docker`;
  const store = `${base}/store`;
  const hostDisk = `${remote}/disk`;
  const sshDir = `${base}/sshd`;
  const clientDir = `${base}/client`;
  const binDir = `${base}/bin`;
  for (const dir of [store, `${base}/disk`, `${base}/exec`, nsDir, remote, sshDir, clientDir, binDir]) mkdirSync(dir, { recursive: true });

  // The mount namespace outlives its processes: bound to a file on a private mount.
  await must('mount', ['--bind', nsDir, nsDir]);
  await must('mount', ['--make-private', nsDir]);
  writeFileSync(mountNs, '');
  await must('unshare', [`--mount=${mountNs}`, '--propagation', 'private', 'true']);
  const inNs = (...argv: string[]): string[] => [`--mount=${mountNs}`, ...argv];
  // The engine's host has its own /…/remote: a tmpfs there, invisible here.
  await must('nsenter', inNs('mount', '-t', 'tmpfs', '-o', 'size=1g,mode=0755', 'tmpfs', remote));
  await must('nsenter', inNs('mkdir', '-p', `${remote}/run`, hostRoot, dataRoot, hostDisk));
  await must('nsenter', inNs('mount', '--bind', store, dataRoot));
  await must('nsenter', inNs('mount', '--bind', `${base}/disk`, hostDisk));
  await must('ip', ['netns', 'add', netns]);
  await must('nsenter', [`--net=/var/run/netns/${netns}`, 'ip', 'link', 'set', 'lo', 'up']);

  let daemon: ChildProcess | undefined;
  const daemonExited: Array<Promise<void>> = [];
  const startDaemon = async (): Promise<void> => {
    const child = spawn(
      'nsenter',
      inNs(`--net=/var/run/netns/${netns}`, 'dockerd', '--data-root', dataRoot, '--exec-root', `${base}/exec`, '--pidfile', `${base}/docker.pid`, '--host', `unix://${socket}`, '--bridge', 'none', '--iptables=false', '--ip6tables=false'),
      { stdio: 'ignore' },
    );
    daemon = child;
    daemonExited.push(new Promise((resolve) => child.once('exit', () => resolve())));
    await waitUntil('the remote engine to answer', async () => (await exec('nsenter', inNs('docker', '-H', `unix://${socket}`, 'info'), { hangAfterMs: 10_000 })).code === 0);
  };

  // sshd: its own host key, one authorised key, root logins (the only user here) whose docker reaches the remote engine.
  const port = await freePort();
  await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${sshDir}/host_ed25519`]);
  await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${sshDir}/impostor_ed25519`]);
  await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', `${clientDir}/id_ed25519`]);
  writeFileSync(`${sshDir}/authorized_keys`, readFileSync(`${clientDir}/id_ed25519.pub`));
  const sshdConfig = (forwarding: boolean): string =>
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${sshDir}/host_ed25519`,
      `PidFile ${sshDir}/sshd.pid`,
      `AuthorizedKeysFile ${sshDir}/authorized_keys`,
      // The files live under /tmp, which sshd's strict mode refuses.
      'StrictModes no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `SetEnv DOCKER_HOST=unix://${socket}`,
      `AllowStreamLocalForwarding ${forwarding ? 'yes' : 'no'}`,
      '',
    ].join('\n');
  writeFileSync(`${sshDir}/sshd_config`, sshdConfig(true));
  const knownHost = (keyFile: string): string => `[127.0.0.1]:${port} ${readFileSync(keyFile, 'utf8').trim().split(' ').slice(0, 2).join(' ')}\n`;
  const knownHosts = `${clientDir}/known_hosts`;
  writeFileSync(knownHosts, knownHost(`${sshDir}/host_ed25519.pub`));
  writeFileSync(
    `${clientDir}/config`,
    [
      'Host *',
      `  IdentityFile ${clientDir}/id_ed25519`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${knownHosts}`,
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      // One connection for the many docker commands of a run, as docs/remote-engines.md recommends.
      '  ControlMaster auto',
      `  ControlPath ${clientDir}/cm-%C`,
      '  ControlPersist 60',
      '',
    ].join('\n'),
  );
  writeFileSync(`${binDir}/ssh`, `#!/bin/sh\nexec /usr/bin/ssh -F '${clientDir}/config' "$@"\n`);
  chmodSync(`${binDir}/ssh`, 0o755);
  // sshd's privilege separation directory (Debian's service makes it at boot).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });

  let sshd: ChildProcess | undefined;
  const url = `ssh://root@127.0.0.1:${port}`;
  const env = { PATH: `${binDir}:${process.env['PATH'] ?? ''}` };
  const viaSsh = (args: string[]): Promise<RunResult> => exec('docker', args, { env: { ...env, DOCKER_HOST: url, DOCKER_CONTEXT: undefined }, hangAfterMs: 120_000 });
  const startSsh = async (): Promise<void> => {
    const child = spawn('nsenter', inNs('/usr/sbin/sshd', '-D', '-e', '-f', `${sshDir}/sshd_config`), { stdio: 'ignore' });
    sshd = child;
    await waitUntil('the SSH server to let docker through', async () => (await viaSsh(['version', '--format', '{{.Server.Version}}'])).code === 0);
  };
  const stopSsh = async (): Promise<void> => {
    const child = sshd;
    sshd = undefined;
    if (child?.pid === undefined || child.exitCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    // The listener and every session it forked (each holds one connection and its docker dial-stdio).
    await killTree(child.pid);
    await gone;
  };

  /** Everything but the processes: the network namespace, the mount namespace (its mounts go with it) and the files. */
  const removeSync = (): void => {
    spawnSync('ip', ['netns', 'delete', netns], { stdio: 'ignore' });
    spawnSync('umount', [mountNs], { stdio: 'ignore' });
    spawnSync('umount', [nsDir], { stdio: 'ignore' });
    spawnSync('sh', ['-c', 'umount -R "$1"/exec 2>/dev/null; true', 'sh', base], { stdio: 'ignore' });
    rmSync(base, { recursive: true, force: true });
  };
  const destroy = async (): Promise<void> => {
    await exec(`${binDir}/ssh`, ['-O', 'exit', '-p', String(port), 'root@127.0.0.1']);
    await stopSsh();
    if (daemon !== undefined && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      await Promise.all(daemonExited);
    }
    removeSync();
  };
  const destroySync = (): void => {
    spawnSync(`${binDir}/ssh`, ['-O', 'exit', '-p', String(port), 'root@127.0.0.1'], { stdio: 'ignore', timeout: 10_000 });
    if (sshd?.pid !== undefined) {
      // The listener and its sessions: the descendants of the pid, found by their parent ids.
      spawnSync('sh', ['-c', 'kill_tree() { for c in $(ps -o pid= --ppid "$1"); do kill_tree "$c"; done; kill -9 "$1" 2>/dev/null; }; kill_tree "$1"', 'sh', String(sshd.pid)], { stdio: 'ignore' });
    }
    if (daemon?.pid !== undefined && daemon.exitCode === null) {
      daemon.kill('SIGTERM');
      spawnSync('sh', ['-c', 'i=0; while kill -0 "$1" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done', 'sh', String(daemon.pid)], { stdio: 'ignore' });
    }
    removeSync();
  };

  try {
    await startDaemon();
    await startSsh();
    for (const image of images) {
      // From the shared engine (the test's own environment) into the remote one, over SSH.
      const loaded = await exec('sh', ['-c', 'docker save "$1" | DOCKER_HOST="$2" docker load', 'sh', image, url], { env, hangAfterMs: 300_000 });
      if (loaded.code !== 0) throw new Error(`cannot load ${image} into the remote engine: ${loaded.stderr}`);
    }
  } catch (err) {
    await destroy();
    throw err;
  }

  return {
    url,
    env,
    hostRoot,
    hostDisk,
    async docker(...args) {
      const r = await viaSsh(args);
      if (r.code !== 0) throw new Error(`docker ${args.join(' ')} on ${url} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      return r.stdout;
    },
    tryDocker: (...args) => viaSsh(args),
    onHost: (program, ...args) => must('nsenter', inNs(program, ...args)),
    stopSsh,
    startSsh,
    async socketForwarding(allowed) {
      await exec(`${binDir}/ssh`, ['-O', 'exit', '-p', String(port), 'root@127.0.0.1']);
      await stopSsh();
      writeFileSync(`${sshDir}/sshd_config`, sshdConfig(allowed));
      await startSsh();
    },
    async impostorHostKey() {
      writeFileSync(knownHosts, knownHost(`${sshDir}/impostor_ed25519.pub`));
      // The next command must make a new connection, which checks the host key (a shared one would not).
      await exec(`${binDir}/ssh`, ['-O', 'exit', '-p', String(port), 'root@127.0.0.1']);
    },
    trueHostKey: () => writeFileSync(knownHosts, knownHost(`${sshDir}/host_ed25519.pub`)),
    destroy,
    destroySync,
  };
}
