// `pulumi destroy` followed by `pulumi up` (docs/pulumi.md: changing how a volume
// is backed) must not change a generated password: the volumes survive the destroy
// (retainOnDelete), and PostgreSQL and MongoDB keep the password they were
// initialised with. The mocks below carry the stack's state from one run to the
// next the way the engine does.
import * as pulumi from '@pulumi/pulumi';
import { beforeAll, describe, expect, it } from 'vitest';
import { deploy } from '../../src/pulumi/deploy.js';
import { CONTAINER_TYPE, installMocks, mockState, modelFor, NO_CONFIGURED_SECRETS, outputOf, PASSWORD_TYPE, RecordingMocks } from './harness.js';

interface Kept {
  id: string;
  state: Record<string, unknown>;
}

/**
 * The part of the engine that decides a password's value across runs: a resource
 * still in the state keeps its outputs when the program declares it again; one that
 * is not is created, and RandomPassword then draws a new value. `pulumi destroy`
 * takes every resource out of the state; a protected one makes it refuse, and
 * `--exclude-protected` leaves the protected ones in.
 */
class StatefulMocks extends RecordingMocks {
  private readonly state = new Map<string, Kept>();
  private draws = 0;
  readonly created: string[] = [];

  override newResource(args: Parameters<RecordingMocks['newResource']>[0]): ReturnType<RecordingMocks['newResource']> {
    const key = `${args.type}::${args.name}`;
    const recorded = super.newResource(args);
    const kept = this.state.get(key);
    if (kept !== undefined) return { id: kept.id, state: kept.state };
    this.created.push(key);
    const inputs = recorded.state;
    const state = args.type === PASSWORD_TYPE ? { ...inputs, result: `drawn-${args.name}-${++this.draws}` } : mockState(args.type, args.name, inputs);
    this.state.set(key, { id: recorded.id ?? `${args.name}-id`, state });
    return { id: recorded.id, state };
  }

  destroy(options: { excludeProtected: boolean }): void {
    const isProtected = (key: string): boolean => {
      const [type = '', name = ''] = key.split('::');
      return this.optionsOf(type, name).protect;
    };
    const protectedKeys = [...this.state.keys()].filter(isProtected);
    if (protectedKeys.length > 0 && !options.excludeProtected) {
      throw new Error(`unable to delete protected resources ${protectedKeys.join(', ')}`);
    }
    for (const key of [...this.state.keys()]) if (!isProtected(key)) this.state.delete(key);
    this.created.length = 0;
  }
}

async function up(mocks: StatefulMocks): Promise<Record<string, string>> {
  await installMocks('digidig-prod', mocks);
  const { stack, outputs } = deploy(modelFor({ app: 'digidig', env: 'prod' }), NO_CONFIGURED_SECRETS);
  await outputOf(stack.containerNames);
  const secrets = await outputOf(outputs.secrets);
  // The run ends when every registration has been answered, as a `pulumi up` does;
  // only then may the next run's mocks take over.
  await pulumi.runtime.disconnect();
  return secrets;
}

describe('digidig-prod: pulumi destroy --exclude-protected, then pulumi up', () => {
  const mocks = new StatefulMocks();
  let before: Record<string, string>;
  let after: Record<string, string>;
  let recreated: string[];

  beforeAll(async () => {
    before = await up(mocks);
    mocks.destroy({ excludeProtected: true });
    after = await up(mocks);
    recreated = [...mocks.created];
  });

  it('keeps the same generated passwords, which the kept database volumes were initialised with', () => {
    expect(Object.keys(before)).toEqual(['postgres_password', 'mongo_password']);
    expect(after).toEqual(before);
  });

  it('does create the containers again (the destroy did remove them)', () => {
    expect(recreated.filter((key) => key.startsWith(`${CONTAINER_TYPE}::`))).toHaveLength(9);
    expect(recreated.filter((key) => key.startsWith(`${PASSWORD_TYPE}::`))).toEqual([]);
  });
});

describe('digidig-prod: a plain pulumi destroy', () => {
  it('refuses while generated passwords exist, naming them', async () => {
    const mocks = new StatefulMocks();
    await up(mocks);
    expect(() => mocks.destroy({ excludeProtected: false })).toThrow(/protected resources .*postgres_password.*mongo_password/);
  });
});
