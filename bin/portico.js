#!/usr/bin/env node
// The installed package runs the compiled CLI: Node does not strip types under node_modules.
// A source checkout without a build runs the TypeScript directly (Node >= 24).
import { existsSync } from 'node:fs';

const compiled = new URL('../dist/cli/main.js', import.meta.url);
const entry = existsSync(compiled) ? compiled : new URL('../src/cli/main.ts', import.meta.url);
const { runCli } = await import(entry.href);
process.exitCode = await runCli(process.argv.slice(2));
