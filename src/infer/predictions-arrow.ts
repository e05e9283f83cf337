/**
 * Predictions as an Arrow IPC file (predictions.ts picks this by extension), in a module of its own
 * so that apache-arrow is loaded only when a run writes or reads Arrow predictions.
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { once } from 'node:events';
import { Field, Float32, Int32, makeData, RecordBatch, RecordBatchFileWriter, Schema, Struct, Utf8, vectorFromArray } from '#apache-arrow';
import { AstrospecError } from '../errors.js';
import { argmax3, CLASS_NAMES } from '../io/batch.js';
import { readArrowTable } from '../io/arrow.js';
import { commitPartial, discardPartial } from '../io/partial-files.js';
import { BaseWriter, hasPrediction, OOD_SCORE_COLUMN, REDSHIFT_COLUMNS, type PredictionColumns, type PredictionRows } from './predictions.js';
import type { PredictionTable } from './predictions-csv.js';

async function endStream(stream: WriteStream): Promise<void> {
  if (stream.closed) return;
  stream.end();
  await once(stream, 'close');
}

const ARROW_SCHEMA = new Schema([
  new Field('row', new Int32(), false),
  new Field('id', new Utf8(), false),
  new Field('predicted', new Utf8(), true),
  new Field('p_star', new Float32(), true),
  new Field('p_galaxy', new Float32(), true),
  new Field('p_qso', new Float32(), true),
  new Field('status', new Utf8(), false),
]);
function arrowSchema(columns: PredictionColumns): Schema {
  return new Schema([
    ...ARROW_SCHEMA.fields,
    ...(columns.oodScore ? [new Field(OOD_SCORE_COLUMN, new Float32(), true)] : []),
    ...(columns.redshift ? REDSHIFT_COLUMNS.map((name) => new Field(name, new Float32(), true)) : []),
  ]);
}

export class ArrowPredictionWriter extends BaseWriter {
  private readonly writer = new RecordBatchFileWriter();
  private readonly out: WriteStream;
  private error?: Error;

  private readonly schema: Schema;

  constructor(path: string, temp: string, columns: PredictionColumns = {}) {
    super(path, temp, columns);
    this.schema = arrowSchema(columns);
    this.out = createWriteStream(temp);
    this.out.on('error', (e) => (this.error = e));
    this.writer.reset(undefined, this.schema);
    this.writer.toNodeStream().pipe(this.out);
  }

  async write(rows: PredictionRows): Promise<void> {
    if (this.error) throw new AstrospecError('IO', this.error.message, { file: this.path }, { cause: this.error });
    const n = this.check(rows);
    if (n === 0) return;
    const row = new Int32Array(n);
    const predicted: (string | null)[] = [];
    const p = [0, 1, 2].map(() => [] as (number | null)[]);
    const ood: (number | null)[] = [];
    const z: (number | null)[] = [];
    const zErr: (number | null)[] = [];
    for (let i = 0; i < n; i++) {
      row[i] = rows.firstRow + i;
      const ok = hasPrediction(rows.status[i]!);
      predicted.push(ok ? CLASS_NAMES[argmax3(rows.probabilities, 3 * i)] : null);
      for (let k = 0; k < 3; k++) p[k]!.push(ok ? rows.probabilities[3 * i + k]! : null);
      if (this.oodScore) ood.push(ok ? rows.oodScore![i]! : null);
      if (this.redshift) {
        const known = ok && Number.isFinite(rows.z![i]!);
        z.push(known ? rows.z![i]! : null);
        zErr.push(known && Number.isFinite(rows.zErr![i]!) ? rows.zErr![i]! : null);
      }
    }
    const children = [
      makeData({ type: new Int32(), length: n, nullCount: 0, data: row }),
      vectorFromArray(rows.ids, new Utf8()).data[0]!,
      vectorFromArray(predicted, new Utf8()).data[0]!,
      ...p.map((column) => vectorFromArray(column, new Float32()).data[0]!),
      vectorFromArray(rows.status, new Utf8()).data[0]!,
    ];
    if (this.oodScore) children.push(vectorFromArray(ood, new Float32()).data[0]!);
    if (this.redshift) children.push(vectorFromArray(z, new Float32()).data[0]!, vectorFromArray(zErr, new Float32()).data[0]!);
    this.writer.write(new RecordBatch(this.schema, makeData({ type: new Struct(this.schema.fields), length: n, nullCount: 0, children })));
    this.rowsWritten += n;
    if (this.out.writableNeedDrain) await once(this.out, 'drain');
  }

  async close(): Promise<void> {
    const closed = once(this.out, 'close');
    this.writer.close();
    await closed;
    if (this.error) throw new AstrospecError('IO', this.error.message, { file: this.path }, { cause: this.error });
    await commitPartial(this.temp, this.path);
  }

  async abort(): Promise<void> {
    this.writer.abort();
    await endStream(this.out).catch(() => undefined);
    await discardPartial(this.temp);
  }
}

/** Reads an Arrow predictions file through the checked reader (apache-arrow alone can hang or allocate gigabytes on a damaged file). */
export async function readPredictionsArrow(file: string): Promise<PredictionTable> {
  const table = await readArrowTable(file);
  const column = (name: string) => {
    const c = table.getChild(name);
    if (!c) throw new AstrospecError('BAD_INPUT', `no "${name}" column (columns: ${table.schema.fields.map((f) => f.name).join(', ')})`, { file });
    return c;
  };
  const n = table.numRows;
  const rowColumn = column('row');
  const idColumn = column('id');
  const predictedColumn = column('predicted');
  const pColumns = [column('p_star'), column('p_galaxy'), column('p_qso')];
  const statusColumn = column('status');
  const oodColumn = table.getChild(OOD_SCORE_COLUMN);
  const out: PredictionTable = { file, rows: new Array(n), ids: new Array(n), predicted: new Int8Array(n), probabilities: new Float32Array(3 * n), status: new Array(n) };
  if (oodColumn) out.oodScore = new Float32Array(n).fill(Number.NaN);
  const [zColumn, zErrColumn] = REDSHIFT_COLUMNS.map((name) => table.getChild(name));
  if (!zColumn !== !zErrColumn) throw new AstrospecError('BAD_INPUT', `one of ${REDSHIFT_COLUMNS.join(', ')} without the other`, { file });
  if (zColumn) {
    out.z = new Float32Array(n).fill(Number.NaN);
    out.zErr = new Float32Array(n).fill(Number.NaN);
  }
  for (let i = 0; i < n; i++) {
    out.rows[i] = Number(rowColumn.get(i));
    out.ids[i] = String(idColumn.get(i) ?? '');
    const status = String(statusColumn.get(i) ?? '');
    out.status[i] = status;
    if (hasPrediction(status)) {
      if (out.oodScore) out.oodScore[i] = Number(oodColumn!.get(i) ?? Number.NaN);
      if (out.z) {
        out.z[i] = Number(zColumn!.get(i) ?? Number.NaN);
        out.zErr![i] = Number(zErrColumn!.get(i) ?? Number.NaN);
      }
      const label = String(predictedColumn.get(i));
      const k = (CLASS_NAMES as readonly string[]).indexOf(label);
      if (k < 0) throw new AstrospecError('BAD_INPUT', `predicted class "${label}" is not star, galaxy or qso`, { file, row: i + 1, column: 'predicted' });
      out.predicted[i] = k;
      for (let c = 0; c < 3; c++) out.probabilities[3 * i + c] = Number(pColumns[c]!.get(i));
    } else {
      out.predicted[i] = -1;
      out.probabilities.fill(Number.NaN, 3 * i, 3 * i + 3);
    }
  }
  return out;
}

