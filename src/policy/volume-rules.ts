// Rules about one volume at a time: that it is backed up, where production
// keeps it, and how its secret files are protected.

import { formatMode } from '../config/syntax.js';
import { isUnder } from './paths.js';
import type { Finding, Rule, VolumeFacts } from './types.js';

const volume = (v: VolumeFacts): Finding['object'] => ({ kind: 'volume', name: v.name });
const keyOf = (v: VolumeFacts): string => v.key ?? '<volume>';

export const backupDeclared: Rule = {
  id: 'backup-declared',
  severity: 'mandatory',
  scope: 'volume',
  description: 'Every volume has a backup method; method none needs a reason.',
  check: (input) =>
    input.volumes.flatMap((v): Finding[] => {
      if (v.backup === undefined) {
        return [
          {
            object: volume(v),
            message: `volume ${v.name} is not declared in the stack file, so no backup covers it`,
            fix: 'declare it under "volumes" in the stack file (backup method tar is the default) and mount it from there, or stop creating it',
          },
        ];
      }
      if (v.backup.method === 'none' && (v.backup.reason === undefined || v.backup.reason.trim() === '')) {
        return [
          {
            object: volume(v),
            message: `volume ${v.name} is excluded from backups (method none) without a reason`,
            fix: `say why losing it is acceptable: volumes.${keyOf(v)}.backup: {method: none, reason: "..."}; or back it up (remove method none)`,
          },
        ];
      }
      return [];
    }),
};

export const prodVolumeHostBacked: Rule = {
  id: 'prod-volume-host-backed',
  severity: 'mandatory',
  scope: 'volume',
  description: 'Production volumes live in host directories (host-backed or bind-mounted) or on NFS, never only inside Docker.',
  check: (input) => {
    if (!input.production) return [];
    return input.volumes.flatMap((v): Finding[] => {
      if (v.kind !== 'named') return [];
      return [
        {
          object: volume(v),
          message: `production volume ${v.name} is a Docker-managed named volume: its data lives under /var/lib/docker, where pruning or reinstalling the engine deletes it`,
          fix: `back it by a host directory: set hostRoot and volumeBacking: host (or bind) in the environment, or override environments.<env>.volumes.${keyOf(v)}: {host: /absolute/path}; use nfs for a multi-host setup`,
        },
      ];
    });
  },
};

export const prodVolumeHostRoot: Rule = {
  id: 'prod-volume-host-root',
  // Advisory: the reference digidig deployment keeps its logs at /opt/digidig/logs,
  // beside its hostRoot /opt/digidig/data (docs/architecture.md, reference systems), on purpose. See docs/policies.md.
  severity: 'advisory',
  scope: 'volume',
  description: "Production host directories are under the environment's hostRoot, so one directory holds all of its data.",
  check: (input) => {
    if (!input.production) return [];
    return input.volumes.flatMap((v): Finding[] => {
      if ((v.kind !== 'host' && v.kind !== 'bind') || v.hostPath === undefined) return [];
      if (input.hostRoot !== undefined && isUnder(v.hostPath, input.hostRoot)) return [];
      return [
        {
          object: volume(v),
          message:
            input.hostRoot === undefined
              ? `production volume ${v.name} lives in ${v.hostPath}, and the environment declares no hostRoot`
              : `production volume ${v.name} lives in ${v.hostPath}, outside hostRoot ${input.hostRoot}`,
          fix:
            input.hostRoot === undefined
              ? 'declare hostRoot (e.g. /opt/<app>/data) in the environment and keep every host directory under it'
              : `move it under ${input.hostRoot}, or make sure host-level backups, disk monitoring and permissions also cover ${v.hostPath}`,
        },
      ];
    });
  },
};

export const secretFileMode: Rule = {
  id: 'secret-file-mode',
  severity: 'mandatory',
  scope: 'volume',
  description: 'Files that hold secrets (files rules with secret: true) have mode 0600 or stricter.',
  check: (input) =>
    input.volumes.flatMap((v) =>
      v.files.flatMap((file, index): Finding[] => {
        if (!file.secret) return [];
        if (file.mode !== undefined && (file.mode & ~0o600) === 0) return [];
        const at = `volumes.${keyOf(v)}.files[${index}].mode`;
        return [
          {
            object: volume(v),
            message:
              file.mode === undefined
                ? `secret file ${file.path} on volume ${v.name} has no mode, so nothing keeps it private`
                : `secret file ${file.path} on volume ${v.name} has mode ${formatMode(file.mode)}, which allows more than its owner reading and writing it`,
            fix: `set ${at}: "0600" (or "0400"); fix-permissions then enforces it`,
          },
        ];
      }),
    ),
};
