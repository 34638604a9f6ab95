// Which engine a command talks to, whether it is on this machine, and what
// every docker child process is given to reach it (src/engine/endpoint.ts).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EngineSpec } from '../../src/config/model.js';
import { CommandFailed, Runner, command, startStreaming } from '../../src/engine/command.js';
import { localPathRuledOut } from '../../src/engine/local-path.js';
import { engineSocketQuery, tunnelCommand } from '../../src/engine/ssh-tunnel.js';
import {
  currentEngine, dockerEnvironment, enginePlanLines, environmentEngine, parseEngineUrl, resolveEngine, selectEngine, withEngine, type EngineEndpoint,
} from '../../src/engine/endpoint.js';

const PROD: EngineSpec = { url: 'ssh://deploy@mail.example.org:2222', tlsCertPath: undefined, declaredAt: 'stacks/digidig.yaml environments.prod.engine' };
const TLS: EngineSpec = { url: 'tcp://docker.example.org:2376', tlsCertPath: '/etc/stowage/certs', declaredAt: 'stacks/pim.yaml environments.prod.engine' };

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A Docker config directory with a context made by the real docker CLI. */
function dockerConfigWith(context: string, host: string, current: boolean): string {
  const dir = mkdtempSync(join(tmpdir(), 'stowage-docker-config-'));
  dirs.push(dir);
  execFileSync('docker', ['context', 'create', context, '--docker', `host=${host}`], { env: { ...process.env, DOCKER_CONFIG: dir }, stdio: 'ignore' });
  if (current) execFileSync('docker', ['context', 'use', context], { env: { ...process.env, DOCKER_CONFIG: dir }, stdio: 'ignore' });
  return dir;
}

describe('which engine: --engine, then the stack file, then DOCKER_HOST, then the Docker context', () => {
  const env = { DOCKER_HOST: 'tcp://shell.example.org:2376', HOME: '/nonexistent' };

  it('--engine overrides the stack file and the shell', () => {
    expect(resolveEngine({ flag: 'ssh://root@other.example.org', stack: PROD, env })).toMatchObject({ url: 'ssh://root@other.example.org', source: 'flag', origin: '--engine' });
  });

  it("the stack file's engine overrides DOCKER_HOST", () => {
    expect(resolveEngine({ stack: PROD, env })).toMatchObject({ url: PROD.url, source: 'stack', origin: PROD.declaredAt });
  });

  it('without either, DOCKER_HOST decides', () => {
    expect(resolveEngine({ env })).toMatchObject({ url: 'tcp://shell.example.org:2376', source: 'DOCKER_HOST' });
  });

  it('without DOCKER_HOST, DOCKER_CONTEXT names a context whose endpoint is read where the docker CLI keeps it', () => {
    const config = dockerConfigWith('prod', 'ssh://deploy@ctx.example.org', false);
    expect(environmentEngine({ DOCKER_CONFIG: config, DOCKER_CONTEXT: 'prod' })).toMatchObject({ url: 'ssh://deploy@ctx.example.org', source: 'context', context: 'prod', local: false, remote: true });
  });

  it('without DOCKER_CONTEXT, the current context of the docker config decides', () => {
    const config = dockerConfigWith('vm', 'unix:///home/me/.colima/docker.sock', true);
    expect(environmentEngine({ DOCKER_CONFIG: config })).toMatchObject({ url: 'unix:///home/me/.colima/docker.sock', source: 'context', context: 'vm', local: false });
  });

  it('a context that cannot be read is named, and counts as not local', () => {
    const config = mkdtempSync(join(tmpdir(), 'stowage-docker-config-'));
    dirs.push(config);
    writeFileSync(join(config, 'config.json'), JSON.stringify({ currentContext: 'gone' }));
    expect(environmentEngine({ DOCKER_CONFIG: config })).toMatchObject({ url: 'context:gone', source: 'context', local: false, remote: false });
  });

  it('nothing set: the local socket, the docker CLI default', () => {
    const config = mkdtempSync(join(tmpdir(), 'stowage-docker-config-'));
    dirs.push(config);
    expect(environmentEngine({ DOCKER_CONFIG: config })).toMatchObject({ url: 'unix:///var/run/docker.sock', source: 'default', local: true });
  });
});

describe('whether host paths in the stack are this machine paths (engineIsLocal)', () => {
  const local = (url: string): boolean => resolveEngine({ flag: url }).local;

  it.each(['unix:///var/run/docker.sock', 'unix:///run/docker.sock'])('%s, the standard local socket: yes', (url) => {
    expect(local(url)).toBe(true);
  });

  it.each([
    ['ssh://deploy@mail.example.org', 'another host over SSH'],
    ['tcp://127.0.0.1:2376', 'TCP, even to this machine: the engine may run in a VM'],
    ['unix:///tmp/forwarded.sock', 'another socket: forwarded from elsewhere, a VM, a rootless engine'],
    ['unix:///home/me/.docker/desktop/docker.sock', 'Docker Desktop: a VM'],
  ])('%s (%s): no', (url) => {
    expect(local(url)).toBe(false);
  });
});

