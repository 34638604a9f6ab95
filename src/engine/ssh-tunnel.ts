import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { privateScratch } from '../session/scratch.js';
import { command, type Command } from './command.js';
import { parseEngineUrl, type EngineEndpoint } from './endpoint.js';

/**
 * The fast way to an engine over SSH. For `ssh://` the docker CLI starts `ssh
 * ... docker system dial-stdio` for every command and pushes the bytes
 * through that second docker process: measured here, reading 1 GiB through
 * the archive endpoint took 27 s that way and 3 s on the engine's socket,
 * while the same SSH connection carries 1 GiB in about 5 s. So for a run
 * against an `ssh://` engine stowage opens one SSH connection of its own that
 * forwards a private local socket to the engine's socket on the server, and
 * its docker commands use that socket. Where that cannot be set up (the
 * server forbids socket forwarding, its engine is not on a socket, setpriv is
 * missing, STOWAGE_SSH_TRANSPORT=dial-stdio), the docker CLI's own ssh://
 * transport is used, which reports SSH problems (a changed host key, a
 * refused login) itself.
 *
 * The tunnel is an implementation detail of how bytes travel: plans and
 * messages name the ssh:// engine, and a pasted plan uses DOCKER_HOST=ssh://.
 */

interface SshTarget {
  user: string | undefined;
  host: string;
  port: number | undefined;
}

function sshTarget(engine: EngineEndpoint): SshTarget | undefined {
  const parsed = parseEngineUrl(engine.url);
  if (!parsed.ok || parsed.url.scheme !== 'ssh') return undefined;
  // ssh takes an IPv6 address without the brackets a URL needs.
  return { user: parsed.url.user, host: parsed.url.host.replace(/^\[(.*)\]$/, '$1'), port: parsed.url.port };
}

/** The options the docker CLI gives ssh too, then where to log in. */
function loginArgs(target: SshTarget): string[] {
  return ['-o', 'ConnectTimeout=30', ...(target.user === undefined ? [] : ['-l', target.user]), ...(target.port === undefined ? [] : ['-p', String(target.port)]), '--', target.host];
}

/** Asks the server's docker CLI where its engine is (its own DOCKER_HOST or context decides, as for dial-stdio). */
export function engineSocketQuery(target: SshTarget): Command {
  return command('ssh', ['-T', '-o', 'BatchMode=yes', ...loginArgs(target), 'docker', 'context', 'inspect', '--format', '{{.Endpoints.docker.Host}}'], 'ask the server where its Docker engine listens', false);
}

/** `^` puts these first and keeps the rest of ssh's default list (OpenSSH 8.2 and later). */
const PREFERRED_CIPHERS = '^aes128-gcm@openssh.com,aes256-gcm@openssh.com';

/**
 * The tunnel: one SSH connection of its own (not a shared ControlMaster
 * connection, whose lifetime is not ours), forwarding `socket` here to
 * `remoteSocket` there, killed with this process even on SIGKILL (setpriv's
 * parent-death signal).
 */
export function tunnelCommand(target: SshTarget, socket: string, remoteSocket: string): Command {
  return command(
    'setpriv',
    [
      '--pdeathsig', 'KILL', '--',
      'ssh', '-nNT',
      '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes', '-o', 'ControlMaster=no', '-o', 'ControlPath=none',
      '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4', '-o', 'StreamLocalBindUnlink=yes',
      // AES-GCM first (hardware AES makes it the cheapest per byte), then the client's own defaults.
      '-o', `Ciphers=${PREFERRED_CIPHERS}`,
      '-L', `${socket}:${remoteSocket}`,
      ...loginArgs(target),
    ],
    'forward a local socket to the engine over SSH',
    false,
  );
}

interface Tunnel {
  socket: string;
  dir: string;
  child: ChildProcess;
  /** What ssh said when the connection ended. */
  stderr: string;
}

type TunnelState = { kind: 'open'; tunnel: Tunnel } | { kind: 'unavailable'; reason: string };

const states = new Map<string, TunnelState>();
const opening = new Map<string, Promise<void>>();

const keyOf = (engine: EngineEndpoint): string => engine.url;

/** The local socket that reaches `engine`, when a tunnel to it is open. */
export function tunnelSocket(engine: EngineEndpoint): string | undefined {
  const state = states.get(keyOf(engine));
  return state?.kind === 'open' && state.tunnel.child.exitCode === null && state.tunnel.child.signalCode === null ? state.tunnel.socket : undefined;
}

