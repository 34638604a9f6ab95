import { join, resolve } from 'node:path';
import type { Runner } from '../engine/command.js';
import { mapLimited } from '../util/concurrency.js';
import { parseDestination } from './destination.js';
import { Repository } from './repository.js';
import { listSets, projectDir, readManifest, type Manifest } from './set.js';
import { readVerification, stateRecordPath, VERIFICATION_FILE, type ReadRecord } from './verification-record.js';

/**
 * Where backup sets are kept, as status.mjs reads them: a directory of set
 * directories, or a restic repository (`restic:<repository>`), whose sets are
 * snapshots grouped by their set tag, each manifest read from its manifest
 * snapshot, and verification records kept in the state directory.
 */
export interface StoredSet {
  /** The set's UTC timestamp, YYYYMMDDTHHMMSSZ. */
  id: string;
  /** Where a person finds it: the set directory, or repository and snapshot. */
  location: string;
  /** complete: its manifest is there and valid. incomplete: no manifest (an interrupted run). damaged: a manifest that cannot be read. */
  state: 'complete' | 'incomplete' | 'damaged';
  manifest: Manifest | undefined;
  /** Why a damaged set's manifest cannot be used. */
  problem?: string;
}

export interface SetSource {
  readonly kind: 'directory' | 'repository';
  /** The destination as given (`/srv/backups`), for people and for --to. */
  readonly destination: string;
  /** Where the project's sets are, for messages: `<root>/<project>`. */
  where(project: string): string;
  /** Every set of the project, oldest first. */
  sets(project: string): Promise<StoredSet[]>;
  /** What verify.mjs recorded about a complete set. */
  verification(set: StoredSet & { manifest: Manifest }): ReadRecord;
}

/** A backup root holding `<project>/<YYYYMMDDTHHMMSSZ>/` set directories (docs/architecture.md, backup set). */
export class DirectorySetSource implements SetSource {
  readonly kind = 'directory';
  readonly destination: string;

  constructor(
    root: string,
    private readonly stateDir: string,
  ) {
    this.destination = resolve(root);
  }

  sets(project: string): Promise<StoredSet[]> {
    return Promise.resolve(this.listed(project));
  }

  private listed(project: string): StoredSet[] {
    return listSets(this.destination, project).map((set): StoredSet => {
      if (!set.complete) return { id: set.name, location: set.path, state: 'incomplete', manifest: undefined };
      try {
        return { id: set.name, location: set.path, state: 'complete', manifest: readManifest(set.path) };
      } catch (err) {
        return { id: set.name, location: set.path, state: 'damaged', manifest: undefined, problem: err instanceof Error ? err.message : String(err) };
      }
    });
  }

  verification(set: StoredSet & { manifest: Manifest }): ReadRecord {
    return readVerification([join(set.location, VERIFICATION_FILE), stateRecordPath(this.stateDir, set.manifest.project, set.id)], set.manifest, set.id);
  }

  where(project: string): string {
    return projectDir(this.destination, project);
  }
}

/** A restic repository's sets: only reads (snapshots --no-lock, dump of each manifest). */
export class RepositorySetSource implements SetSource {
  readonly kind = 'repository';
  readonly destination: string;

  constructor(
    private readonly repo: Repository,
    private readonly stateDir: string,
  ) {
    this.destination = repo.display;
  }

  async sets(project: string): Promise<StoredSet[]> {
    const sets = await this.repo.sets(project);
    return mapLimited(sets, 4, async (set): Promise<StoredSet> => {
      const location = `${this.repo.display} set ${set.id}`;
      if (set.manifest === undefined) return { id: set.id, location, state: 'incomplete', manifest: undefined };
      try {
        return { id: set.id, location, state: 'complete', manifest: await this.repo.manifest(set) };
      } catch (err) {
        return { id: set.id, location, state: 'damaged', manifest: undefined, problem: err instanceof Error ? err.message : String(err) };
      }
    });
  }

  verification(set: StoredSet & { manifest: Manifest }): ReadRecord {
    return readVerification([stateRecordPath(this.stateDir, set.manifest.project, set.id)], set.manifest, set.id);
  }

  where(project: string): string {
    return `${this.repo.display} (project ${project})`;
  }
}

/** `--to` or `backups.to`: a directory of sets, or `restic:<repository>` (read with this run's runner). */
export function openSetSource(destination: string, stateDir: string, runner: Runner, passwordFile: string | undefined): SetSource {
  const parsed = parseDestination(destination, passwordFile);
  if (parsed.kind === 'repository') return new RepositorySetSource(new Repository(runner, parsed), stateDir);
  return new DirectorySetSource(parsed.path, stateDir);
}
