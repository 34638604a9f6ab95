import { createInterface } from 'node:readline/promises';
import { UsageError } from '../config/errors.js';

/**
 * Confirmation for destructive commands (docs/architecture.md, command line): --yes skips it; without a
 * terminal and without --yes the command refuses; a production environment
 * asks for the project name to be typed.
 */
export async function confirmDestructive(what: string, options: { yes: boolean; production: boolean; project: string }): Promise<void> {
  if (options.yes) return;
  if (process.stdin.isTTY !== true) {
    throw new UsageError(`${what}: refusing without a terminal to confirm; pass --yes to proceed`);
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    if (options.production) {
      const answer = await rl.question(`${what}\nThis is a production environment. Type the project name (${options.project}) to proceed: `);
      if (answer.trim() !== options.project) throw new UsageError('not confirmed: the typed name does not match; nothing was changed');
    } else {
      const answer = await rl.question(`${what}\nProceed? [y/N] `);
      if (!/^y(es)?$/i.test(answer.trim())) throw new UsageError('not confirmed; nothing was changed');
    }
  } finally {
    rl.close();
  }
}
