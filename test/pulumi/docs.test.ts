// docs/pulumi.md is what a new user follows up to their first `pulumi up`. What it
// must name exactly comes from the repository itself: the provider plugins the SDKs
// in package.json ask for (an offline host fails without them), and every image
// the shipped stacks run (most are on no public registry).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_STACKS, isRecord, modelFor, PROJECT_ROOT } from './harness.js';

const docs = readFileSync(join(PROJECT_ROOT, 'docs/pulumi.md'), 'utf8');

function pluginVersion(sdk: string): string {
  const manifest: unknown = JSON.parse(readFileSync(join(PROJECT_ROOT, 'node_modules', '@pulumi', sdk, 'package.json'), 'utf8'));
  const plugin = isRecord(manifest) ? manifest['pulumi'] : undefined;
  const version = isRecord(plugin) ? plugin['version'] : undefined;
  if (typeof version !== 'string') throw new Error(`@pulumi/${sdk} names no plugin version`);
  return version;
}

describe.each(['docker', 'random'])('the %s provider plugin', (name) => {
  const version = pluginVersion(name);

  it('is installed with the version the SDK asks for', () => {
    expect(docs).toContain(`pulumi plugin install resource ${name} ${version}\n`);
  });

  it('is installed on an offline host from the release archive of that version', () => {
    expect(docs).toContain(`/releases/download/v${version}/pulumi-resource-${name}-v${version}-linux-amd64.tar.gz`);
    expect(docs).toContain(`pulumi plugin install resource ${name} ${version} --file pulumi-resource-${name}-v${version}-linux-amd64.tar.gz`);
  });
});

describe('the images', () => {
  const images = [...new Set(ALL_STACKS.flatMap((id) => modelFor(id).containers.map((c) => c.image)))];

  it.each(images)('%s is named, so a user knows to put it on the engine', (image) => {
    expect(docs).toContain(`\`${image}\``);
  });

  it('are put on the engine with docker load when no registry is reachable', () => {
    expect(docs).toMatch(/docker save .* \| gzip > /);
    expect(docs).toContain('docker load -i ');
  });
});

describe('stopping a stack', () => {
  it('the re-backing procedure (destroy, then up) keeps the generated passwords', () => {
    const procedure = /\*\*Changing how a volume is backed\*\*[\s\S]*?(?=\n\n)/.exec(docs)?.[0] ?? '';
    expect(procedure).toContain('`pulumi destroy --exclude-protected`');
    expect(procedure).not.toMatch(/`pulumi destroy`/);
  });
});
