import { createReadStream, createWriteStream, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { PassThrough } from 'node:stream';
import { privateScratch } from '../session/scratch.js';
import type { Model, VolumeModel } from '../config/model.js';
import { singleFileArchive, singleFileContent } from '../engine/archive.js';
import { startStreaming, type Command, type Runner } from '../engine/command.js';
import { mongo, pg, removeFile } from '../engine/databases.js';
import { docker } from '../engine/docker.js';
import { inspectContainers, type ContainerState } from '../engine/inspect.js';
import type { ProgressFactory } from '../cli/progress.js';
import { uniqueSuffix } from '../session/session.js';
import type { SetWriter } from './set-writer.js';
import type { ArtifactStream } from './set-reader.js';
import type { ArtifactRecord } from './set.js';

/**
 * pg_dump and mongodump artifacts: the dump runs inside the database
 * container (its own client, its own credentials from its environment) into
 * a file there, which leaves through the archive endpoint. Restoring goes the
 * other way (restore.ts).
 */

export interface DumpContext {
  model: Model;
  runner: Runner;
  writer: SetWriter;
  progress: ProgressFactory;
}

/** pg_dump or mongodump inside the database container, to a file there, then out through the archive endpoint. */
export async function dumpDatabase(ctx: DumpContext, volume: VolumeModel): Promise<ArtifactRecord> {
  const { runner, model } = ctx;
  const service = volume.backup.service;
  const container = model.containers.find((c) => c.service === service);
  if (container === undefined) throw new Error(`volume ${volume.key}: backup.service "${service ?? ''}" has no container in ${model.app}-${model.env}`);
  const [state] = await inspectContainers(runner, [container.name]);
  if (state === undefined || !state.State.Running) {
    throw new Error(`volume ${volume.key}: ${volume.backup.method} runs inside ${container.name}, which is not running; start it (docker start ${container.name}) and try again`);
  }
  const inside = `/tmp/stowage-${uniqueSuffix()}.dump`;
  const dumpCommand = volume.backup.method === 'pg_dump' ? await pgDumpCommand(ctx, volume, state, inside) : mongo.dump(mongoTarget(volume, state), inside);
  await runner.run(dumpCommand);
  try {
    const reader = startStreaming(docker.archiveReadPath(state.Name, inside), { stdin: 'ignore', stdout: 'pipe' });
    if (reader.child.stdout === null) throw new Error('docker cp produced no stream');
    const content = new PassThrough();
    const extracting = singleFileContent(reader.child.stdout, content);
    const bar = ctx.progress(volume.key, undefined);
    const [artifact] = await Promise.all([ctx.writer.dumpStream(volume, content, (n) => bar.add(n)), extracting, reader.done]);
    bar.finish();
    return { volume: volume.key, method: volume.backup.method, ...artifact };
  } finally {
    await runner.run(removeFile(state.Name, inside), { allowFailure: true });
  }
}

function envOf(state: ContainerState, name: string): string | undefined {
  const entry = (state.Config.Env ?? []).find((e) => e.startsWith(`${name}=`));
  return entry === undefined ? undefined : entry.slice(name.length + 1);
}

/** User and database from the stack file, else from the container's POSTGRES_* variables, as the official image does. */
export function pgTarget(volume: VolumeModel, state: ContainerState, viaTcp: boolean): Parameters<typeof pg.dump>[0] {
  const user = volume.backup.user ?? envOf(state, 'POSTGRES_USER') ?? 'postgres';
  const database = volume.backup.database ?? envOf(state, 'POSTGRES_DB') ?? user;
  return { container: state.Name, user, database, ...(viaTcp && envOf(state, 'POSTGRES_PASSWORD') !== undefined ? { passwordEnv: 'POSTGRES_PASSWORD' } : {}) };
}

async function pgDumpCommand(ctx: Pick<DumpContext, 'runner'>, volume: VolumeModel, state: ContainerState, inside: string): Promise<Command> {
  // Images put the server's socket in different places; when the default one does not answer, use TCP.
  const socket = await ctx.runner.run(pg.ready(pgTarget(volume, state, false)), { allowFailure: true });
  return pg.dump(pgTarget(volume, state, socket.code !== 0), inside);
}

export function mongoTarget(volume: VolumeModel, state: ContainerState): Parameters<typeof mongo.dump>[0] {
  return {
    container: state.Name,
    usernameEnv: volume.backup.usernameEnv ?? (envOf(state, 'MONGO_INITDB_ROOT_USERNAME') === undefined ? undefined : 'MONGO_INITDB_ROOT_USERNAME'),
    passwordEnv: volume.backup.passwordEnv ?? (envOf(state, 'MONGO_INITDB_ROOT_PASSWORD') === undefined ? undefined : 'MONGO_INITDB_ROOT_PASSWORD'),
    authenticationDatabase: volume.backup.authenticationDatabase ?? (envOf(state, 'MONGO_INITDB_ROOT_USERNAME') === undefined ? undefined : 'admin'),
  };
}


/**
 * Restores a dump inside the running database container: pg_restore --clean
 * --if-exists --create, mongorestore --drop. The artifact was verified; its
 * hash is checked again on the way in.
 */
export async function restoreDump(runner: Runner, model: Model, open: () => ArtifactStream, artifact: ArtifactRecord, volume: VolumeModel): Promise<void> {
  const container = model.containers.find((c) => c.service === volume.backup.service);
  const [state] = container === undefined ? [] : await inspectContainers(runner, [container.name]);
  if (container === undefined || state === undefined || !state.State.Running) {
    throw new Error(`${artifact.method} restore runs inside ${container?.name ?? `service ${volume.backup.service ?? '?'}`}, which is not running; start it first`);
  }
  const scratch = privateScratch('restore');
  const inside = `/tmp/stowage-${uniqueSuffix()}.dump`;
  try {
    // The dump goes in through the archive endpoint, which needs its size up front: decode to a private temp file first.
    const plain = join(scratch, 'dump');
    // The reader fails when the bytes are not the ones verified.
    const reader = open();
    await Promise.all([pipeline(reader.content, createWriteStream(plain, { mode: 0o600 })), reader.done]);
    const size = statSync(plain).size;
    const writer = startStreaming(docker.archiveWrite(state.Name, '/tmp'), { stdin: 'pipe', stdout: 'ignore' });
    const stdin = writer.child.stdin;
    if (stdin === null) throw new Error('docker cp has no stdin');
    const name = inside.slice('/tmp/'.length);
    await Promise.all([pipeline(singleFileArchive(name, size, 0o644, createReadStream(plain)), stdin), writer.done]);
    try {
      if (artifact.method === 'pg_dump') {
        const socket = await runner.run(pg.ready(pgTarget(volume, state, false)), { allowFailure: true });
        await runner.run(pg.restore(pgTarget(volume, state, socket.code !== 0), inside));
      } else {
        await runner.run(mongo.restore(mongoTarget(volume, state), inside));
      }
    } finally {
      await runner.run(removeFile(state.Name, inside), { allowFailure: true });
    }
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

