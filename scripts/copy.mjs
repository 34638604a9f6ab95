#!/usr/bin/env -S npx zx
// Entry point only: the command lives in src/commands/copy.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/cli.ts');
const { spec, handler } = await import('../src/commands/copy.ts');
await main(spec, import.meta.url, handler);
