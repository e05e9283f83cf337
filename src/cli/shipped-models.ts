/**
 * The models that ship in the package's models/ folder, and the names a `--model` option
 * accepts for them, so a command works from any directory without the package's path.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native/binding.js';

/** The default classifier (docs/model-card.md). */
export const DEFAULT_MODEL = join(packageRoot, 'models', 'default.onnx');
/** The same model quantised to int8 (scripts/quantize-default.sh; docs/model-card.md, "The int8 model"). */
export const DEFAULT_INT8_MODEL = join(packageRoot, 'models', 'default.int8.onnx');

export const SHIPPED_MODELS: Readonly<Record<string, string>> = { default: DEFAULT_MODEL, 'default-int8': DEFAULT_INT8_MODEL };

/** A `--model` value: a path, or `default` / `default-int8` for a shipped model when no file or folder of that name exists here. */
export function modelArg(value: string): string {
  const shipped = SHIPPED_MODELS[value];
  return shipped !== undefined && !existsSync(value) ? shipped : value;
}

/** How `--model` options describe the names. */
export const SHIPPED_MODELS_HELP = '`default` or `default-int8` for the shipped models';
