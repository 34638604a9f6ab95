// scripts/inspect.mjs: parse its options (spec), call the library, print the result; no logic here.
import { EXIT, STACK_OPTION, ENGINE_OPTION, stringValue, type CommandSpec, type Handler } from '../cli/cli.js';
import { UsageError } from '../config/errors.js';
import { findVolume, type Model, type VolumeModel } from '../config/model.js';
import { formatMode } from '../config/syntax.js';
import type { ByteSink } from '../engine/archive.js';
import type { ListedEntry } from '../engine/permissions.js';
import { catVolumeFile, listVolume, modeString, volumeInfo, volumePath, type ListResult, type VolumeInfo } from '../ops/inspect-volume.js';
import { displayPath } from '../ops/permissions.js';
import { formatBytes } from '../cli/progress.js';
import { stackContext } from './context.js';

export const spec: CommandSpec = {
  name: 'inspect',
  summary: 'look inside a volume without writing to it: info, ls, cat',
  usage: '--stack <app>-<env> --volume V [info | ls [PATH] | cat PATH] [--json]',
  positionals: '[info | ls [PATH] | cat PATH]',
  options: {
    ...STACK_OPTION,
    ...ENGINE_OPTION,
    volume: { type: 'string', value: 'V', description: 'the volume (may be left out when the stack has exactly one)' },
  },
  details:
    'info (default): kind, Docker volume name, mountpoint or host path, driver and options, labels,\n' +
    '  size and file count, and the containers that use it (running or not, read-only or not).\n' +
    'ls [PATH]: a directory\'s entries (type, mode, owner, size, mtime); PATH is relative to the volume root.\n' +
    'cat PATH: a file\'s bytes on stdout (with --json: {"content","encoding"}).\n' +
    'Symbolic links are never followed: ls shows a link and its target; cat of a link, or any PATH through one, is refused.\n' +
    'Everything is read-only: the volume is mounted read-only and never created.',
};

export type InspectAction = { kind: 'info' } | { kind: 'ls'; path: string } | { kind: 'cat'; path: string };

export function parseAction(positionals: string[]): InspectAction {
  const [action = 'info', path, ...rest] = positionals;
  const usage = `usage: npx zx scripts/inspect.mjs ${spec.usage}`;
  if (rest.length > 0) throw new UsageError(`unexpected argument "${rest[0] ?? ''}"; ${usage}`);
  switch (action) {
    case 'info':
      if (path !== undefined) throw new UsageError(`info takes no path; ${usage}`);
      return { kind: 'info' };
    case 'ls':
      return { kind: 'ls', path: volumePath(path) };
    case 'cat':
      if (path === undefined) throw new UsageError(`cat needs a PATH inside the volume, e.g. cat secrets.env; ${usage}`);
      return { kind: 'cat', path: volumePath(path) };
    default:
      throw new UsageError(`unknown action "${action}": use info, ls [PATH] or cat PATH; ${usage}`);
  }
}

function selectVolume(model: Model, name: string | undefined): VolumeModel {
  if (name !== undefined) return findVolume(model, name);
  const [only, ...others] = model.volumes;
  if (only !== undefined && others.length === 0) return only;
  throw new UsageError(`--volume is required: stack ${model.app}-${model.env} has ${model.volumes.map((v) => v.key).join(', ')}`);
}


function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

function entryJson(e: ListedEntry): Record<string, unknown> {
  return {
    name: e.name,
    type: e.type,
    size: e.size,
    owner: `${e.uid}:${e.gid}`,
    uid: e.uid,
    gid: e.gid,
    mode: formatMode(e.mode),
    mtime: isoSeconds(e.mtime),
    ...(e.target === undefined ? {} : { target: e.target }),
  };
}

export function renderListing(result: ListResult): string {
  if (result.entries.length === 0) return result.path === '.' ? '(the volume is empty)' : `(${result.path} is empty)`;
  const ownerWidth = Math.max(...result.entries.map((e) => `${e.uid}:${e.gid}`.length));
  const sizeWidth = Math.max(...result.entries.map((e) => String(e.size).length));
  return result.entries
    .map((e) => {
      const name = displayPath(e.name) + (e.type === 'directory' ? '/' : '') + (e.target === undefined ? '' : ` -> ${displayPath(e.target)}`);
      return `${modeString(e)}  ${`${e.uid}:${e.gid}`.padEnd(ownerWidth)}  ${String(e.size).padStart(sizeWidth)}  ${isoSeconds(e.mtime)}  ${name}`;
    })
    .join('\n');
}

export function infoJson(info: VolumeInfo): Record<string, unknown> {
  return {
    volume: info.volume,
    stack: info.stack,
    name: info.name,
    kind: info.kind,
    exists: info.exists,
    dockerVolume: info.dockerVolume,
    via: info.via ?? null,
    mountpoint: info.mountpoint ?? null,
    hostPath: info.hostPath ?? null,
    driver: info.driver ?? null,
    options: info.options,
    labels: info.labels,
    declared: {
      owner: info.declared.owner ?? null,
      mode: info.declared.mode ?? null,
      files: info.declared.files.map((f) => ({ path: f.path, mode: f.mode ?? null, owner: f.owner ?? null, secret: f.secret })),
      backup: info.declared.backup,
    },
    size: info.size ?? null,
    problem: info.problem ?? null,
    containers: info.containers,
  };
}

