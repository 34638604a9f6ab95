import type { VolumeModel } from '../config/model.js';
import type { Compression } from '../engine/pipeline.js';

/** The artifact's file name in a set: `<volume>.tar.zst|.tar.gz|.pgdump|.mongo.archive.gz`, `.age` when encrypted. */
export function artifactName(volume: VolumeModel, compression: Compression, encrypted: boolean): string {
  const suffix = encrypted ? '.age' : '';
  switch (volume.backup.method) {
    case 'pg_dump':
      return `${volume.key}.pgdump${suffix}`;
    case 'mongodump':
      return `${volume.key}.mongo.archive.gz${suffix}`;
    default:
      return `${volume.key}.tar.${compression === 'zstd' ? 'zst' : 'gz'}${suffix}`;
  }
}
