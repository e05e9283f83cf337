/**
 * Refuses to write an output over one of the command's inputs (`classify x.csv -o x.csv`): the
 * writers rename a finished temporary file over the output, which would replace the input with
 * what was computed from it. Paths are compared resolved, and then as files (device and inode,
 * following symbolic links), so `./x.csv`, a symlink to it or a hard link are all the same file.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AstrospecError } from '../errors.js';
import { listDataset } from '../io/dataset.js';

/** Options (yargs names) that name files each command writes and reads. */
export const COMMAND_FILES: Record<string, { outputs: string[]; inputs: string[] }> = {
  synth: { outputs: ['output'], inputs: ['templates'] },
  convert: { outputs: ['output'], inputs: ['inputs', 'labels'] },
  preprocess: { outputs: ['output'], inputs: ['inputs'] },
  train: { outputs: ['out'], inputs: ['data', 'valData'] },
  export: { outputs: ['output'], inputs: ['model'] },
  // The model is read whole before the output is written atomically: rewriting it in place is allowed.
  ood: { outputs: ['output'], inputs: ['data', 'labels'] },
  classify: { outputs: ['output'], inputs: ['input', 'model', 'labels'] },
  evaluate: { outputs: ['output', 'json'], inputs: ['predictions', 'truth', 'labels', 'model', 'data'] },
  report: { outputs: ['output'], inputs: ['predictions', 'data', 'log', 'model'] },
  plot: { outputs: ['output'], inputs: ['input'] },
  merge: { outputs: ['output'], inputs: ['shards', 'input'] },
  plan: { outputs: ['listOut'], inputs: ['inputs'] },
  demo: { outputs: ['out'], inputs: ['model'] },
};

function paths(value: unknown): string[] {
  if (typeof value === 'string') return value === '' ? [] : [value];
  if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string' && v !== '');
  return [];
}

async function isDatasetEntry(path: string): Promise<boolean> {
  if (path.startsWith('@')) return true;
  const info = await stat(path).catch(() => undefined);
  return info ? info.isDirectory() : /[*?[]/.test(path);
}

async function identity(path: string): Promise<string | undefined> {
  try {
    const s = await stat(path);
    return `${s.dev}:${s.ino}`;
  } catch {
    return undefined;
  }
}

/** Throws BAD_ARGUMENT when an output of `command` is (or is the same file as) an input or another output. */
export async function refuseOverwritingInputs(command: string, args: Record<string, unknown>): Promise<void> {
  const files = COMMAND_FILES[command];
  if (!files) return;
  const outputs = files.outputs.flatMap((name) => paths(args[name]).map((path) => ({ name, path })));
  const inputs = files.inputs.flatMap((name) => paths(args[name]).map((path) => ({ name, path })));
  // A folder, glob or @list input stands for the files it lists: an output may not be one of them either.
  for (const input of [...inputs]) {
    if (!(await isDatasetEntry(input.path))) continue;
    const listed = await listDataset(input.path).catch(() => undefined);
    for (const file of listed?.files ?? []) inputs.push({ name: input.name, path: file.path });
  }
  const seen: { name: string; path: string; id?: string }[] = [];
  for (const input of inputs) seen.push({ ...input, id: await identity(input.path) });
  for (const output of outputs) {
    const id = await identity(output.path);
    const same = seen.find((other) => resolve(other.path) === resolve(output.path) || (id !== undefined && other.id === id));
    if (same) {
      const role = files.outputs.includes(same.name) && !files.inputs.includes(same.name) ? 'output' : 'input';
      throw new AstrospecError(
        'BAD_ARGUMENT',
        `--${output.name} ${output.path} is the same file as the ${role} ${same.path}${role === 'input' ? ': refusing to overwrite an input' : ''}`,
      );
    }
    seen.push({ ...output, name: output.name, id });
  }
}
