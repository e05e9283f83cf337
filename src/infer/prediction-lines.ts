/**
 * The per-row work after inference, for Node: predictions CSV lines and redshifts decoded from
 * the redshift head, in the addon (native/kernels/predictions.cpp) when it has them, else in TS.
 * Both give the same bytes and numbers (test/prediction-lines.test.ts). On classify's main
 * thread the TS loops were the largest functions V8 optimised during a run, ~45 ms of a compiler
 * thread per run on the cores onnxruntime uses, and ran unoptimised until then.
 */
import { argmax3, CLASS_NAMES } from '../io/batch.js';
import type { RedshiftHeadSpec } from '../model/spec.js';
import { native, type NativeAddon } from '../native/binding.js';
import type { CsvBytes } from './csv-bytes.js';
import { hasPrediction, type PredictionColumns } from './predictions-csv.js';
import type { PredictionRows } from './predictions.js';
import { redshiftColumns, type RedshiftEstimate } from './redshift.js';

let addon: NativeAddon | null | undefined;

function loaded(): NativeAddon | null {
  if (addon === undefined) {
    try {
      addon = native();
    } catch {
      addon = null; // predictions are written without the addon; whatever needs it reports why
    }
  }
  return addon;
}

/** The CSV lines of rows[0, n) in TypeScript (the reference, and the path without the addon). */
export function appendPredictionLinesTs(out: CsvBytes, rows: PredictionRows, n: number, columns: PredictionColumns): void {
  const p = rows.probabilities;
  for (let i = 0; i < n; i++) {
    const status = rows.status[i]!;
    const predicted = hasPrediction(status);
    out.uint(rows.firstRow + i);
    out.comma();
    out.cell(rows.ids[i]!);
    out.comma();
    if (predicted) {
      out.text(CLASS_NAMES[argmax3(p, 3 * i)]!);
      for (let k = 0; k < 3; k++) {
        out.comma();
        out.fixed(p[3 * i + k]!, 6);
      }
      out.comma();
      out.text(status);
    } else {
      out.text(',,,,');
      out.cell(status);
    }
    if (columns.oodScore) {
      out.comma();
      const score = rows.oodScore![i]!;
      if (predicted) {
        if (Number.isFinite(score)) out.fixed(score, 4);
        else out.text('inf');
      }
    }
    if (columns.redshift) {
      out.comma();
      const z = rows.z![i]!;
      const zErr = rows.zErr![i]!;
      if (predicted && Number.isFinite(z)) {
        out.fixed(z, 5);
        out.comma();
        if (Number.isFinite(zErr)) out.fixed(zErr, 5);
      } else {
        out.comma();
      }
    }
    out.newline();
  }
}

/** The CSV lines of rows[0, n) (n = rows.ids.length), natively when the addon can. */
export function appendPredictionLines(out: CsvBytes, rows: PredictionRows, n: number, columns: PredictionColumns): void {
  const lines = loaded()?.predictionLinesSync;
  if (!lines || n !== rows.ids.length) {
    appendPredictionLinesTs(out, rows, n, columns);
    return;
  }
  const ood = columns.oodScore ? rows.oodScore! : null;
  const z = columns.redshift ? rows.z! : null;
  const zErr = columns.redshift ? rows.zErr! : null;
  out.fill((bytes, at) => lines(rows.firstRow, rows.ids, rows.status, rows.probabilities, ood, z, zErr, bytes, at));
}

/**
 * redshiftColumns of src/infer/redshift.ts (z and z_err for rows predicted galaxy or QSO, NaN for
 * the others), decoded natively when the addon can. `status`: each row's, as classify sets it.
 */
export function decodeRedshiftColumns(
  head: RedshiftHeadSpec, zProbabilities: Float32Array, classProbabilities: Float32Array, rows: number, status: readonly string[],
): RedshiftEstimate {
  const decoder = loaded()?.decodeRedshiftSync;
  if (!decoder) return redshiftColumns(head, zProbabilities, classProbabilities, rows, (r) => hasPrediction(status[r]!));
  const decode = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) decode[r] = hasPrediction(status[r]!) && argmax3(classProbabilities, 3 * r) !== STAR ? 1 : 0;
  const z = new Float32Array(rows);
  const zErr = new Float32Array(rows);
  decoder(zProbabilities, rows, head.bins, head.zMin, head.zMax, decode, z, zErr);
  return { z, zErr };
}

const STAR = CLASS_NAMES.indexOf('star');