/** Why the tunnel to `engine` is gone, when it was open and its SSH connection ended. */
export function tunnelEnded(engine: EngineEndpoint): string | undefined {
  const state = states.get(keyOf(engine));
  if (state?.kind !== 'open' || (state.tunnel.child.exitCode === null && state.tunnel.child.signalCode === null)) return undefined;
  const said = state.tunnel.stderr.trim().split('\n').filter((l) => l.trim() !== '').at(-1);
  return `the SSH connection to ${engine.url} ended${said === undefined ? '' : ` (${said})`}`;
}

/** Why no tunnel is used for `engine` (for --json and messages), when it was tried. */
export function tunnelUnavailable(engine: EngineEndpoint): string | undefined {
  const state = states.get(keyOf(engine));
  return state?.kind === 'unavailable' ? state.reason : undefined;
}

/** Runs a setup command with the shell's own environment (it must not go through a tunnel being set up). */
function runQuiet(cmd: Command, timeoutMs: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(cmd.program, cmd.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ code: 127, stdout, stderr: err.message });
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? 1, stdout, stderr });
    });
  });
}

let exitHook = false;

function closeAll(): void {
  for (const state of states.values()) {
    if (state.kind !== 'open') continue;
    state.tunnel.child.kill('SIGTERM');
    rmSync(state.tunnel.dir, { recursive: true, force: true });
  }
}

/**
 * Opens the tunnel to an `ssh://` engine once per process; for any other
 * engine, or when it cannot be opened, it does nothing and docker's own
 * transport is used.
 */
export function prepareTransport(engine: EngineEndpoint): Promise<void> {
  const key = keyOf(engine);
  if (states.has(key)) return Promise.resolve();
  const target = sshTarget(engine);
  if (target === undefined) return Promise.resolve();
  let pending = opening.get(key);
  if (pending === undefined) {
    pending = open(engine, target).then(
      (state) => void states.set(key, state),
      (err: unknown) => void states.set(key, { kind: 'unavailable', reason: err instanceof Error ? err.message : String(err) }),
    );
    opening.set(key, pending);
  }
  return pending;
}

async function open(engine: EngineEndpoint, target: SshTarget): Promise<TunnelState> {
  if (process.env['STOWAGE_SSH_TRANSPORT'] === 'dial-stdio') return { kind: 'unavailable', reason: 'STOWAGE_SSH_TRANSPORT=dial-stdio' };
  if (spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status !== 0) return { kind: 'unavailable', reason: 'setpriv (util-linux) is not installed' };
  // A failure here (host key, login) is left to docker's transport, which reports it with ssh's own words.
  const asked = await runQuiet(engineSocketQuery(target), 60_000);
  const remote = asked.stdout.trim();
  if (asked.code !== 0 || !remote.startsWith('unix:///')) {
    return { kind: 'unavailable', reason: asked.code !== 0 ? `the server's docker did not say where its engine is (${asked.stderr.trim().split('\n').at(-1) ?? ''})` : `the server's engine is not on a socket (${remote})` };
  }
  const dir = privateScratch('ssh');
  const socket = join(dir, 'docker.sock');
  const cmd = tunnelCommand(target, socket, remote.slice('unix://'.length));
  const child = spawn(cmd.program, cmd.args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'] });
  const tunnel: Tunnel = { socket, dir, child, stderr: '' };
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (tunnel.stderr = (tunnel.stderr + chunk).slice(-4096)));
  child.on('error', () => undefined);
  // Not a reason to stay alive: the run ends when its work does.
  child.unref();
  (child.stderr as { unref?: () => void } | null)?.unref?.();
  if (!exitHook) {
    exitHook = true;
    process.on('exit', closeAll);
  }
  const ready = await waitFor(() => existsSync(socket) || child.exitCode !== null || child.signalCode !== null, 35_000);
  if (!ready || !existsSync(socket) || child.exitCode !== null) {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    return { kind: 'unavailable', reason: `the SSH tunnel did not start (${tunnel.stderr.trim().split('\n').at(-1) ?? 'no message'})` };
  }
  // The server may forbid socket forwarding: that shows only when a connection goes through.
  const probe = await runQuiet(command('docker', ['-H', `unix://${socket}`, 'version', '--format', '{{.Server.Version}}'], 'ask the engine through the tunnel', false), 60_000);
  if (probe.code !== 0) {
    child.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
    return { kind: 'unavailable', reason: `the server does not forward to its engine's socket (${(tunnel.stderr.trim() || probe.stderr.trim()).split('\n').at(-1) ?? ''})` };
  }
  return { kind: 'open', tunnel };
}

function waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  return new Promise((resolve) => {
    const check = (): void => {
      if (done()) resolve(true);
      else if (Date.now() > until) resolve(false);
      else setTimeout(check, 25);
    };
    check();
  });
}
