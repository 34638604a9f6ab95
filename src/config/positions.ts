import { isMap, isScalar, isSeq, LineCounter, type Document, type Node } from 'yaml';
import type { KeyPath, SourcePosition } from './errors.js';

/**
 * Finds where a key path lives in the parsed document. When the path does not
 * exist (a missing key), the deepest existing ancestor is returned, which is
 * where the operator has to add it. `pointAtKey` selects the key of the last
 * map entry rather than its value (unknown keys, bad key names).
 */
export function locate(
  doc: Document,
  lines: LineCounter,
  path: KeyPath,
  pointAtKey = false,
): SourcePosition {
  let node: unknown = doc.contents;
  let offset = rangeStart(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    const part = path[i];
    const last = i === path.length - 1;
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(part));
      if (pair === undefined) break;
      const keyOffset = rangeStart(pair.key);
      const valueOffset = rangeStart(pair.value);
      if (last && pointAtKey && keyOffset !== undefined) {
        offset = keyOffset;
        break;
      }
      offset = valueOffset ?? keyOffset ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof part === 'number') {
      const item: unknown = node.items[part];
      if (item === undefined) break;
      offset = rangeStart(item) ?? offset;
      node = item;
    } else {
      break;
    }
  }
  const pos = lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}

function rangeStart(node: unknown): number | undefined {
  if (node !== null && typeof node === 'object' && 'range' in node) {
    const range = (node as Node).range;
    if (Array.isArray(range) && typeof range[0] === 'number') return range[0];
  }
  return undefined;
}

/** The key path of the mapping key that starts at `offset` (where YAML reports a duplicate key). */
export function keyPathAt(doc: Document, offset: number): KeyPath | undefined {
  const search = (node: unknown, path: Array<string | number>): KeyPath | undefined => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (rangeStart(pair.key) === offset) return [...path, key];
        const found = search(pair.value, [...path, key]);
        if (found !== undefined) return found;
      }
    } else if (isSeq(node)) {
      for (let i = 0; i < node.items.length; i++) {
        const found = search(node.items[i], [...path, i]);
        if (found !== undefined) return found;
      }
    }
    return undefined;
  };
  return search(doc.contents, []);
}
