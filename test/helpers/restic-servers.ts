// Real restic servers on 127.0.0.1 for the repository tests, started and
// stopped by the tests themselves: OpenSSH's sshd (Debian openssh-server) with
// its own host key, config and authorised key in a temporary directory, as an
// `sftp:` repository, and `rclone serve restic` (Debian rclone) as a `rest:`
// repository. restic reaches sshd through `ssh`; a wrapper first on PATH adds
// `-F <config>` (sshd's client reads only the user's own ~/.ssh otherwise).
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { exec, must, waitFor } from './engine.js';

export interface Server {
  /** restic's repository string for a repository named `name` on this server. */
  repository(name: string): string;
  /** Where the server keeps its repositories on this machine. */
  dataDir: string;
  stop(): Promise<void>;
  start(): Promise<void>;
  running(): boolean;
}

export async function freePort(): Promise<number> {
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

function answers(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function stopChild(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((done) => {
    child.once('exit', () => done());
    child.kill('SIGTERM');
  });
}

export interface SftpServer extends Server {
  /** Put first on PATH for every process that talks to the server (stowage, restic). */
  binDir: string;
}

/** sshd on 127.0.0.1:<free port>, serving SFTP to root with a key made here; its repositories live in `<root>/data`. */
export async function startSftpServer(root: string): Promise<SftpServer> {
  const dir = join(root, 'sshd');
  const dataDir = join(root, 'sftp-data');
  const binDir = join(dir, 'bin');
  mkdirSync(binDir, { recursive: true });
  mkdirSync(dataDir, { recursive: true });
  // sshd's privilege separation directory (Debian's package makes it at boot).
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
  await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_key')]);
  await must('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'client_key')]);
  const clientPub = (await must('cat', [join(dir, 'client_key.pub')])).trim();
  writeFileSync(join(dir, 'authorized_keys'), `${clientPub}\n`, { mode: 0o600 });
  const port = await freePort();
  writeFileSync(
    join(dir, 'sshd_config'),
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_key')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      'StrictModes no',
      'UsePAM no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const hostPub = (await must('cat', [join(dir, 'host_key.pub')])).trim();
  writeFileSync(join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${hostPub}\n`);
  writeFileSync(
    join(dir, 'ssh_config'),
    [
      'Host stowage-test-sftp',
      '  HostName 127.0.0.1',
      `  Port ${port}`,
      '  User root',
      `  IdentityFile ${join(dir, 'client_key')}`,
      '  IdentitiesOnly yes',
      `  UserKnownHostsFile ${join(dir, 'known_hosts')}`,
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '  ConnectTimeout 5',
      '  ServerAliveInterval 2',
      '  ServerAliveCountMax 2',
      '',
    ].join('\n'),
  );
  writeFileSync(join(binDir, 'ssh'), `#!/bin/sh\nexec /usr/bin/ssh -F '${join(dir, 'ssh_config')}' "$@"\n`);
  chmodSync(join(binDir, 'ssh'), 0o755);
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn('/usr/sbin/sshd', ['-D', '-e', '-f', join(dir, 'sshd_config')], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    await waitFor(`sshd on port ${port} (${err})`, async () => child?.exitCode === null && (await answers(port)), 100, 100);
    const probe = await exec(join(binDir, 'ssh'), ['stowage-test-sftp', 'true']);
    if (probe.code !== 0) throw new Error(`ssh to the test sshd failed: ${probe.stderr}`);
  };
  await start();
  return {
    binDir,
    dataDir,
    repository: (name) => `sftp:stowage-test-sftp:${join(dataDir, name)}`,
    stop: () => stopChild(child),
    start,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
  };
}

/** rclone serve restic on 127.0.0.1:<free port>, its repositories in `<root>/rest-data`. */
export async function startRestServer(root: string): Promise<Server> {
  const dataDir = join(root, 'rest-data');
  mkdirSync(dataDir, { recursive: true });
  const config = join(root, 'rclone.conf');
  writeFileSync(config, '');
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async (): Promise<void> => {
    child = spawn('rclone', ['serve', 'restic', '--addr', `127.0.0.1:${port}`, dataDir], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, RCLONE_CONFIG: config } });
    let err = '';
    child.stderr?.on('data', (c: Buffer) => (err += c.toString()));
    await waitFor(`rclone serve restic on port ${port} (${err})`, async () => child?.exitCode === null && /Serving restic REST API/.test(err) && (await answers(port)), 200, 100);
  };
  await start();
  return {
    dataDir,
    repository: (name) => `rest:http://127.0.0.1:${port}/${name}`,
    stop: () => stopChild(child),
    start,
    running: () => child !== undefined && child.exitCode === null && child.signalCode === null,
  };
}
