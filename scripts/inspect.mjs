#!/usr/bin/env -S npx zx
// Entry point only: the command lives in src/commands/inspect.ts (build/entry.mjs: compiled in dist/ when current).
import { runCommand } from '../build/entry.mjs';

await runCommand('inspect', import.meta.url);
