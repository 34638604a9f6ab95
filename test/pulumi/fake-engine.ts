// Runs the Pulumi program the way `pulumi up` does, minus the CLI (which cannot
// be installed here): Pulumi's own Node runner (@pulumi/pulumi/cmd/run) in a
// child process, talking gRPC to a resource monitor and engine served from this
// process. The monitor is the SDK's MockMonitor, so resources get the same mock
// state as in the in-process tests.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
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
  /** Stack config as the CLI passes it: `<namespace>:<key>` to value. */
  config: Record<string, string>;
  secretKeys: string[];
}

export async function runProgramLikePulumi(options: ProgramRunOptions): Promise<ProgramRun> {
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
    // The arguments and environment the Node language host gives the runner.
    const args = [
      join(PROJECT_ROOT, 'node_modules/@pulumi/pulumi/cmd/run'),
      `--monitor=${address}`,
      `--engine=${address}`,
      '--project=stowage',
      `--stack=${options.stack}`,
      `--root-directory=${PROJECT_ROOT}`,
      `--pwd=${PROJECT_ROOT}`,
      'src/pulumi/index.ts',
    ];
    const env: NodeJS.ProcessEnv = {
      PATH: process.env['PATH'],
      HOME: process.env['HOME'],
      PULUMI_NODEJS_TYPESCRIPT: 'true',
      PULUMI_CONFIG: JSON.stringify(options.config),
      PULUMI_CONFIG_SECRET_KEYS: JSON.stringify(options.secretKeys),
    };
    const child = spawn(process.execPath, args, { cwd: PROJECT_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
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