const KIND_TEXT: Record<VolumeInfo['kind'], string> = {
  named: 'named (Docker-managed volume)',
  host: 'host (Docker volume backed by a host directory)',
  bind: 'bind (host directory bind-mounted, no Docker volume)',
  nfs: 'nfs (Docker volume on an NFS export)',
};

export function renderInfo(info: VolumeInfo): string {
  const pairs = (record: Record<string, string>): string =>
    Object.keys(record).length === 0 ? '(none)' : Object.entries(record).map(([k, v]) => `${k}=${v}`).join(' ');
  const lines = [
    `volume ${info.volume} of ${info.stack}`,
    `  kind         ${KIND_TEXT[info.kind]}`,
    `  name         ${info.name}${info.kind === 'bind' ? ' (names its backup artifacts)' : info.dockerVolume ? '' : ' (does not exist on the engine yet)'}`,
  ];
  if (info.hostPath !== undefined) lines.push(`  host path    ${info.hostPath}${info.exists ? '' : ' (missing)'}`);
  if (info.mountpoint !== undefined && info.mountpoint !== info.hostPath) lines.push(`  mountpoint   ${info.mountpoint}`);
  if (info.dockerVolume) {
    lines.push(`  driver       ${info.driver ?? '?'}  options: ${pairs(info.options)}`);
    lines.push(`  labels       ${pairs(info.labels)}`);
  }
  const declared = [
    info.declared.owner === undefined ? undefined : `owner ${info.declared.owner}`,
    info.declared.mode === undefined ? undefined : `mode ${info.declared.mode}`,
    ...info.declared.files.map((f) => `${f.path}${f.mode === undefined ? '' : ` ${f.mode}`}${f.secret ? ' (secret)' : ''}`),
    `backup ${info.declared.backup}`,
  ].filter((x): x is string => x !== undefined);
  lines.push(`  declared     ${declared.join(', ')}`);
  if (info.size !== undefined) {
    const s = info.size;
    lines.push(`  size         ${formatBytes(s.bytes)} (${s.bytes} bytes) in ${s.files} files, ${s.directories} directories${s.links > 0 ? `, ${s.links} symbolic links` : ''}${s.other > 0 ? `, ${s.other} other entries` : ''}; ${formatBytes(s.diskBytes)} on disk`);
  } else if (info.problem !== undefined) lines.push(`  problem      ${info.problem}`);
  else lines.push('  size         (no data yet: nothing to measure)');
  if (info.containers.length === 0) lines.push('  used by      no container');
  for (const [i, c] of info.containers.entries()) {
    const state = `${c.running ? 'running' : c.status}, ${c.readOnly ? 'read-only' : 'read-write'} at ${c.destination}`;
    const who = c.helper ? ' (stowage helper)' : c.service === undefined ? ' (not of this stack)' : '';
    lines.push(`  ${i === 0 ? 'used by     ' : '            '} ${c.name}${who}: ${state}`);
  }
  return lines.join('\n');
}

/** The reader of stdout went away (`| head`): like cat, stop quietly. */
class StdoutClosed extends Error {}

/** process.stdout as a sink that is never ended and turns a closed pipe into an error instead of a hang. */
function stdoutSink(): ByteSink {
  let broken: Error | undefined;
  process.stdout.on('error', (err) => {
    broken = err;
  });
  return {
    write(chunk) {
      if (broken !== undefined) throw new StdoutClosed(`cannot write to stdout: ${broken.message}`);
      return process.stdout.write(chunk);
    },
    end: () => undefined,
    once(_event, listener) {
      const done = (): void => {
        process.stdout.off('drain', done);
        process.stdout.off('error', done);
        listener();
      };
      process.stdout.once('drain', done);
      process.stdout.once('error', done);
      return undefined;
    },
  };
}

function collectingSink(chunks: Buffer[]): ByteSink {
  return {
    write(chunk) {
      chunks.push(Buffer.from(chunk));
      return true;
    },
    end: () => undefined,
    once: () => undefined,
  };
}

function textOrBase64(content: Buffer): { encoding: 'utf8' | 'base64'; content: string } {
  try {
    return { encoding: 'utf8', content: new TextDecoder('utf-8', { fatal: true }).decode(content) };
  } catch {
    return { encoding: 'base64', content: content.toString('base64') };
  }
}

export const handler: Handler = async ({ values, positionals, out }) => {
  const action = parseAction(positionals);
  const ctx = stackContext(spec, values, out);
  const model = ctx.selected.model;
  const volume = selectVolume(model, stringValue(values, 'volume'));
  switch (action.kind) {
    case 'info': {
      const info = await volumeInfo(model, volume, ctx.runner);
      out.result(infoJson(info), () => renderInfo(info));
      return EXIT.ok;
    }
    case 'ls': {
      const listing = await listVolume(model, volume, action.path, ctx.runner);
      out.result({ volume: listing.volume, path: listing.path, directory: listing.directory, entries: listing.entries.map(entryJson) }, () => renderListing(listing));
      return EXIT.ok;
    }
    case 'cat': {
      if (!out.json) {
        try {
          await catVolumeFile(model, volume, action.path, ctx.runner, stdoutSink());
        } catch (err) {
          if (!(err instanceof StdoutClosed)) throw err;
        }
        return EXIT.ok;
      }
      const chunks: Buffer[] = [];
      const result = await catVolumeFile(model, volume, action.path, ctx.runner, collectingSink(chunks));
      out.result({ volume: result.volume, path: result.path, bytes: result.bytes, ...textOrBase64(Buffer.concat(chunks)) }, () => '');
      return EXIT.ok;
    }
  }
};
