// Debian's docker-compose 1.29 reads YAML 1.1: an unquoted `25:25` is the number
// 1525, `33:33` is 2013, `on`/`no` are booleans, `0755` is 493. The renderer quotes
// every such scalar; docker-compose itself reads a stack full of them back here.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { stringifyForAnyYaml, yaml11TypeOf } from '../../src/compose/yaml11.js';
import { parsePortBinding } from '../../src/pulumi/ports.js';
import { runCommand, runScript, type RunResult } from '../helpers/run.js';
import { TempDirs, yamlText } from '../helpers/stacks.js';

const temp = new TempDirs();
afterAll(() => temp.removeAll());

/** Strings YAML 1.2 reads as strings and YAML 1.1 as something else, by the type 1.1 gives them. */
const AMBIGUOUS: Record<string, string> = {
  ON: 'on',
  OFF: 'Off',
  YES: 'yes',
  NO: 'NO',
  Y: 'y',
  N: 'n',
  OCTAL: '0755',
  SEXAGESIMAL: '1:30',
  SEXAGESIMAL_FLOAT: '1:30.5',
  BINARY: '0b101',
  UNDERSCORED: '1_000',
  HEX: '0x_1F',
  DATE: '2001-12-14',
  TIMESTAMP: '2001-12-14 21:59:43.10 -5',
  MERGE: '<<',
  VALUE: '=',
  TILDE: '~',
};

const PORTS = ['25:25', '110:110', '587:587/tcp', '53:53/udp', '127.0.0.1:2525:25'];

const STACK = yamlText`
  app: mx
  volumes:
    "on": { backup: { method: none, reason: scratch } }
  services:
    "no":
      image: mx/smtp:1.0.0
      user: "33:33"
      command: [serve, --tls, "off", --timeout, "1:30"]
      ports: [${PORTS.map((p) => JSON.stringify(p)).join(', ')}]
      environment: ${JSON.stringify(AMBIGUOUS)}
      mounts: ["on:/var/spool"]
  environments:
    dev: {}
    prod:
      services:
        "no":
          user: "25:25"
          environment: { EXTRA: "yes" }
`;

interface PortTuple {
  ip: string | undefined;
  published: number;
  target: number;
  protocol: string;
}

function fromStackFile(text: string): PortTuple {
  const p = parsePortBinding(text);
  return { ip: p.ip, published: p.external, target: p.internal, protocol: p.protocol };
}

/** `docker-compose config` writes ports in long form, or as `ip:host:container/proto` when bound to an address. */
function fromComposeConfig(entry: unknown): PortTuple {
  if (typeof entry === 'string') {
    const match = /^([0-9.]+):([0-9]+):([0-9]+)\/(tcp|udp)$/.exec(entry);
    if (match === null) throw new Error(`unexpected port entry ${entry}`);
    return { ip: match[1], published: Number(match[2]), target: Number(match[3]), protocol: match[4] ?? '' };
  }
  if (entry === null || typeof entry !== 'object') throw new Error(`unexpected port entry ${JSON.stringify(entry)}`);
  const record = new Map(Object.entries(entry));
  return { ip: undefined, published: Number(record.get('published')), target: Number(record.get('target')), protocol: String(record.get('protocol') ?? 'tcp') };
}

interface ConfigService {
  user: unknown;
  command: unknown;
  environment: unknown;
  ports: unknown[];
}

function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' && !Array.isArray(value) ? new Map(Object.entries(value)).get(key) : undefined;
}

/** One service of `docker-compose config` output, read field by field. */
function configService(config: unknown, name: string): ConfigService {
  const service = field(field(config, 'services'), name);
  if (service === undefined) throw new Error(`docker-compose config has no service "${name}": ${JSON.stringify(config)}`);
  const ports = field(service, 'ports');
  return { user: field(service, 'user'), command: field(service, 'command'), environment: field(service, 'environment'), ports: Array.isArray(ports) ? ports : [] };
}

