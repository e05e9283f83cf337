import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { cliReference, commandNames } from '../scripts/cli-reference.js';
import { LAZY_COMMANDS } from '../src/cli/run.js';

const root = new URL('../', import.meta.url);

test('docs/cli.md is the CLI help as the code prints it (npm run docs:cli)', () => {
  const committed = readFileSync(new URL('docs/cli.md', root), 'utf8');
  assert.equal(committed, cliReference(), 'docs/cli.md is stale: run npm run docs:cli');
});

test('the README names every command', () => {
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  for (const name of commandNames()) assert.match(readme, new RegExp(`\\bastrospec ${name}\\b`), `README lacks astrospec ${name}`);
});

test('bin/astrospec.js can load every command alone (src/cli/run.ts)', () => {
  assert.deepEqual([...LAZY_COMMANDS].sort(), [...commandNames()].sort());
});
