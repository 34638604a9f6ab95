#!/usr/bin/env -S npx zx
// Entry point of `npm run demo`: the demo lives in src/commands/demo.ts (build/entry.mjs: compiled in dist/ when current).
import { runCommand } from '../build/entry.mjs';

await runCommand('demo', import.meta.url);
