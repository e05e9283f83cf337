/**
 * Writes docs/cli.md from the CLI's own --help output, so the reference can't drift from the
 * code (test/cli-reference.test.ts fails when it is stale). Run: npm run docs:cli
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { commands } from '../src/cli/main.js';
import { packageRoot } from '../src/native/binding.js';

export function commandNames(): string[] {
  return commands.map((c) => String(c.command).split(' ')[0]!);
}

function help(args: string[]): string {
  // The compiled CLI, as users run it; a pipe (not a TTY) fixes the wrap width.
  return execFileSync(process.execPath, [join(packageRoot, 'bin', 'astrospec.js'), ...args, '--help'], {
    encoding: 'utf8',
    env: { ...process.env, FORCE_COLOR: '0' },
  }).trimEnd();
}

export function cliReference(): string {
  const sections = [
    '# CLI reference',
    '',
    'Generated from `astrospec <command> --help` by `npm run docs:cli`; a test keeps it in sync.',
    '',
    '```text',
    help([]),
    '```',
  ];
  for (const name of commandNames()) {
    sections.push('', `## astrospec ${name}`, '', '```text', help([name]), '```');
  }
  return `${sections.join('\n')}\n`;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  writeFileSync(join(packageRoot, 'docs', 'cli.md'), cliReference());
  process.stdout.write('wrote docs/cli.md\n');
}