describe('the local fast path', () => {
  it('is ruled out before any proof for an engine that is not certainly on this machine', () => {
    expect(localPathRuledOut(resolveEngine({ stack: PROD }))).toBe(`the engine ${PROD.url} (${PROD.declaredAt}) is not on this machine`);
    expect(localPathRuledOut(resolveEngine({ flag: 'unix:///tmp/forwarded.sock' }))).toContain('is not on this machine');
  });

  it('may be tried for the standard local socket', () => {
    expect(localPathRuledOut(resolveEngine({ flag: 'unix:///var/run/docker.sock' }))).toBeUndefined();
  });
});

describe('engine addresses', () => {
  it.each([
    ['ssh://deploy@mail.example.org', { scheme: 'ssh', user: 'deploy', host: 'mail.example.org', port: undefined }],
    ['ssh://mail.example.org:2222', { scheme: 'ssh', user: undefined, host: 'mail.example.org', port: 2222 }],
    ['tcp://docker.example.org:2376', { scheme: 'tcp', host: 'docker.example.org', port: 2376 }],
    ['unix:///var/run/docker.sock', { scheme: 'unix', path: '/var/run/docker.sock' }],
  ])('%s is read', (text, url) => {
    expect(parseEngineUrl(text)).toEqual({ ok: true, url });
  });

  it.each([
    ['mail.example.org', 'is not an engine address'],
    ['http://mail.example.org', 'scheme http:// is not an engine address'],
    ['unix://var/run/docker.sock', 'the socket path is not absolute'],
    ['tcp://docker.example.org', 'names no port'],
    ['ssh://deploy@mail.example.org/var/run/docker.sock', 'has a path, query or fragment after the host'],
  ])('%s is refused: %s', (text, problem) => {
    const parsed = parseEngineUrl(text);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toContain(problem);
  });

  it('a password is refused without being repeated', () => {
    const parsed = parseEngineUrl('ssh://deploy:hunter2@mail.example.org');
    expect(parsed.ok ? '' : `${parsed.problem} ${parsed.fix}`).not.toContain('hunter2');
  });
});

