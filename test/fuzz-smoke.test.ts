/**
 * A short run of each fuzzer, so they keep working as the readers change: the readers' mutation
 * fuzzer (scripts/fuzz.ts, every format) for a few seconds, and the libFuzzer harnesses of the
 * native CSV parser (scripts/fuzz-native.sh) when clang is installed. Both must find nothing; a
 * finding's input is saved where the message says. Long runs: docs/formats.md, "Fuzzing".
 */
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FORMATS } from '../fuzz/corpus.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'astrospec-fuzz-smoke-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function run(command: string, args: string[], timeout: number): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd: root, timeout, killSignal: 'SIGKILL', maxBuffer: 1 << 24 }, (error, stdout, stderr) => {
      resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

function lastJson(stdout: string): Record<string, unknown> {
  const line = stdout.trim().split('\n').pop() ?? '';
  return JSON.parse(line) as Record<string, unknown>;
}

test('npm run fuzz: a short run reads every format and finds nothing', { timeout: 120_000 }, async (t) => {
  const findings = join(dir, 'findings');
  const r = await run(process.execPath, ['--import', 'tsx', 'scripts/fuzz.ts', '--seconds', '8', '--json', '--findings', findings], 100_000);
  const summary = lastJson(r.stdout) as { executions: number; perFormat: Record<string, number>; findings: { total: number; unique: { kind: string; format: string; message: string; file?: string }[] } };
  t.diagnostic(`${summary.executions} executions: ${JSON.stringify(summary.perFormat)}`);
  assert.equal(summary.findings.total, 0, `findings (inputs in ${findings}): ${JSON.stringify(summary.findings.unique, null, 1)}`);
  assert.equal(r.code, 0, r.stderr.slice(-2000));
  for (const format of FORMATS) assert.ok(summary.perFormat[format]! > 0, `no ${format} case ran`);
});

function hasClang(): boolean {
  try {
    execFileSync('clang++', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const clang = hasClang();
test('npm run fuzz:native: a short libFuzzer run of the CSV parser finds nothing', { timeout: 300_000, skip: !clang && 'clang++ is not installed (libFuzzer needs it): apt-get install clang, or npm run fuzz:native, which installs it' }, async (t) => {
  // The first run builds build-fuzz/ (about 15 s); later runs reuse it.
  const r = await run('bash', ['scripts/fuzz-native.sh', '--seconds', '4', '--json', '--no-install'], 280_000);
  const summary = lastJson(r.stdout) as { executions: number; findings: number };
  t.diagnostic(`${summary.executions} executions of the native CSV parser`);
  assert.equal(summary.findings, 0, r.stderr.slice(-3000));
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  assert.ok(summary.executions > 1000);
});
