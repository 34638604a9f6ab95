import { Document, isScalar, visit } from 'yaml';

/**
 * The generated Compose files are read by two parsers: Compose v2 (YAML 1.2) and
 * Debian's docker-compose 1.29, which reads YAML 1.1 (PyYAML). A plain scalar that
 * is a string in YAML 1.2 can be something else in YAML 1.1: the port `25:25` is
 * the sexagesimal number 1525, the user `33:33` is 2013, `on` and `no` are
 * booleans, `0755` is octal 493. These patterns are YAML 1.1's implicit types
 * (https://yaml.org/type/), widened where PyYAML's own resolvers accept more.
 */
const YAML11_IMPLICIT: ReadonlyArray<readonly [string, RegExp]> = [
  ['bool', /^(?:y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$/],
  ['null', /^(?:~|null|Null|NULL|)$/],
  ['int', /^[-+]?0b[0-1_]+$/],
  ['int', /^[-+]?0[0-7_]+$/],
  ['int', /^[-+]?(?:0|[1-9][0-9_]*)$/],
  ['int', /^[-+]?0x[0-9a-fA-F_]+$/],
  ['int', /^[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+$/],
  ['float', /^[-+]?(?:[0-9][0-9_]*)?\.[0-9._]*(?:[eE][-+]?[0-9]+)?$/],
  ['float', /^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*$/],
  ['float', /^[-+]?\.(?:inf|Inf|INF)$/],
  ['float', /^\.(?:nan|NaN|NAN)$/],
  ['timestamp', /^[0-9]{4}-[0-9]{2}-[0-9]{2}$/],
  ['timestamp', /^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}(?:[Tt]|[ \t]+)[0-9]{1,2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9]{1,2}(?::[0-9]{2})?))?$/],
  ['merge', /^<<$/],
  ['value', /^=$/],
];

/** The YAML 1.1 type a plain scalar with this text would get, or undefined when it stays a string. */
export function yaml11TypeOf(text: string): string | undefined {
  return YAML11_IMPLICIT.find(([, pattern]) => pattern.test(text))?.[0];
}

/**
 * YAML text that YAML 1.1 and 1.2 parsers read back as the same value: every
 * string, key or value, that YAML 1.1 would take for another type is double-quoted;
 * everything else is written as the yaml library writes YAML 1.2 (which already
 * quotes what 1.2 itself would misread, such as `1.10` or `true`).
 */
export function stringifyForAnyYaml(value: unknown): string {
  const doc = new Document(value);
  visit(doc, {
    Scalar(_key, node) {
      if (isScalar(node) && typeof node.value === 'string' && yaml11TypeOf(node.value) !== undefined) node.type = 'QUOTE_DOUBLE';
    },
  });
  return doc.toString({ lineWidth: 0 });
}
