#!/usr/bin/env -S npx zx
// Entry point of `npm run demo`: the demo lives in src/commands/demo.ts.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/cli.ts');
const { spec, handler } = await import('../src/commands/demo.ts');
await main(spec, import.meta.url, handler);
