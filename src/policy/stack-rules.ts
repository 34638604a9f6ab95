// Rules that need the whole stack: who writes which volume, who can read
// secrets, and how backups leave the machine.

import type { ContainerFacts, Finding, PolicyInput, Rule, VolumeFacts } from './types.js';

function mounting(input: PolicyInput, v: VolumeFacts, writersOnly: boolean): ContainerFacts[] {
  if (v.key === undefined) return [];
  return input.containers.filter((c) => c.mounts.some((m) => m.volume === v.key && (!writersOnly || !m.readOnly)));
}

export const sqliteSingleWriter: Rule = {
  id: 'sqlite-single-writer',
  severity: 'mandatory',
  scope: 'stack',
  description: 'A SQLite volume (backup method sqlite) has one writer: one container mounts it read-write.',
  check: (input) =>
    input.volumes.flatMap((v): Finding[] => {
      if (v.backup?.method !== 'sqlite') return [];
      // No writer at all is allowed: an environment may park its service with replicas: 0.
      const writers = mounting(input, v, true);
      if (writers.length <= 1) return [];
      return [
        {
          object: { kind: 'volume', name: v.name },
          message: `SQLite volume ${v.name} is mounted read-write by ${writers.length} containers (${writers.map((c) => c.name).join(', ')}); SQLite allows one writer, a second one means "database is locked" or a corrupted database`,
          fix: 'keep one writer: replicas: 1 for its service, and mount the volume read-only (":ro") everywhere else',
        },
      ];
    }),
};

export const secretFileUnshared: Rule = {
  id: 'secret-file-unshared',
  severity: 'mandatory',
  scope: 'stack',
  description: 'A volume holding a secret file is mounted by one service only.',
  check: (input) =>
    input.volumes.flatMap((v): Finding[] => {
      const secrets = v.files.filter((f) => f.secret).map((f) => f.path);
      if (secrets.length === 0) return [];
      const services = [...new Set(mounting(input, v, false).map((c) => c.service))];
      if (services.length <= 1) return [];
      return [
        {
          object: { kind: 'volume', name: v.name },
          message: `volume ${v.name} holds secret file(s) ${secrets.join(', ')} and is mounted by ${services.length} services (${services.join(', ')}); every one of them can read the keys`,
          fix: `move the secret file(s) to a volume only the service that needs them mounts, or stop mounting ${v.key ?? 'the volume'} in the others`,
        },
      ];
    }),
};

export const backupsEncrypted: Rule = {
  id: 'backups-encrypted',
  // Advisory: the shipped stacks cannot name their operators' keys. See docs/policies.md.
  severity: 'advisory',
  scope: 'stack',
  description: 'Production backups are encrypted to at least one recipient (backups.encryption.recipients).',
  check: (input) => {
    if (!input.production || input.backupRecipients === undefined || input.backupRecipients.length > 0) return [];
    return [
      {
        object: { kind: 'stack', name: input.stack },
        message: `production backups of ${input.stack} are written unencrypted: anyone who gets a copy reads every user's data and keys`,
        fix: 'add backups: {encryption: {recipients: [age1...]}} to the stack file (age-keygen prints a key pair; keep the private key away from the server)',
      },
    ];
  },
};
