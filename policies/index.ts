// Pulumi CrossGuard entry point: `pulumi preview --policy-pack policies`.
//
// Pulumi's policy runner loads this file through ts-node as CommonJS, while the
// rules (src/policy) are ES modules like the rest of the repository. So this
// file stays CommonJS, registers tsx's ES-module loader, and imports the pack
// (pack.mts) dynamically. Everything that decides anything lives in pack.mts
// and src/policy, where the tests reach it without a Pulumi CLI.
import { PolicyPack } from '@pulumi/policy';

async function main(): Promise<void> {
  // The ES-module build of tsx's API: its CommonJS build (tsx 4.23) registers its
  // hooks from a path that does not exist.
  const { register } = await import('tsx/esm/api');
  register();
  const { PACK_NAME, createPolicies, defaultStacksDir } = await import('./pack.mjs');
  // The constructor starts the analyzer server the Pulumi CLI talks to.
  new PolicyPack(PACK_NAME, {
    description: 'stowage guardrails: state on declared volumes, pinned production images, host-backed production volumes, backups, secrets, privileges',
    policies: createPolicies({ stacksDir: defaultStacksDir() }),
  });
}

main().catch((err: unknown) => {
  process.stderr.write(`stowage policy pack failed to start: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
