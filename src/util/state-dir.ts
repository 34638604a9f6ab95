import { resolve } from 'node:path';

/**
 * Where stowage keeps what it learns between runs on this machine (disk-usage
 * history, verification records of sets it cannot write to): a flag, then
 * STOWAGE_STATE_DIR, then ./.stowage in the working directory.
 */
export function stateDirectory(flag?: string, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env['STOWAGE_STATE_DIR'] ?? '.stowage');
}
