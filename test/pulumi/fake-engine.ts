// Runs the Pulumi program the way `pulumi up` does, minus the CLI (which cannot
// be installed here): Pulumi's own Node runner (@pulumi/pulumi/cmd/run) in a
// child process, talking gRPC to a resource monitor and engine served from this
// process. The monitor is the SDK's MockMonitor, so resources get the same mock
// state as in the in-process tests. The runner gets the working directory (--pwd)
// and entry point the CLI derives from Pulumi.yaml (programLocation), because
// that directory decides which tsconfig.json ts-node reads.
import { spawn } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parse } from 'yaml';
import * as grpc from '@grpc/grpc-js';
import { EngineService, type IEngineServer } from '@pulumi/pulumi/proto/engine_grpc_pb.js';
import { GetRootResourceResponse, SetRootResourceResponse } from '@pulumi/pulumi/proto/engine_pb.js';
import { ResourceMonitorService, type IResourceMonitorServer } from '@pulumi/pulumi/proto/resource_grpc_pb.js';
import { SupportsFeatureResponse } from '@pulumi/pulumi/proto/resource_pb.js';
import { MockMonitor } from '@pulumi/pulumi/runtime/mocks.js';
import { Empty } from 'google-protobuf/google/protobuf/empty_pb.js';
import { isRecord, PROJECT_ROOT, RecordingMocks, registeredOptions } from './harness.js';

export interface ProgramRun {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** Messages the program and the runner logged through the engine, debug level included. */
  engineLog: string[];
  /** What the root stack resource registered as outputs (secrets still wrapped). */
  stackOutputs: Record<string, unknown> | undefined;
  mocks: RecordingMocks;
}

export interface ProgramRunOptions {
  stack: string;
  /** The directory of Pulumi.yaml; default: this repository. */
  projectRoot?: string;
  /** Stack config as the CLI passes it: `<namespace>:<key>` to value. */
  config: Record<string, string>;
  secretKeys: string[];
  /** More environment variables for the runner, as a user's shell would pass them through the CLI. */
  env?: Record<string, string>;
}

export interface ProgramLocation {
  /** The runner's working directory (`--pwd`): where it looks for tsconfig.json. */
  pwd: string;
  /** The entry point argument: a file name in pwd, or "." for package.json's main. */
  entry: string;
}

/**
 * Where the CLI runs the program: the rules of Pulumi's getPwdMain (pkg/engine,
 * projinfo.go). Without `main`, the project root and ".", so the runner takes
 * package.json's main. With `main` naming a file, its directory and its name;
 * with `main` naming a directory, that directory and ".".
 */
export function programLocation(projectRoot: string): ProgramLocation {
  const project: unknown = parse(readFileSync(join(projectRoot, 'Pulumi.yaml'), 'utf8'));
  const main = isRecord(project) ? project['main'] : undefined;
  if (main === undefined || main === '') return { pwd: projectRoot, entry: '.' };
  if (typeof main !== 'string' || isAbsolute(main)) throw new Error(`Pulumi.yaml: main must be a relative path, not ${JSON.stringify(main)}`);
  const target = resolve(projectRoot, main);
  if (relative(projectRoot, target).startsWith('..')) throw new Error(`Pulumi.yaml: main ${main} is not inside the project`);
  return statSync(target).isDirectory() ? { pwd: target, entry: '.' } : { pwd: dirname(target), entry: basename(target) };
}

export async function runProgramLikePulumi(options: ProgramRunOptions): Promise<ProgramRun> {
  const projectRoot = options.projectRoot ?? PROJECT_ROOT;
  const location = programLocation(projectRoot);
  const mocks = new RecordingMocks();
  const monitor = new MockMonitor(mocks);
  const engineLog: string[] = [];
  let rootResource = '';
  let stackOutputs: Record<string, unknown> | undefined;

  const monitorHandlers = {
    registerResource: (call, callback) => {
      mocks.registrations.push(registeredOptions(call.request));
      void monitor.registerResource(call.request, callback);
    },
    registerResourceOutputs: (call, callback) => {
      if (call.request.getUrn().includes('::pulumi:pulumi:Stack::')) {
        const outputs: unknown = call.request.getOutputs()?.toJavaScript();
        stackOutputs = isRecord(outputs) ? outputs : undefined;
      }
      callback(null, new Empty());
    },
    supportsFeature: (call, callback) => {
      // Every feature but output values, as with setMocks(): keeps inputs plain data.
      callback(null, new SupportsFeatureResponse().setHassupport(call.request.getId() !== 'outputValues'));
    },
    registerPackage: (call, callback) => monitor.registerPackage(call.request, callback),
    invoke: (call, callback) => void monitor.invoke(call.request, callback),
  } satisfies Partial<IResourceMonitorServer>;

  const engineHandlers = {
    log: (call, callback) => {
      engineLog.push(call.request.getMessage());
      callback(null, new Empty());
    },
    setRootResource: (call, callback) => {
      rootResource = call.request.getUrn();
      callback(null, new SetRootResourceResponse());
    },
    getRootResource: (_call, callback) => callback(null, new GetRootResourceResponse().setUrn(rootResource)),
  } satisfies Partial<IEngineServer>;

  const server = new grpc.Server();
  server.addService(ResourceMonitorService, monitorHandlers);
  server.addService(EngineService, engineHandlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, bound) => (err === null ? resolve(bound) : reject(err))),
  );
  try {
    const address = `127.0.0.1:${port}`;
    // The arguments and environment the Node language host gives the runner
    // (pulumi-language-nodejs, constructArguments): --pwd is the program directory.
    const args = [
      join(PROJECT_ROOT, 'node_modules/@pulumi/pulumi/cmd/run'),
      `--monitor=${address}`,
      `--engine=${address}`,
      '--project=stowage',
      `--root-directory=${projectRoot}`,
      `--stack=${options.stack}`,
      `--pwd=${location.pwd}`,
      location.entry,
    ];
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      PULUMI_NODEJS_TYPESCRIPT: 'true',
      PULUMI_CONFIG: JSON.stringify(options.config),
      PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(options.secretKeys),
      ...options.env,
    };
    const child = spawn(process.execPath, args, { cwd: location.pwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const exitCode = await new Promise<number | null>((resolve) => child.on('close', resolve));
    return { exitCode, stdout, stderr, engineLog, stackOutputs, mocks };
  } finally {
    server.forceShutdown();
  }
}
