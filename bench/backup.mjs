#!/usr/bin/env -S npx zx
// Entry point only: the benchmark lives in bench/main.ts (npm run bench -- --help).
import { register } from 'tsx/esm/api';

register();
const { scriptArguments } = await import('../src/cli/cli.ts');
const { main } = await import('./main.ts');
const code = await main(scriptArguments(import.meta.url));
// Let piped stdout drain before exiting, or a large --json document is cut short.
await new Promise((done) => process.stdout.write('', () => done()));
process.exit(code);
