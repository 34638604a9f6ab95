// A stack that passes every policy rule in every environment; tests change one
// thing at a time. Written as data (not YAML) so a test can also build stacks
// the loader would reject, to show a rule holds on its own.
import { stringify } from 'yaml';
import type { StackFile } from '../../src/config/types.js';

export const AGE_RECIPIENT = 'age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p';

export function cleanStack(): StackFile {
  return {
    app: 'shop',
    backups: { encryption: { recipients: [AGE_RECIPIENT] } },
    volumes: {
      data: {
        owner: '1000:1000',
        files: [{ path: 'secrets.env', mode: '0600', secret: true }],
        backup: { method: 'sqlite', databases: ['db.sqlite'] },
      },
      logs: { backup: { method: 'tar' } },
    },
    services: {
      web: {
        image: 'shop/web:1.2.3',
        user: '1000:1000',
        restart: 'unless-stopped',
        mounts: ['data:/data', 'logs:/logs'],
        statePaths: ['/data'],
      },
      worker: {
        image: 'shop/worker:1.2.3',
        mounts: ['logs:/logs'],
        statePaths: ['/logs'],
      },
    },
    environments: {
      // Its own project name, so dev and prod can share an engine (environments-apart).
      dev: { project: 'shop-dev' },
      prod: { hostRoot: '/srv/shop', volumeBacking: 'host' },
    },
  };
}

/** As a stack file on disk, for the paths that load stacks with the loader. */
export function stackYaml(stack: StackFile): string {
  return stringify(stack);
}
