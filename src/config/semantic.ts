import type { KeyPath } from './errors.js';
import { hasParentSegment, isSafeRelativePath, isValidUser, parseMode, parseMount, parseOwner } from './syntax.js';
import type { EnvValue, StackFile } from './types.js';

/** An issue before it is placed in the source (the loader adds file:line:column). */
export interface IssueAt {
  path: KeyPath;
  pointAtKey?: boolean;
  message: string;
  fix: string;
}

/** Checks the schema cannot express: references, uniqueness, single-writer SQLite, path safety. */
export function semanticIssues(stack: StackFile): IssueAt[] {
  const issues: IssueAt[] = [];
  const volumeNames = Object.keys(stack.volumes);
  const serviceNames = Object.keys(stack.services);
  const secretNames = Object.keys(stack.secrets ?? {});
  const declared = (names: string[]): string => (names.length > 0 ? names.join(', ') : '(none declared)');

  const checkOwner = (value: string | undefined, path: KeyPath): void => {
    if (value !== undefined && parseOwner(value) === undefined) {
      issues.push({ path, message: `owner "${value}" is not uid:gid`, fix: 'write numeric ids, e.g. "1000:1000" (names differ between host and container)' });
    }
  };
  const checkMode = (value: string | undefined, path: KeyPath): void => {
    if (value !== undefined && parseMode(value) === undefined) {
      issues.push({ path, message: `mode "${value}" is not an octal permission`, fix: 'write 3 or 4 octal digits in quotes, e.g. "0750" or "0600"' });
    }
  };
  const checkEnv = (env: Record<string, EnvValue> | undefined, path: KeyPath): void => {
    for (const [name, value] of Object.entries(env ?? {})) {
      if (typeof value === 'object' && !secretNames.includes(value.secret)) {
        issues.push({
          path: [...path, name, 'secret'],
          message: `secret "${value.secret}" is not declared`,
          fix: `declare it under the top-level "secrets" key; declared: ${declared(secretNames)}`,
        });
      }
    }
  };
  const checkHostPath = (value: string | undefined, path: KeyPath, allowRelative: boolean): void => {
    if (value === undefined) return;
    const relativeOk = allowRelative && value.startsWith('./');
    if (!value.startsWith('/') && !relativeOk) {
      issues.push({
        path,
        message: `host path "${value}" is not absolute`,
        fix: allowRelative ? 'write an absolute path, or ./relative to the project root' : 'write an absolute path, e.g. /opt/<app>/data',
      });
    } else if (hasParentSegment(value)) {
      issues.push({ path, message: `host path "${value}" contains ".."`, fix: 'write the path without ".." segments so it cannot point outside its root' });
    }
  };

  // Volumes: ownership syntax, per-file rules, backup settings.
  for (const [volumeName, volume] of Object.entries(stack.volumes)) {
    const at: KeyPath = ['volumes', volumeName];
    checkOwner(volume.owner, [...at, 'owner']);
    checkMode(volume.mode, [...at, 'mode']);
    (volume.files ?? []).forEach((rule, index) => {
      const ruleAt: KeyPath = [...at, 'files', index];
      if (!isSafeRelativePath(rule.path)) {
        issues.push({ path: [...ruleAt, 'path'], message: `"${rule.path}" is not a path inside the volume`, fix: 'write a path relative to the volume root, without a leading / or ".."' });
      }
      checkOwner(rule.owner, [...ruleAt, 'owner']);
      checkMode(rule.mode, [...ruleAt, 'mode']);
      const mode = rule.mode === undefined ? undefined : parseMode(rule.mode);
      if (rule.secret === true && mode !== undefined && (mode & 0o077) !== 0) {
        issues.push({ path: [...ruleAt, 'mode'], message: `secret file "${rule.path}" would be readable by group or others (${rule.mode})`, fix: 'use "0600" (or "0400") for files that hold secrets' });
      }
    });
    const backup = volume.backup ?? {};
    const method = backup.method ?? 'tar';
    const backupAt: KeyPath = [...at, 'backup'];
    if (method === 'sqlite' && (backup.databases ?? []).length === 0) {
      issues.push({ path: backupAt, message: 'method sqlite needs the database files', fix: 'add databases: [database.sqlite] (paths relative to the volume root)' });
    }
    (backup.databases ?? []).forEach((db, index) => {
      if (!isSafeRelativePath(db)) {
        issues.push({ path: [...backupAt, 'databases', index], message: `"${db}" is not a path inside the volume`, fix: 'write a path relative to the volume root, without a leading / or ".."' });
      }
    });
    (backup.exclude ?? []).forEach((path, index) => {
      if (!isSafeRelativePath(path)) {
        issues.push({ path: [...backupAt, 'exclude', index], message: `"${path}" is not a path inside the volume`, fix: 'write a path relative to the volume root, without a leading / or ".."' });
      }
    });
    if (method === 'pg_dump' || method === 'mongodump') {
      const mounting = serviceNames.filter((name) => (stack.services[name]?.mounts ?? []).some((m) => parseMount(m)?.volume === volumeName));
      if (backup.service === undefined && mounting.length !== 1) {
        issues.push({ path: backupAt, message: `method ${method} needs the service whose container runs the dump`, fix: `add service: <name>; services mounting "${volumeName}": ${declared(mounting)}` });
      } else if (backup.service !== undefined && !serviceNames.includes(backup.service)) {
        issues.push({ path: [...backupAt, 'service'], message: `service "${backup.service}" is not declared`, fix: `use one of: ${declared(serviceNames)}` });
      }
    }
    const foreign: Array<[string, unknown]> = [
      ['databases', method === 'sqlite' ? undefined : backup.databases],
      ['service', method === 'pg_dump' || method === 'mongodump' ? undefined : backup.service],
      ['database', method === 'pg_dump' ? undefined : backup.database],
      ['reason', method === 'none' ? undefined : backup.reason],
    ];
    for (const [key, value] of foreign) {
      if (value !== undefined) {
        issues.push({ path: [...backupAt, key], pointAtKey: true, message: `"${key}" has no meaning for method ${method}`, fix: `remove it, or change the method` });
      }
    }
  }

  // Services: mounts, users, references.
  const writers = new Map<string, Array<{ service: string; index: number }>>();
  for (const [serviceName, service] of Object.entries(stack.services)) {
    const at: KeyPath = ['services', serviceName];
    if (service.user !== undefined && !isValidUser(service.user)) {
      issues.push({ path: [...at, 'user'], message: `user "${service.user}" is not uid[:gid] or name[:group]`, fix: 'write e.g. "1000:1000"' });
    }
    const targets = new Map<string, number>();
    (service.mounts ?? []).forEach((text, index) => {
      const mountAt: KeyPath = [...at, 'mounts', index];
      const mount = parseMount(text);
      if (mount === undefined) {
        issues.push({ path: mountAt, message: `mount "${text}" is not <volume>:<target>[:ro]`, fix: 'write e.g. "data:/app/data" or "data:/app/data:ro"' });
        return;
      }
      if (!volumeNames.includes(mount.volume)) {
        issues.push({ path: mountAt, message: `mount names undeclared volume "${mount.volume}"`, fix: `declare it under "volumes", or use one of: ${declared(volumeNames)}` });
      }
      if (!mount.target.startsWith('/')) {
        issues.push({ path: mountAt, message: `mount target "${mount.target}" is not an absolute path`, fix: `write the path inside the container starting with /, e.g. "${mount.volume}:/${mount.target}"` });
      } else if (hasParentSegment(mount.target)) {
        issues.push({ path: mountAt, message: `mount target "${mount.target}" contains ".."`, fix: 'write the target without ".." segments' });
      }
      const normalized = mount.target.replace(/\/+$/, '') || '/';
      const earlier = targets.get(normalized);
      if (earlier !== undefined) {
        issues.push({ path: mountAt, message: `target "${normalized}" is already mounted by mounts[${earlier}]`, fix: 'mount each target once; remove one of the two entries or change its target' });
      } else {
        targets.set(normalized, index);
      }
      if (!mount.readOnly) {
        const list = writers.get(mount.volume) ?? [];
        list.push({ service: serviceName, index });
        writers.set(mount.volume, list);
      }
    });
    // State outside every volume is lost when the container is recreated.
    (service.statePaths ?? []).forEach((path, index) => {
      const onVolume = [...targets.keys()].some((target) => path === target || path.startsWith(target === '/' ? '/' : `${target}/`));
      if (!onVolume) {
        issues.push({
          path: [...at, 'statePaths', index],
          message: `state path "${path}" is not on a volume of "${serviceName}"; its data would be lost when the container is recreated`,
          fix: `mount a volume at it or at a parent directory; mounted: ${[...targets.keys()].join(', ') || '(nothing)'}`,
        });
      }
    });
    (service.dependsOn ?? []).forEach((dep, index) => {
      if (!serviceNames.includes(dep)) {
        issues.push({ path: [...at, 'dependsOn', index], message: `depends on undeclared service "${dep}"`, fix: `use one of: ${declared(serviceNames)}` });
      } else if (dep === serviceName) {
        issues.push({ path: [...at, 'dependsOn', index], message: 'a service cannot depend on itself', fix: 'remove this entry' });
      }
    });
    checkEnv(service.environment, [...at, 'environment']);
  }
  const cycle = findDependencyCycle(stack);
  if (cycle !== undefined) {
    issues.push({ path: ['services', cycle[0] ?? '', 'dependsOn'], message: `dependency cycle: ${cycle.join(' -> ')}`, fix: 'remove one of the dependencies so services can start in order' });
  }

  // A SQLite database accepts one writer: two read-write mounts or replicas mean "database is locked".
  for (const [volumeName, volume] of Object.entries(stack.volumes)) {
    if ((volume.backup?.method ?? 'tar') !== 'sqlite') continue;
    const list = writers.get(volumeName) ?? [];
    if (list.length > 1) {
      const second = list[1];
      if (second !== undefined) {
        issues.push({
          path: ['services', second.service, 'mounts', second.index],
          message: `SQLite volume "${volumeName}" has more than one writer (${list.map((w) => w.service).join(', ')})`,
          fix: 'SQLite allows one writer: mount it read-only (":ro") in all services but one',
        });
      }
    }
    for (const writer of list) {
      const replicaSources: Array<[KeyPath, number | undefined]> = [
        [['services', writer.service, 'replicas'], stack.services[writer.service]?.replicas],
        ...Object.entries(stack.environments).map(([envName, env]): [KeyPath, number | undefined] => [
          ['environments', envName, 'services', writer.service, 'replicas'],
          env.services?.[writer.service]?.replicas,
        ]),
      ];
      for (const [path, replicas] of replicaSources) {
        if (replicas !== undefined && replicas > 1) {
          issues.push({ path, message: `${replicas} replicas of "${writer.service}" would all write SQLite volume "${volumeName}"`, fix: 'set replicas: 1 (SQLite allows one writer; "database is locked" means a second one)' });
        }
      }
    }
  }

  // Environments: overrides name declared things; host paths are safe.
  for (const [envName, env] of Object.entries(stack.environments)) {
    const at: KeyPath = ['environments', envName];
    checkHostPath(env.hostRoot, [...at, 'hostRoot'], false);
    if ((env.volumeBacking === 'host' || env.volumeBacking === 'bind') && env.hostRoot === undefined) {
      issues.push({ path: [...at, 'volumeBacking'], message: `volumeBacking ${env.volumeBacking} needs hostRoot`, fix: 'add hostRoot: /opt/<app>/data (volumes live at <hostRoot>/<volume>)' });
    }
    for (const [volumeName, override] of Object.entries(env.volumes ?? {})) {
      const vAt: KeyPath = [...at, 'volumes', volumeName];
      if (!volumeNames.includes(volumeName)) {
        issues.push({ path: vAt, pointAtKey: true, message: `override for undeclared volume "${volumeName}"`, fix: `use one of: ${declared(volumeNames)}` });
      }
      checkHostPath(override.bind, [...vAt, 'bind'], true);
      checkHostPath(override.host, [...vAt, 'host'], false);
      if (override.nfs !== undefined) checkHostPath(override.nfs.path, [...vAt, 'nfs', 'path'], false);
    }
    for (const [serviceName, override] of Object.entries(env.services ?? {})) {
      const sAt: KeyPath = [...at, 'services', serviceName];
      if (!serviceNames.includes(serviceName)) {
        issues.push({ path: sAt, pointAtKey: true, message: `override for undeclared service "${serviceName}"`, fix: `use one of: ${declared(serviceNames)}` });
      }
      if (override.user !== undefined && !isValidUser(override.user)) {
        issues.push({ path: [...sAt, 'user'], message: `user "${override.user}" is not uid[:gid] or name[:group]`, fix: 'write e.g. "1000:1000"' });
      }
      checkEnv(override.environment, [...sAt, 'environment']);
    }
    const warn = env.disk?.warn ?? stack.disk?.warn;
    const crit = env.disk?.crit ?? stack.disk?.crit;
    if (warn !== undefined && crit !== undefined && warn >= crit) {
      issues.push({ path: env.disk === undefined ? ['disk'] : [...at, 'disk'], message: `warn threshold ${warn}% is not below crit ${crit}%`, fix: 'set warn lower than crit, e.g. warn: 80, crit: 90' });
    }
  }
  return issues;
}

function findDependencyCycle(stack: StackFile): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  const stackPath: string[] = [];
  const visit = (name: string): string[] | undefined => {
    if (state.get(name) === 'done') return undefined;
    if (state.get(name) === 'visiting') return [...stackPath.slice(stackPath.indexOf(name)), name];
    state.set(name, 'visiting');
    stackPath.push(name);
    for (const dep of stack.services[name]?.dependsOn ?? []) {
      if (dep === name || stack.services[dep] === undefined) continue;
      const found = visit(dep);
      if (found !== undefined) return found;
    }
    stackPath.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const name of Object.keys(stack.services)) {
    const found = visit(name);
    if (found !== undefined) return found;
  }
  return undefined;
}
