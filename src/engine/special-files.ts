import { docker, type HelperMount } from './docker.js';
import { command, type Command } from './command.js';

/**
 * Entries of a volume that the engine's archive endpoint cannot carry back:
 * sockets (the endpoint leaves them out without a word) and device files
 * (restores refuse them). A backup looks for them first, so that it can name
 * each one it leaves out instead of dropping it silently.
 */

export type SpecialKind = 'socket' | 'block-device' | 'character-device';

export interface SpecialFile {
  /** Path below the volume root as raw bytes in a binary string, `./`-less. */
  path: string;
  kind: SpecialKind;
}

const TYPES: Array<[string, SpecialKind]> = [
  ['s', 'socket'],
  ['b', 'block-device'],
  ['c', 'character-device'],
];

/**
 * One line per type, `<type>:<hex of NUL-separated names>`: hex survives any
 * byte a name may hold (newlines, non-UTF-8) through the CLI's text output.
 * `-xdev` keeps the walk on the volume's own filesystem.
 */
export const SPECIAL_FILES_SCRIPT = `set -e
cd "$1"
printf 'id:%s\\n' "$(stat -c '%d %i' .)"
for t in ${TYPES.map(([t]) => t).join(' ')}; do
  printf '%s:' "$t"
  find . -xdev -type "$t" -print0 | od -An -v -tx1 | tr -d ' \\n'
  echo
done
printf 'o:'
for f in .stowage-*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  printf '%s\\0' "$f"
done | od -An -v -tx1 | tr -d ' \\n'
echo
if [ "$2" = links ]; then
  printf 'l:'
  find . -xdev -type f -links +1 -exec sh -c 'for f; do printf "%s %s\\0" "$(stat -c %i -- "$f")" "$f"; done' sh {} + | od -An -v -tx1 | tr -d ' \\n'
  echo
fi
`;

/** With `links`, the scan also lists the files that have more than one name (inode and name). */
export function specialFilesScan(image: string, mount: HelperMount, labels: Record<string, string>, links = false): Command {
  const cmd = docker.runHelperScript(image, [{ ...mount, readOnly: true }], SPECIAL_FILES_SCRIPT, [mount.target, ...(links ? ['links'] : [])], labels);
  return { ...cmd, mutates: false, purpose: `look for sockets and device files in ${mount.source}` };
}

/**
 * The same scan on this machine, of a directory the local path proved to be
 * the volume's (GNU find, stat and od do what busybox's do): no helper to
 * create and remove before the writers stop.
 */
export function hostSpecialFilesScan(directory: string, links = false): Command {
  return command('sh', ['-c', SPECIAL_FILES_SCRIPT, 'sh', directory, ...(links ? ['links'] : [])], `look for sockets and device files in ${directory}`, false);
}

/** Parses the script's output; throws on anything else. */
export function parseSpecialFiles(stdout: string): SpecialFile[] {
  const found: SpecialFile[] = [];
  const lines = stdout.split('\n').filter((l) => l !== '');
  for (const [type, kind] of TYPES) {
    const line = lines.find((l) => l.startsWith(`${type}:`));
    if (line === undefined) throw new Error(`unexpected output of the special-file scan: no "${type}:" line`);
    const hex = line.slice(2);
    if (!/^(?:[0-9a-f]{2})*$/.test(hex)) throw new Error('unexpected output of the special-file scan: not hex');
    for (const raw of Buffer.from(hex, 'hex').toString('latin1').split('\0')) {
      if (raw === '') continue;
      found.push({ path: raw.replace(/^\.\//, ''), kind });
    }
  }
  return found;
}

/** Hard link groups from the scan's `l:` line: each name -> every name of its inode. */
export function parseLinkGroups(stdout: string): Map<string, string[]> {
  const line = stdout.split('\n').find((l) => l.startsWith('l:'));
  if (line === undefined) return new Map();
  const hex = line.slice(2);
  if (!/^(?:[0-9a-f]{2})*$/.test(hex)) throw new Error('unexpected output of the hard link scan: not hex');
  const byInode = new Map<string, string[]>();
  for (const record of Buffer.from(hex, 'hex').toString('latin1').split('\0')) {
    if (record === '') continue;
    const space = record.indexOf(' ');
    const inode = record.slice(0, space);
    const name = record.slice(space + 1).replace(/^\.\//, '');
    if (space <= 0 || !/^\d+$/.test(inode)) throw new Error('unexpected output of the hard link scan');
    byInode.set(inode, [...(byInode.get(inode) ?? []), name]);
  }
  const groups = new Map<string, string[]>();
  for (const members of byInode.values()) for (const m of members) groups.set(m, members);
  return groups;
}

/** stowage's own entries at the volume root (`.stowage-*`): what interrupted runs left. */
export function parseOwnEntries(stdout: string): string[] {
  const line = stdout.split('\n').find((l) => l.startsWith('o:'));
  if (line === undefined) throw new Error('unexpected output of the special-file scan: no "o:" line');
  const hex = line.slice(2);
  if (!/^(?:[0-9a-f]{2})*$/.test(hex)) throw new Error('unexpected output of the special-file scan: not hex');
  return Buffer.from(hex, 'hex').toString('latin1').split('\0').filter((n) => n !== '');
}

/** Device and inode of the volume root as the helper saw it: the proof a local path needs. */
export function parseRootIdentity(stdout: string): { dev: bigint; ino: bigint } | undefined {
  const line = stdout.split('\n').find((l) => l.startsWith('id:'));
  const m = line === undefined ? null : /^id:(\d+) (\d+)$/.exec(line.trim());
  return m === null ? undefined : { dev: BigInt(m[1] ?? '0'), ino: BigInt(m[2] ?? '0') };
}
