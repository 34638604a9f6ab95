// Rules that need the whole stack: who writes which volume, who can read
// secrets, and how backups leave the machine.

import type { ContainerFacts, EnvironmentPlacement, Finding, PolicyInput, Rule, VolumeFacts } from './types.js';

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

/** Two placements can meet on one engine unless both name an engine and the engines differ. */
function mayShareEngine(a: EnvironmentPlacement, b: EnvironmentPlacement): boolean {
  return a.engine === undefined || b.engine === undefined || a.engine === b.engine;
}

export const environmentsApart: Rule = {
  id: 'environments-apart',
  // Advisory: the reference systems name dev and prod alike (docs/architecture.md), and keep them on separate hosts.
  severity: 'advisory',
  scope: 'stack',
  description: 'Environments of one app that share a project name are bound to different engines.',
  check: (input) => {
    const self = input.environments?.find((e) => e.env === input.env);
    if (self === undefined) return [];
    const alike = (input.environments ?? []).filter((e) => e.env !== self.env && e.project === self.project && mayShareEngine(self, e));
    if (alike.length === 0) return [];
    const others = alike.map((e) => e.env).join(', ');
    // Bind-mounted volumes have their own host paths per environment; Docker volumes only have their name.
    const dockerVolumes = input.volumes.some((v) => v.kind !== 'bind');
    const shared = dockerVolumes ? `every container (${self.project}-<service>) and Docker volume (${self.project}_<volume>)` : `every container (${self.project}-<service>)`;
    const outcome = dockerVolumes ? "the second deploy takes over the first one's data" : "the second deploy replaces the first one's containers";
    return [
      {
        object: { kind: 'stack', name: input.stack },
        message:
          `${input.stack} deploys under project ${self.project}, as ${alike.length === 1 ? 'environment' : 'environments'} ${others} ${alike.length === 1 ? 'does' : 'do'}, and no engine tells them apart: ` +
          `on one engine they share ${shared}, and ${outcome}`,
        fix:
          `run each environment on its own engine (environments.${self.env}.engine: ssh://<user>@<host>, and another engine for ${others}), or give this one names of its own: environments.${self.env}.project: ${self.project}-${self.env}. ` +
          "Deploys (Pulumi, runbooks) and restores refuse to use volumes that carry another environment's labels",
      },
    ];
  },
};
