import { isDumpMethod, type Model } from '../config/model.js';
import type { ListItem } from './template.js';
import type { ActionName } from './types.js';

/**
 * The variables a runbook can use, derived from the stack model and the
 * command line. Names and list fields are fixed here so the loader can check a
 * runbook before any stack is selected.
 */

export const BUILTIN_SCALARS: Readonly<Record<string, string>> = {
  stack: 'the --stack argument, <app>-<env>',
  app: 'the app of the stack file',
  env: 'the environment',
  project: 'the Compose project (app unless the environment overrides it)',
  backups: 'the backup root: --to, else the stack file\'s backups.to, else ./backups',
  stacks_dir: 'the directory holding the stack files',
  compose_dir: 'the directory holding the generated Compose files (--compose-dir, default compose/)',
  drill_project: 'the scratch project of a restore drill, <project>-drill',
};

/** List variables: field names of their items, or [] for lists of plain strings. */
export const BUILTIN_LISTS: Readonly<Record<string, readonly string[]>> = {
  containers: [],
  volumes: [],
  images: [],
  services: ['service', 'container', 'image'],
  secret_files: ['volume', 'path'],
  sqlite_databases: ['volume', 'path'],
  dump_volumes: ['volume', 'service', 'container'],
};

export const LIST_DESCRIPTIONS: Readonly<Record<string, string>> = {
  containers: 'container names of every service',
  volumes: 'volume keys of the stack file',
  images: 'the images the services run (each once)',
  services: 'one item per service: service, container, image',
  secret_files: 'files marked secret: true: volume, path',
  sqlite_databases: 'SQLite databases of sqlite-method volumes: volume, path',
  dump_volumes: 'pg_dump/mongodump volumes: volume, and the service and container that run the database',
};

export interface ActionSpec {
  /** Parameters accepted under `with`, and their defaults (null: required). */
  params: Readonly<Record<string, string | null>>;
  /** Variables the action sets for later steps. */
  sets: { scalars: readonly string[]; lists: Readonly<Record<string, readonly string[]>> };
  summary: string;
}

export const ACTIONS_SPEC: Readonly<Record<ActionName, ActionSpec>> = {
  'record-images': {
    params: {},
    sets: { scalars: [], lists: { previous_images: [] } },
    summary: 'tags the image each service container runs now as `stowage-rollback/<project>-<service>:previous`; the image IDs go into the journal (`{{previous_images}}`)',
  },
  'rollback-images': {
    params: {},
    sets: { scalars: [], lists: {} },
    summary: 'points each service\'s image reference back at its `stowage-rollback/<project>-<service>:previous` tag',
  },
  'missing-volumes': {
    params: {},
    sets: { scalars: [], lists: { missing: [] } },
    summary: 'lists the backed-up volumes that do not exist on the engine (or whose host directory is gone) as `{{missing}}`',
  },
  'drill-restore': {
    params: { backup: 'latest' },
    sets: { scalars: ['drill_set'], lists: {} },
    summary: 'restores a backup set into scratch volumes of project `{{drill_project}}` (live volumes untouched); sets `{{drill_set}}`',
  },
  'drill-check': {
    params: { backup: null },
    sets: { scalars: [], lists: {} },
    summary: 'compares every restored scratch volume with its artifact, entry by entry (type, owner, mode, size, sha256)',
  },
  'drill-remove': {
    params: {},
    sets: { scalars: [], lists: {} },
    summary: 'removes the containers and volumes of project `{{drill_project}}`, and only those',
  },
};

export interface RunSettings {
  stack: string;
  stacksDir: string;
  composeDir: string;
  backups: string;
}

export function drillProject(model: Model): string {
  return `${model.project}-drill`;
}

export function builtinScalars(model: Model, settings: RunSettings): Map<string, string> {
  return new Map([
    ['stack', settings.stack],
    ['app', model.app],
    ['env', model.env],
    ['project', model.project],
    ['backups', settings.backups],
    ['stacks_dir', settings.stacksDir],
    ['compose_dir', settings.composeDir],
    ['drill_project', drillProject(model)],
  ]);
}

export function builtinLists(model: Model): Map<string, ListItem[]> {
  const firstPerService = [...new Map(model.containers.map((c) => [c.service, c] as const)).values()];
  const containerOf = (service: string | undefined): string => model.containers.find((c) => c.service === service)?.name ?? '';
  return new Map<string, ListItem[]>([
    ['containers', model.containers.map((c) => c.name)],
    ['volumes', model.volumes.map((v) => v.key)],
    ['images', [...new Set(model.containers.map((c) => c.image))]],
    ['services', firstPerService.map((c) => ({ service: c.service, container: c.name, image: c.image }))],
    ['secret_files', model.volumes.flatMap((v) => v.files.filter((f) => f.secret).map((f) => ({ volume: v.key, path: f.path })))],
    ['sqlite_databases', model.volumes.filter((v) => v.backup.method === 'sqlite').flatMap((v) => v.backup.databases.map((path) => ({ volume: v.key, path })))],
    [
      'dump_volumes',
      model.volumes
        .filter((v) => isDumpMethod(v.backup.method))
        .map((v) => ({ volume: v.key, service: v.backup.service ?? '', container: containerOf(v.backup.service) })),
    ],
  ]);
}
