import { join, resolve } from 'node:path';
import { UsageError } from '../config/errors.js';
import { listSets, projectDir, readManifest, type Manifest } from './set.js';
import { readVerification, stateRecordPath, VERIFICATION_FILE, type ReadRecord } from './verification-record.js';

/**
 * Where backup sets are kept, as status.mjs reads them. Directories today; a
 * restic repository (`restic:<repository>`) becomes one more implementation of
 * this interface: it lists snapshots as sets, reads each manifest from the
 * snapshot, and keeps verification records in the state directory.
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
  readonly kind: 'directory';
  /** The destination as given (`/srv/backups`), for people and for --to. */
  readonly destination: string;
  /** Where the project's sets are, for messages: `<root>/<project>`. */
  where(project: string): string;
  /** Every set of the project, oldest first. */
  sets(project: string): StoredSet[];
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

  sets(project: string): StoredSet[] {
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

/** `--to` or `backups.to`: a directory now; repositories are refused with a message until they are supported here. */
export function openSetSource(destination: string, stateDir: string): SetSource {
  if (/^restic:/.test(destination)) {
    throw new UsageError(`--to ${destination}: status.mjs reads backup sets from directories only so far; pass the directory the sets are in (the default is backups.to, else ./backups)`);
  }
  return new DirectorySetSource(destination, stateDir);
}
