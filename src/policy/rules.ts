// The rule set, in the order reports list it, and the one function that runs it.

import { dockerSocketDeclared, hostNetworkDeclared, privilegedDeclared, restartPolicy, stateOnVolume } from './container-rules.js';
import { imagePinned } from './image-rules.js';
import { backupsEncrypted, environmentsApart, secretFileUnshared, sqliteSingleWriter } from './stack-rules.js';
import type { PolicyInput, Rule, Violation } from './types.js';
import { backupDeclared, prodVolumeHostBacked, prodVolumeHostRoot, secretFileMode } from './volume-rules.js';

export const RULES: readonly Rule[] = [
  stateOnVolume,
  imagePinned,
  prodVolumeHostBacked,
  prodVolumeHostRoot,
  sqliteSingleWriter,
  secretFileMode,
  secretFileUnshared,
  backupDeclared,
  restartPolicy,
  privilegedDeclared,
  hostNetworkDeclared,
  dockerSocketDeclared,
  backupsEncrypted,
  environmentsApart,
];

/** Runs rules over one input; violations keep the rules' order. */
export function evaluate(input: PolicyInput, rules: readonly Rule[] = RULES): Violation[] {
  return rules.flatMap((rule) =>
    rule.check(input).map((finding) => ({ rule: rule.id, severity: rule.severity, stack: input.stack, ...finding })),
  );
}
