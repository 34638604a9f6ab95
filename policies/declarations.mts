// What the stack file declares for the Pulumi stack being checked: the rules
// compare the resources Pulumi is about to create with it (state paths, reasons
// for privileges, backup methods, secret files, hostRoot, production).
//
// The Pulumi stack is found by its name, `<app>-<env>` (every resource URN
// carries it), and else by the stowage.project/stowage.env labels.

import { UsageError } from '../src/config/errors.js';
import { loadStackFile } from '../src/config/load.js';
import { LABEL, resolveModel, type Model } from '../src/config/model.js';
import { listStackFiles, selectStack } from '../src/config/select.js';
import type { StackFile } from '../src/config/types.js';

export interface Declarations {
  file: string;
  stack: StackFile;
  model: Model;
}

/** `urn:pulumi:<stack>::<project>::<type>::<name>` */
export function stackNameOfUrn(urn: string): string | undefined {
  const match = /^urn:pulumi:([^:]+)::/.exec(urn);
  return match?.[1];
}

export class DeclarationFinder {
  private readonly stacksDir: string;
  private readonly byKey = new Map<string, Declarations | undefined>();

  constructor(stacksDir: string) {
    this.stacksDir = stacksDir;
  }

  /** Undefined when no stack file declares this stack; an invalid stack file throws (its message names file:line:column). */
  find(stackName: string | undefined, labels: Record<string, string>): Declarations | undefined {
    const project = labels[LABEL.project];
    const env = labels[LABEL.env];
    const key = `${stackName ?? ''}|${project ?? ''}|${env ?? ''}`;
    if (!this.byKey.has(key)) this.byKey.set(key, this.byStackName(stackName) ?? this.byLabels(project, env));
    return this.byKey.get(key);
  }

  private byStackName(stackName: string | undefined): Declarations | undefined {
    if (stackName === undefined) return undefined;
    try {
      const selected = selectStack(stackName, this.stacksDir);
      return { file: selected.file, stack: selected.stack, model: selected.model };
    } catch (err) {
      if (err instanceof UsageError) return undefined;
      throw err;
    }
  }

  private byLabels(project: string | undefined, env: string | undefined): Declarations | undefined {
    if (project === undefined || env === undefined) return undefined;
    let files: string[];
    try {
      files = listStackFiles(this.stacksDir);
    } catch (err) {
      if (err instanceof UsageError) return undefined;
      throw err;
    }
    for (const file of files) {
      const { stack } = loadStackFile(file);
      const environment = stack.environments[env];
      if (environment !== undefined && (environment.project ?? stack.app) === project) {
        return { file, stack, model: resolveModel(stack, env, { stackFile: file }) };
      }
    }
    return undefined;
  }
}
