/**
 * The per-row work after inference, for Node: the output checks with redshifts decoded from the
 * redshift head (checkedRows), and predictions CSV lines, in the addon
 * (native/kernels/predictions.cpp) when it has them, else in TS. Both give the same bytes,
 * statuses and numbers (test/prediction-lines.test.ts). On classify's main thread the TS loops
 * were among the largest functions V8 optimised during a run, on a compiler thread competing
 * with onnxruntime for the cores, and ran unoptimised until then (bench/README.md).
 */
import { AstrospecError } from '../errors.js';
import { ONNX_NAMES } from '../export/onnx.js';
import { OOD_OUTPUT } from '../export/ood-graph.js';
import { argmax3, CLASS_NAMES } from '../io/batch.js';
import type { RedshiftHeadSpec } from '../model/spec.js';
import { native, type NativeAddon } from '../native/binding.js';
import type { CsvBytes } from './csv-bytes.js';
import { hasPrediction, STATUS_OK, STATUS_OOD, type PredictionColumns } from './predictions-csv.js';
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

/** What checkedRows needs of the model. */
export interface OutputChecks {
  /** Output column of star, galaxy, qso (CLASS_NAMES order). */
  columns: number[];
  oodThreshold: number | undefined;
  redshiftHead: RedshiftHeadSpec | undefined;
  model: string;
}

/** An inference batch's rows: statuses as set while reading and preprocessing. */
export interface FinishedBatch {
  firstRow: number;
  ids: string[];
  status: string[];
  rows: number;
}

const STATUS_NON_FINITE_OUTPUT = 'non_finite_output';

/**
 * A finished batch's rows for the writer: probabilities in CLASS_NAMES order, the statuses of
 * rows whose outputs are not finite (non_finite_output) or out of distribution (ood), changed in
 * `job.status`, and z and z_err with a redshift head. `outputs`: the model's outputs by name,
 * batchSize rows each. In the addon when it can (the TS loops were compiled anew in every run,
 * on a thread competing with onnxruntime), else checkedRowsTs.
 */
export function checkedRows(job: FinishedBatch, outputs: Record<string, Float32Array>, model: OutputChecks): PredictionRows {
  const threshold = model.oodThreshold;
  const scores = outputs[OOD_OUTPUT];
  if (threshold !== undefined && !scores) throw new AstrospecError('MODEL', `the model's spec has an OOD threshold but the graph has no '${OOD_OUTPUT}' output (add it with astrospec ood)`, { file: model.model });
  const head = model.redshiftHead;
  const bins = outputs[ONNX_NAMES.zProbabilities];
  if (head && !bins) throw new AstrospecError('MODEL', `the model's spec has a redshift head but the graph has no '${ONNX_NAMES.zProbabilities}' output`, { file: model.model });
  const check = loaded()?.checkOutputsSync;
  if (!check) return checkedRowsTs(job, outputs, model);
  const rows = job.rows;
  const p = new Float32Array(3 * rows);
  const oodScore = threshold !== undefined ? scores!.subarray(0, rows) : undefined;
  const z = head ? new Float32Array(rows) : undefined;
  const zErr = head ? new Float32Array(rows) : undefined;
  columnsArray.set(model.columns);
  check(rows, job.status, outputs[ONNX_NAMES.probabilities]!, columnsArray, p, oodScore ?? null, threshold ?? 0, head ? bins! : null, head?.bins ?? 0, head?.zMin ?? 0, head?.zMax ?? 0, z ?? null, zErr ?? null);
  return { firstRow: job.firstRow, ids: job.ids, probabilities: p, status: job.status, oodScore, z, zErr };
}

const columnsArray = new Int32Array(3);

/**
 * checkedRows in TypeScript (the reference, and the path without the addon). Statuses are
 * stored on every row, changed or not: a store first reached at the first row that changes (a
 * rare status) had no type feedback, and the optimised code was thrown away and compiled again.
 */
export function checkedRowsTs(job: FinishedBatch, outputs: Record<string, Float32Array>, model: OutputChecks): PredictionRows {
  const probabilities = outputs[ONNX_NAMES.probabilities]!;
  const { columns } = model;
  const status = job.status;
  const p = new Float32Array(3 * job.rows);
  for (let i = 0; i < job.rows; i++) {
    if (status[i] !== STATUS_OK) continue;
    let finite = true;
    for (let k = 0; k < 3; k++) {
      const v = probabilities[i * 3 + k]!;
      p[i * 3 + columns[k]!] = v;
      if (!Number.isFinite(v)) finite = false;
    }
    status[i] = finite ? STATUS_OK : STATUS_NON_FINITE_OUTPUT;
  }
  let oodScore: Float32Array | undefined;
  const threshold = model.oodThreshold;
  if (threshold !== undefined) {
    oodScore = outputs[OOD_OUTPUT]!.subarray(0, job.rows);
    for (let i = 0; i < job.rows; i++) {
      // A score that is not finite (features overflowed) is as unlike the validation set as it gets.
      const s = status[i]!;
      status[i] = s === STATUS_OK && !(oodScore[i]! <= threshold) ? STATUS_OOD : s;
    }
  }
  let redshift: RedshiftEstimate | undefined;
  if (model.redshiftHead) redshift = redshiftColumns(model.redshiftHead, outputs[ONNX_NAMES.zProbabilities]!, p, job.rows, (i) => hasPrediction(status[i]!));
  return { firstRow: job.firstRow, ids: job.ids, probabilities: p, status, oodScore, z: redshift?.z, zErr: redshift?.zErr };
}