describe('what a docker child process is given', () => {
  const base = { PATH: '/usr/bin', DOCKER_HOST: 'tcp://shell:2376', DOCKER_CONTEXT: 'laptop', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/home/me/.docker' };

  it("the stack file's engine replaces the shell's choice: DOCKER_HOST set, context and TLS of the shell gone", () => {
    const env = dockerEnvironment(resolveEngine({ stack: PROD }), base);
    expect(env).toEqual({ PATH: '/usr/bin', DOCKER_HOST: PROD.url });
  });

  it("a tcp:// engine of the stack file gets the stack file's TLS directory", () => {
    const env = dockerEnvironment(resolveEngine({ stack: TLS }), base);
    expect(env).toEqual({ PATH: '/usr/bin', DOCKER_HOST: TLS.url, DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/etc/stowage/certs' });
  });

  it("--engine keeps the shell's TLS settings, which is how a tcp:// engine given on the command line is reached", () => {
    const env = dockerEnvironment(resolveEngine({ flag: 'tcp://other:2376' }), base);
    expect(env).toEqual({ PATH: '/usr/bin', DOCKER_HOST: 'tcp://other:2376', DOCKER_TLS_VERIFY: '1', DOCKER_CERT_PATH: '/home/me/.docker' });
  });

  it("an engine the shell chose leaves the shell's environment as it is", () => {
    expect(dockerEnvironment(environmentEngine(base), base)).toEqual(base);
  });

  it('the Runner runs commands with that environment', async () => {
    const engine = resolveEngine({ stack: PROD });
    const result = await withEngine(engine, () => new Runner().run(command('sh', ['-c', 'echo "$DOCKER_HOST|${DOCKER_CONTEXT-unset}"'], 'print the engine', false)));
    expect(result.stdout.trim()).toBe(`${PROD.url}|unset`);
  });

  it('streams started for an engine get it too', async () => {
    const proc = startStreaming(command('sh', ['-c', 'echo "$DOCKER_HOST"'], 'print the engine', false), { stdin: 'ignore', stdout: 'pipe' }, resolveEngine({ stack: TLS }));
    const chunks: Buffer[] = [];
    proc.child.stdout?.on('data', (c: Buffer) => chunks.push(c));
    await proc.done;
    expect(Buffer.concat(chunks).toString().trim()).toBe(TLS.url);
  });

  it('engines of concurrent scopes do not mix (the --all forms visit several)', async () => {
    const seen = await Promise.all(
      [PROD, TLS].map((spec) =>
        withEngine(resolveEngine({ stack: spec }), async () => {
          await new Promise((r) => setTimeout(r, 20));
          return (await new Runner().run(command('sh', ['-c', 'echo "$DOCKER_HOST"'], 'print', false))).stdout.trim();
        }),
      ),
    );
    expect(seen).toEqual([PROD.url, TLS.url]);
  });

  it('a selected engine holds for the rest of the process, and a scope overrides it', async () => {
    const selected = resolveEngine({ stack: PROD });
    selectEngine(selected);
    expect(currentEngine()).toBe(selected);
    const scoped = resolveEngine({ stack: TLS });
    expect(await withEngine(scoped, () => Promise.resolve(currentEngine()))).toBe(scoped);
    expect(currentEngine()).toBe(selected);
  });
});

describe('the SSH tunnel to an ssh:// engine, as commands', () => {
  const target = { user: 'deploy', host: 'mail.example.org', port: 2222 };

  it("asks the server's docker where its engine listens, as dial-stdio would reach it", () => {
    expect([engineSocketQuery(target).program, ...engineSocketQuery(target).args]).toEqual([
      'ssh', '-T', '-o', 'BatchMode=yes', '-o', 'ConnectTimeout=30', '-l', 'deploy', '-p', '2222', '--', 'mail.example.org',
      'docker', 'context', 'inspect', '--format', '{{.Endpoints.docker.Host}}',
    ]);
  });

  it('forwards a private socket over a connection of its own that dies with this process', () => {
    const cmd = tunnelCommand(target, '/tmp/stowage-0/ssh-1-2-x/docker.sock', '/var/run/docker.sock');
    expect([cmd.program, ...cmd.args]).toEqual([
      'setpriv', '--pdeathsig', 'KILL', '--',
      'ssh', '-nNT', '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes', '-o', 'ControlMaster=no', '-o', 'ControlPath=none',
      '-o', 'ServerAliveInterval=15', '-o', 'ServerAliveCountMax=4', '-o', 'StreamLocalBindUnlink=yes',
      '-o', 'Ciphers=^aes128-gcm@openssh.com,aes256-gcm@openssh.com',
      '-L', '/tmp/stowage-0/ssh-1-2-x/docker.sock:/var/run/docker.sock',
      '-o', 'ConnectTimeout=30', '-l', 'deploy', '-p', '2222', '--', 'mail.example.org',
    ]);
  });
});

describe('--dry-run: the plan names the engine and can be pasted to reach it', () => {
  it('an engine of the stack file: DOCKER_HOST exported, the rest of the shell choice unset', () => {
    expect(enginePlanLines(resolveEngine({ stack: PROD }))).toEqual([
      `# engine: ${PROD.url} (${PROD.declaredAt})`,
      'unset DOCKER_CONTEXT DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_TLS',
      `export DOCKER_HOST=${PROD.url}`,
    ]);
  });

  it('an engine of the shell: the same choice, written out', () => {
    expect(enginePlanLines(environmentEngine({ DOCKER_HOST: 'ssh://me@box' }))).toEqual(['# engine: ssh://me@box (DOCKER_HOST)', 'export DOCKER_HOST=ssh://me@box']);
  });
});

describe('why an engine over SSH could not be reached', () => {
  const engine: EngineEndpoint = resolveEngine({ stack: PROD });
  const failed = (stderr: string): string => new CommandFailed(command('docker', ['ps'], 'list containers', false), { code: 1, stdout: '', stderr }, engine).message;

  it('a host key that does not match: possibly an attack, nothing changed, how to check', () => {
    const message = failed(
      'error during connect: Get "http://docker.example.com/v1.50/containers/json": command [ssh -o ConnectTimeout=30 -T -l deploy -p 2222 -- mail.example.org docker system dial-stdio] has exited with exit status 255, make sure the URL is valid, and Docker 18.09 or later is installed on the remote host: stderr=@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key verification failed.\n',
    );
    expect(message).toContain(`cannot reach the Docker engine ${PROD.url} (${PROD.declaredAt})`);
    expect(message).toContain('the SSH host key of mail.example.org does not match the one in known_hosts: nothing was changed');
  });

  it('a refused login: which key to install', () => {
    expect(failed('error during connect: Get "http://docker.example.com/v1.50/containers/json": command [ssh ...] has exited with exit status 255: stderr=deploy@mail.example.org: Permission denied (publickey).\n')).toContain(
      'the SSH login to ssh://deploy@mail.example.org:2222 was refused: add your public key',
    );
  });

  it('a connection refused: the engine is named and ssh says why', () => {
    const message = failed('error during connect: Get "http://docker.example.com/v1.50/containers/json": command [ssh ...] has exited with exit status 255, make sure the URL is valid: stderr=ssh: connect to host mail.example.org port 2222: Connection refused\n');
    expect(message).toContain(`cannot reach the Docker engine ${PROD.url}`);
    expect(message).toContain(': ssh: connect to host mail.example.org port 2222: Connection refused;');
  });
});
