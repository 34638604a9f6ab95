// The pack as `pulumi preview --policy-pack policies` runs it: Pulumi's policy
// runner (@pulumi/pulumi/cmd/run-policy-pack) loads policies/index.ts through
// ts-node, the pack serves the analyzer protocol, and the engine's requests
// (here sent by this test over gRPC, as the CLI would) get the rules' verdicts.
// The Pulumi CLI itself cannot be installed here.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { AnalyzerClient } from '@pulumi/pulumi/proto/analyzer_grpc_pb.js';
import { AnalyzeRequest, AnalyzerInfo, AnalyzerResourceOptions, EnforcementLevel, type AnalyzeResponse } from '@pulumi/pulumi/proto/analyzer_pb.js';
import { Empty } from 'google-protobuf/google/protobuf/empty_pb.js';
import { Struct } from 'google-protobuf/google/protobuf/struct_pb.js';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RULES } from '../../src/policy/rules.js';
import { repoRoot } from '../helpers/run.js';
import { TempDirs } from '../helpers/stacks.js';
import { RESOURCE_TYPES, shopProd, urnOf, webWith } from './crossguard-harness.js';
import { cleanStack, stackYaml } from './fixtures.js';

// What the engine sends for a value `pulumi preview` cannot know yet.
const UNKNOWN = '04da6b54-80e4-46f7-96ec-b56ff0331ba9';

const temp = new TempDirs();
let runner: ChildProcess | undefined;
let client: AnalyzerClient;
let stderr = '';

function startPack(stacksDir: string): Promise<number> {
  const child = spawn(process.execPath, [join(repoRoot, 'node_modules/@pulumi/pulumi/cmd/run-policy-pack/index.js'), '127.0.0.1:1', '.'], {
    cwd: join(repoRoot, 'policies'),
    env: { ...process.env, STOWAGE_STACKS_DIR: stacksDir },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  runner = child;
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      // The analyzer announces its port on the first line of stdout.
      const port = /^(\d+)\s*$/m.exec(stdout)?.[1];
      if (port !== undefined) resolve(Number(port));
    });
    child.on('exit', (code) => reject(new Error(`the policy pack exited (${String(code)}) before serving:\n${stderr}`)));
  });
}

function call<T>(invoke: (done: (error: grpc.ServiceError | null, response: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => invoke((error, response) => (error === null ? resolve(response) : reject(error))));
}

function analyze(type: string, name: string, props: Record<string, unknown>, stack: string): Promise<AnalyzeResponse> {
  const request = new AnalyzeRequest()
    .setType(type)
    .setName(name)
    .setUrn(urnOf(stack, type, name))
    .setOptions(new AnalyzerResourceOptions())
    .setProperties(Struct.fromJavaScript(JSON.parse(JSON.stringify(props))));
  return call((done) => client.analyze(request, done));
}

beforeAll(async () => {
  const stacksDir = temp.stacksDir({ 'shop.yaml': stackYaml(cleanStack()) });
  const port = await startPack(stacksDir);
  client = new AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(() => {
  client?.close();
  runner?.kill('SIGTERM');
  temp.removeAll();
});

describe('the pack under Pulumi\'s policy runner', () => {
  test('announces every rule as a policy, with its enforcement level', async () => {
    const info = await call<AnalyzerInfo>((done) => client.getAnalyzerInfo(new Empty(), done));
    expect(info.getName()).toBe('stowage');
    const level = (severity: string): EnforcementLevel => (severity === 'mandatory' ? EnforcementLevel.MANDATORY : EnforcementLevel.ADVISORY);
    expect(info.getPoliciesList().map((p) => [p.getName(), p.getEnforcementlevel()])).toEqual(RULES.map((r) => [r.id, level(r.severity)]));
  });

  test('refuses a privileged container the stack file does not allow (mandatory)', async () => {
    const web = webWith({ privileged: true });
    const response = await analyze(RESOURCE_TYPES.container, web.name, web.props, 'shop-prod');
    expect(response.getDiagnosticsList().map((d) => [d.getPolicyname(), d.getEnforcementlevel()])).toEqual([['privileged-declared', EnforcementLevel.MANDATORY]]);
    expect(response.getDiagnosticsList()[0]?.getMessage()).toContain('fix: remove it, or declare it in the stack file');
  });

  test('checks a container whose image ID preview cannot know yet', async () => {
    const web = webWith({ image: UNKNOWN, restart: 'no' });
    const response = await analyze(RESOURCE_TYPES.container, web.name, web.props, 'shop-prod');
    expect(response.getDiagnosticsList().map((d) => d.getPolicyname())).toEqual(['restart-policy']);
  });

  test('passes the container a program declares for the clean stack', async () => {
    const { web } = shopProd();
    const response = await analyze(RESOURCE_TYPES.container, web.name, web.props, 'shop-prod');
    expect(response.getDiagnosticsList()).toEqual([]);
  });
});
