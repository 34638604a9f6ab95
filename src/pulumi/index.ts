// Pulumi program entry (Pulumi.yaml `main`): wires the stack config to deploy().
// Loading this module declares resources, so tests import it only after installing
// mocks; everything worth testing on its own lives in deploy.ts and program.ts.
import * as pulumi from '@pulumi/pulumi';
import { deploy } from './deploy.js';
import { deployTarget } from './engine.js';
import { checkEngineLabels, loadModel, programSettings, projectRoot, stackNameWarning } from './program.js';

const config = new pulumi.Config('stowage');
const settings = programSettings(config, projectRoot(pulumi.runtime.getRootDirectory(), process.cwd()));
const warning = stackNameWarning(settings, pulumi.getStack());
if (warning !== undefined) void pulumi.log.warn(warning);

const model = loadModel(settings);
const target = deployTarget(model, new pulumi.Config('docker').get('host'));
for (const warning of target.warnings) void pulumi.log.warn(warning);
await checkEngineLabels(model, target.endpoint);
const { outputs } = deploy(model, config, target.provider);

export const project = outputs.project;
export const engine = outputs.engine;
export const network = outputs.network;
export const volumes = outputs.volumes;
export const containers = outputs.containers;
export const bindMounts = outputs.bindMounts;
export const secrets = outputs.secrets;