describe('yaml11TypeOf', () => {
  test.each(Object.entries(AMBIGUOUS))('%s: "%s" is not a string in YAML 1.1', (_name, text) => {
    expect(yaml11TypeOf(text)).toBeDefined();
  });

  test.each(['25:25', '33:33', '1:2:3'])('the port or user "%s" is a sexagesimal integer', (text) => {
    expect(yaml11TypeOf(text)).toBe('int');
  });

  test.each(['1000:1000', '127.0.0.1:8000:8000', '8000:80', 'unless-stopped', 'postgres:15.8', 'yesterday', 'digidig', '10s', '0.0.0.0:25:25'])(
    '"%s" stays a string',
    (text) => {
      expect(yaml11TypeOf(text)).toBeUndefined();
    },
  );
});

describe('stringifyForAnyYaml', () => {
  test('quotes ambiguous keys and values, and YAML 1.1 and 1.2 read back the same document', () => {
    const doc = { services: { no: { user: '33:33', ports: ['25:25'], environment: AMBIGUOUS, retries: 5, privileged: true } }, volumes: { on: { name: 'mx_on' } } };
    const text = stringifyForAnyYaml(doc);
    expect(parse(text, { version: '1.1' })).toEqual(doc);
    expect(parse(text, { version: '1.2' })).toEqual(doc);
  });
});

describe('docker-compose 1.29 reads a rendered stack full of YAML 1.1 look-alikes back exactly', () => {
  const composeDir = join(temp.make('stowage-yaml11-'), 'compose');
  let render: RunResult;
  const services: Record<string, ConfigService> = {};

  beforeAll(async () => {
    const files = temp.stacksDir({ 'mx.yaml': STACK });
    render = await runScript('compose', ['--stacks-dir', files, '--out', composeDir]);
    for (const env of ['dev', 'prod']) {
      const result = await runCommand(
        'docker-compose',
        ['-p', 'mx', '--project-directory', composeDir, '-f', join(composeDir, 'mx.yml'), '-f', join(composeDir, `mx.${env}.yml`), 'config'],
        { cwd: composeDir, env: { COMPOSE_FILE: undefined, COMPOSE_PROJECT_NAME: undefined } },
      );
      if (result.code !== 0) throw new Error(`docker-compose config (${env}) failed:\n${result.stderr}\n${readFileSync(join(composeDir, 'mx.yml'), 'utf8')}`);
      // docker-compose prints YAML 1.1 (PyYAML); read it as such.
      services[env] = configService(parse(result.stdout, { version: '1.1' }), 'no');
    }
  });

  test('the stack renders', () => {
    expect(render.stderr).toBe('');
    expect(render.code).toBe(0);
  });

  test('a service named "no" and a volume named "on" keep their names', () => {
    const base = readFileSync(join(composeDir, 'mx.yml'), 'utf8');
    expect(base).toMatch(/^ {2}"no":$/m);
    expect(base).toMatch(/^ {2}"on":$/m);
    expect(Object.keys(services)).toEqual(['dev', 'prod']);
  });

  test('the user 33:33 stays "33:33" (not 2013), and 25:25 in prod stays "25:25"', () => {
    expect(services['dev']?.user).toBe('33:33');
    expect(services['prod']?.user).toBe('25:25');
  });

  test('every port is published as written (25:25 is port 25, not 1525)', () => {
    // docker-compose config sorts the ports its own way.
    const sorted = (ports: PortTuple[]): string[] => ports.map((p) => JSON.stringify([p.ip ?? '', p.published, p.target, p.protocol])).sort();
    expect(sorted((services['dev']?.ports ?? []).map(fromComposeConfig))).toEqual(sorted(PORTS.map(fromStackFile)));
  });

  test('every environment value is the original string', () => {
    expect(services['dev']?.environment).toEqual(AMBIGUOUS);
    expect(services['prod']?.environment).toEqual({ ...AMBIGUOUS, EXTRA: 'yes' });
  });

  test('command arguments "off" and "1:30" stay strings', () => {
    expect(services['dev']?.command).toEqual(['serve', '--tls', 'off', '--timeout', '1:30']);
  });
});
