import { describe, expect, it } from 'vitest';
import type { ContainerModel } from '../../src/config/model.js';
import { inDependencyOrder } from '../../src/pulumi/stack.js';
import { modelFor } from './harness.js';

const digidig = modelFor({ app: 'digidig', env: 'dev' }).containers;

function position(ordered: ContainerModel[], service: string): number {
  return ordered.findIndex((c) => c.service === service);
}

describe('inDependencyOrder', () => {
  it('keeps every container', () => {
    expect(inDependencyOrder(digidig).map((c) => c.name).sort()).toEqual(digidig.map((c) => c.name).sort());
  });

  it.each(digidig.flatMap((c) => c.dependsOn.map((dependency) => [c.service, dependency])))('places %s after %s', (service, dependency) => {
    const ordered = inDependencyOrder(digidig);
    expect(position(ordered, service ?? '')).toBeGreaterThan(position(ordered, dependency ?? ''));
  });

  it('places a service after a dependency declared later in the stack file', () => {
    const reversed = [...digidig].reverse();
    const ordered = inDependencyOrder(reversed);
    expect(position(ordered, 'identity')).toBeGreaterThan(position(ordered, 'postgres'));
  });

  it('refuses a dependency cycle, naming it (the loader rejects cycles before this)', () => {
    const base = digidig[0];
    if (base === undefined) throw new Error('digidig has no containers');
    const a: ContainerModel = { ...base, service: 'a', name: 'x-a', dependsOn: ['b'] };
    const b: ContainerModel = { ...base, service: 'b', name: 'x-b', dependsOn: ['a'] };
    expect(() => inDependencyOrder([a, b])).toThrow(/service dependency cycle: a -> b -> a/);
  });
});
