import { isDumpMethod } from './model.js';
import { nameList, type KeyPath } from './errors.js';
import { isRemoteUrl, parseEngineUrl } from '../engine/endpoint.js';
import { hasParentSegment, isSafeRelativePath, isValidUser, parseMode, parseMount, parseOwner } from './syntax.js';
import type { EnvironmentSpec, EnvValue, StackFile } from './types.js';

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
  // Sets, not lists: a file of 30,000 volumes must not check every mount against every volume.
  const volumeNames = new Set(Object.keys(stack.volumes));
  const serviceNames = new Set(Object.keys(stack.services));
  const secretNames = new Set(Object.keys(stack.secrets ?? {}));
  const declared = (names: Iterable<string>): string => nameList(names, '(none declared)');
  const mountingServices = servicesByVolume(stack);

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
      if (typeof value === 'object' && !secretNames.has(value.secret)) {
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
    if (isDumpMethod(method)) {
      const mounting = mountingServices.get(volumeName) ?? [];
      if (backup.service === undefined && mounting.length !== 1) {
        issues.push({ path: backupAt, message: `method ${method} needs the service whose container runs the dump`, fix: `add service: <name>; services mounting "${volumeName}": ${declared(mounting)}` });
      } else if (backup.service !== undefined && !serviceNames.has(backup.service)) {
        issues.push({ path: [...backupAt, 'service'], message: `service "${backup.service}" is not declared`, fix: `use one of: ${declared(serviceNames)}` });
      }
    }
    const foreign: Array<[string, unknown]> = [
      ['databases', method === 'sqlite' ? undefined : backup.databases],
      ['service', isDumpMethod(method) ? undefined : backup.service],
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
      if (!volumeNames.has(mount.volume)) {
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
      if (!ancestors(path).some((dir) => targets.has(dir))) {
        issues.push({
          path: [...at, 'statePaths', index],
          message: `state path "${path}" is not on a volume of "${serviceName}"; its data would be lost when the container is recreated`,
          fix: `mount a volume at it or at a parent directory; mounted: ${nameList(targets.keys(), '(nothing)')}`,
        });
      }
    });
    (service.dependsOn ?? []).forEach((dep, index) => {
      if (!serviceNames.has(dep)) {
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
  const sqliteWrites = new Map<string, string[]>(); // service -> SQLite volumes it writes
  for (const [volumeName, volume] of Object.entries(stack.volumes)) {
    if ((volume.backup?.method ?? 'tar') !== 'sqlite') continue;
    const list = writers.get(volumeName) ?? [];
    const second = list[1];
    if (second !== undefined) {
      issues.push({
        path: ['services', second.service, 'mounts', second.index],
        message: `SQLite volume "${volumeName}" has more than one writer (${nameList(list.map((w) => w.service), '')})`,
        fix: 'SQLite allows one writer: mount it read-only (":ro") in all services but one',
      });
    }
    for (const writer of list) {
      const written = sqliteWrites.get(writer.service);
      if (written === undefined) sqliteWrites.set(writer.service, [volumeName]);
      else written.push(volumeName);
    }
  }
  const checkReplicas = (service: string, replicas: number | undefined, path: KeyPath): void => {
    if (replicas === undefined || replicas <= 1) return;
    for (const volumeName of sqliteWrites.get(service) ?? []) {
      issues.push({ path, message: `${replicas} replicas of "${service}" would all write SQLite volume "${volumeName}"`, fix: 'set replicas: 1 (SQLite allows one writer; "database is locked" means a second one)' });
    }
  };
  for (const service of sqliteWrites.keys()) checkReplicas(service, stack.services[service]?.replicas, ['services', service, 'replicas']);
  for (const [envName, env] of Object.entries(stack.environments)) {
    for (const [service, override] of Object.entries(env.services ?? {})) checkReplicas(service, override.replicas, ['environments', envName, 'services', service, 'replicas']);
  }

  // Environments: overrides name declared things; host paths are safe.
  for (const [envName, env] of Object.entries(stack.environments)) {
    const at: KeyPath = ['environments', envName];
    checkHostPath(env.hostRoot, [...at, 'hostRoot'], false);
    issues.push(...engineIssues(envName, env));
    if ((env.volumeBacking === 'host' || env.volumeBacking === 'bind') && env.hostRoot === undefined) {
      issues.push({ path: [...at, 'volumeBacking'], message: `volumeBacking ${env.volumeBacking} needs hostRoot`, fix: 'add hostRoot: /opt/<app>/data (volumes live at <hostRoot>/<volume>)' });
    }
    for (const [volumeName, override] of Object.entries(env.volumes ?? {})) {
      const vAt: KeyPath = [...at, 'volumes', volumeName];
      if (!volumeNames.has(volumeName)) {
        issues.push({ path: vAt, pointAtKey: true, message: `override for undeclared volume "${volumeName}"`, fix: `use one of: ${declared(volumeNames)}` });
      }
      checkHostPath(override.bind, [...vAt, 'bind'], true);
      checkHostPath(override.host, [...vAt, 'host'], false);
      if (override.nfs !== undefined) checkHostPath(override.nfs.path, [...vAt, 'nfs', 'path'], false);
    }
    for (const [serviceName, override] of Object.entries(env.services ?? {})) {
      const sAt: KeyPath = [...at, 'services', serviceName];
      if (!serviceNames.has(serviceName)) {
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

/**
 * The engine's address, its TLS settings, and binds that would mean nothing on
 * it: `./data` names a directory of this checkout, which a remote engine's
 * host does not have.
 */
function engineIssues(envName: string, env: EnvironmentSpec): IssueAt[] {
  const issues: IssueAt[] = [];
  const at: KeyPath = ['environments', envName];
  const parsed = env.engine === undefined ? undefined : parseEngineUrl(env.engine);
  if (parsed !== undefined && !parsed.ok) issues.push({ path: [...at, 'engine'], message: parsed.problem, fix: parsed.fix });
  const scheme = parsed?.ok === true ? parsed.url.scheme : undefined;
  if (env.engineTls !== undefined && scheme !== 'tcp' && parsed?.ok !== false) {
    issues.push({ path: [...at, 'engineTls'], pointAtKey: true, message: `engineTls applies to a tcp:// engine only${env.engine === undefined ? ', and this environment names none' : `, not to ${env.engine}`}`, fix: 'remove engineTls, or set engine: tcp://<host>:2376' });
  }
  if (scheme === 'tcp' && env.engineTls === undefined) {
    issues.push({
      path: [...at, 'engine'],
      message: `${env.engine ?? ''} without TLS: anyone who reaches that port is root on the engine's host`,
      fix: 'add engineTls: { certPath: <directory with ca.pem, cert.pem, key.pem> } (the engine must run with --tlsverify), or use engine: ssh://<user>@<host>',
    });
  }
  const certPath = env.engineTls?.certPath;
  if (certPath !== undefined && !certPath.startsWith('/') && !certPath.startsWith('./')) {
    issues.push({ path: [...at, 'engineTls', 'certPath'], message: `certPath "${certPath}" is neither absolute nor ./relative`, fix: 'write an absolute path, or ./relative to the project root, e.g. ./certs/prod' });
  }
  if (env.engine !== undefined) issues.push(...remoteBindIssues(envName, env, env.engine));
  return issues;
}

/**
 * `./relative` binds of an environment that runs on `engineUrl`, when that is
 * certainly another machine (ssh://, tcp://). `by` says who chose the engine
 * when it is not the stack file (`--engine`).
 */
export function remoteBindIssues(envName: string, env: EnvironmentSpec, engineUrl: string, by?: string): IssueAt[] {
  if (!isRemoteUrl(engineUrl)) return [];
  const issues: IssueAt[] = [];
  for (const [volumeName, override] of Object.entries(env.volumes ?? {})) {
    if (override.bind === undefined || override.bind.startsWith('/')) continue;
    issues.push({
      path: ['environments', envName, 'volumes', volumeName, 'bind'],
      message:
        `bind "${override.bind}" is relative to this checkout, but environment "${envName}" runs on ${engineUrl}${by === undefined ? '' : ` (${by})`}: ` +
        'that host has no such directory, and stowage would read and write a directory there that has nothing to do with this one',
      fix: `write the absolute path on that host, e.g. bind: /srv/<app>/${volumeName} (or set hostRoot and volumeBacking: bind)${by === undefined ? `, or remove engine to run "${envName}" on this machine` : `, or leave out ${by}`}`,
    });
  }
  return issues;
}

/** Services that mount each volume, in declaration order, each service once. */
function servicesByVolume(stack: StackFile): Map<string, string[]> {
  const byVolume = new Map<string, string[]>();
  for (const [serviceName, service] of Object.entries(stack.services)) {
    for (const volume of new Set((service.mounts ?? []).map((m) => parseMount(m)?.volume))) {
      if (volume === undefined) continue;
      const list = byVolume.get(volume);
      if (list === undefined) byVolume.set(volume, [serviceName]);
      else list.push(serviceName);
    }
  }
  return byVolume;
}

/** `/a/b/c`, `/a/b`, `/a`, `/`: the directories a path lies in, itself included. */
function ancestors(path: string): string[] {
  const found: string[] = [];
  let at = path.replace(/\/+$/, '') || '/';
  for (;;) {
    found.push(at);
    if (at === '/' || !at.includes('/')) return found;
    at = at.slice(0, at.lastIndexOf('/')) || '/';
  }
}

/**
 * A cycle of dependsOn, or undefined. Iterative: a chain of thousands of
 * services must not overflow the call stack.
 */
function findDependencyCycle(stack: StackFile): string[] | undefined {
  const state = new Map<string, 'visiting' | 'done'>();
  for (const start of Object.keys(stack.services)) {
    if (state.has(start)) continue;
    // Each frame: a service on the current path and how many of its dependencies were tried.
    const path: Array<{ name: string; next: number }> = [{ name: start, next: 0 }];
    const onPath = new Map<string, number>([[start, 0]]);
    state.set(start, 'visiting');
    while (path.length > 0) {
      const frame = path[path.length - 1];
      if (frame === undefined) break;
      const deps = stack.services[frame.name]?.dependsOn ?? [];
      const dep = deps[frame.next];
      if (dep === undefined) {
        state.set(frame.name, 'done');
        onPath.delete(frame.name);
        path.pop();
        continue;
      }
      frame.next++;
      if (dep === frame.name || stack.services[dep] === undefined || state.get(dep) === 'done') continue;
      const at = onPath.get(dep);
      if (at !== undefined) return [...path.slice(at).map((f) => f.name), dep];
      state.set(dep, 'visiting');
      onPath.set(dep, path.length);
      path.push({ name: dep, next: 0 });
    }
  }
  return undefined;
}
