#!/usr/bin/env node
// Entry point of the `astrospec` command: runs the compiled CLI (built by `npm ci` / `npm run build:ts`),
// loading only the module of the command named (src/cli/run.ts).
import { run } from '../dist/cli/run.js';
run(process.argv.slice(2));
