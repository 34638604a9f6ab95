// Rules about one container at a time: where its state lives, how it restarts,
// and which host privileges it holds.

import { isUnder } from './paths.js';
import type { ContainerFacts, Finding, Privilege, Rule } from './types.js';

const container = (c: ContainerFacts): Finding['object'] => ({ kind: 'container', name: c.name });

export const stateOnVolume: Rule = {
  id: 'state-on-volume',
  severity: 'mandatory',
  scope: 'container',
  description: 'Every path where a service keeps state (statePaths) is on a mount of a volume the stack file declares.',
  check: (input) =>
    input.containers.flatMap((c) =>
      c.statePaths.flatMap((path): Finding[] => {
        const covering = c.mounts.filter((m) => isUnder(path, m.target));
        if (covering.some((m) => m.volume !== undefined)) return [];
        const declaredMounts = c.mounts.filter((m) => m.volume !== undefined).map((m) => `${m.volume ?? ''}:${m.target}`);
        return [
          {
            object: container(c),
            message:
              covering.length === 0
                ? `state path ${path} of service "${c.service}" is on no mount: its data lives in the container's writable layer and is lost when the container is recreated`
                : `state path ${path} of service "${c.service}" is on ${covering.map((m) => m.source).join(', ')}, which is not a volume the stack file declares, so nothing backs it up`,
            fix: `mount a declared volume at ${path} or a parent directory (services.${c.service}.mounts, e.g. "data:${path}"); mounted now: ${declaredMounts.join(', ') || 'nothing'}`,
          },
        ];
      }),
    ),
};

export const restartPolicy: Rule = {
  id: 'restart-policy',
  severity: 'mandatory',
  scope: 'container',
  description: 'Every service restarts after a crash or a reboot: its restart policy is not "no".',
  check: (input) =>
    input.containers.flatMap((c): Finding[] => {
      if (c.restart !== undefined && c.restart !== 'no') return [];
      return [
        {
          object: container(c),
          message:
            c.restart === undefined
              ? `service "${c.service}" has no restart policy (${c.restartSource}); Docker then never restarts it, so a crash or a reboot leaves it down`
              : `service "${c.service}" has restart policy "no" (${c.restartSource}): a crash or a reboot leaves it down`,
          fix: `set ${c.restartSource} to unless-stopped (or on-failure for a one-shot job that must not run again after it succeeds)`,
        },
      ];
    }),
};

const PRIVILEGES: Record<Privilege, { key: string; what: string; risk: string; hasIt: (c: ContainerFacts) => boolean }> = {
  privileged: {
    key: 'privileged',
    what: 'runs privileged',
    risk: 'a privileged container can take over the host and read every volume, including other stacks\' data',
    hasIt: (c) => c.privileged,
  },
  hostNetwork: {
    key: 'hostNetwork',
    what: 'uses the host network',
    risk: 'it can reach every service bound to the host\'s loopback, and its ports bypass the stack network',
    hasIt: (c) => c.hostNetwork,
  },
  dockerSocket: {
    key: 'dockerSocket',
    what: 'mounts the Docker socket',
    risk: 'the Docker API is root on the host: it can start containers that mount and delete any volume',
    hasIt: (c) => c.dockerSocket,
  },
};

function privilegeRule(privilege: Privilege, id: string): Rule {
  const { key, what, risk, hasIt } = PRIVILEGES[privilege];
  return {
    id,
    severity: 'mandatory',
    scope: 'container',
    description: `No container ${what} unless its service declares ${key}: {reason: ...} in the stack file.`,
    check: (input) =>
      input.containers.flatMap((c): Finding[] => {
        const reason = c.reasons[privilege];
        if (!hasIt(c) || (reason !== undefined && reason.trim() !== '')) return [];
        return [
          {
            object: container(c),
            message: `container ${c.name} ${what} without a declared reason; ${risk}`,
            fix: `remove it, or declare it in the stack file with the reason it is needed: services.${c.service}.${key}: {reason: "..."}`,
          },
        ];
      }),
  };
}

export const privilegedDeclared = privilegeRule('privileged', 'privileged-declared');
export const hostNetworkDeclared = privilegeRule('hostNetwork', 'host-network-declared');
export const dockerSocketDeclared = privilegeRule('dockerSocket', 'docker-socket-declared');
