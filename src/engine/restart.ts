import { command, type Command } from './command.js';

/** `docker restart`: stop with the usual grace period, then start; used to make a service reread files it loads at start. */
export function restartContainers(names: string[], timeoutSeconds = 10): Command {
  return command('docker', ['restart', '--time', String(timeoutSeconds), ...names], `restart ${names.join(', ')}`);
}
