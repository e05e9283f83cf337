#!/usr/bin/env node
// Entry point of the `astrospec` command: runs the compiled CLI (built by `npm ci` / `npm run build:ts`).
import { main } from '../dist/cli/main.js';
main(process.argv.slice(2));
