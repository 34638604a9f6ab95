#!/usr/bin/env -S npx zx
// Entry point only: the command lives in src/commands/copy.ts (build/entry.mjs: compiled in dist/ when current).
import { runCommand } from '../build/entry.mjs';

await runCommand('copy', import.meta.url);
