/**
 * Reader for the training log `astrospec train` writes (`train-log.jsonl`): one JSON object a
 * line — a `start` record, optional `step` records, one `epoch` record per epoch and an `end`
 * record when training finished.
 */
import { readFile } from 'node:fs/promises';
import { AstrospecError } from '../errors.js';
import type { ModelSpec } from '../model/spec.js';
import type { EpochRecord } from '../train/trainer.js';

export interface TrainingStart {
  type: 'start';
  time: string;
  backend: string;
  spec: ModelSpec;
  options: Record<string, unknown>;
  trainRows: number;
  valRows: number;
}

export interface TrainingStep {
  type: 'step';
  epoch: number;
  step: number;
  loss: number;
  spectraPerSecond: number;
}

/** An epoch line, exactly as the trainer writes it. */
export type TrainingEpoch = EpochRecord;

export interface TrainingEnd {
  type: 'end';
  bestEpoch: number;
  bestValMacroF1: number;
  seconds: number;
  stoppedEarly: boolean;
}

export interface TrainingLog {
  file: string;
  start?: TrainingStart;
  steps: TrainingStep[];
  epochs: TrainingEpoch[];
  /** Absent while training is still running or when it was killed. */
  end?: TrainingEnd;
}

const REQUIRED_NUMBERS: Record<string, string[]> = {
  start: ['trainRows', 'valRows'],
  step: ['epoch', 'step', 'loss'],
  epoch: ['epoch', 'loss', 'valLoss', 'valMacroF1'],
  end: ['bestEpoch', 'bestValMacroF1'],
};

/** Parses a training log; a malformed line is an error naming the file and line. */
export function parseTrainingLog(text: string, file: string): TrainingLog {
  const log: TrainingLog = { file, steps: [], epochs: [] };
  const lines = text.split(/\r?\n/);
  for (const [index, line] of lines.entries()) {
    if (line.trim() === '') continue;
    const where = { file, row: index + 1 };
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line) as Record<string, unknown>;
    } catch (error) {
      // A killed run can leave a half-written last line (no newline after it); the rest is still worth showing.
      if (index === lines.length - 1) break;
      throw new AstrospecError('BAD_INPUT', `not JSON: ${(error as Error).message}`, where);
    }
    if (record === null || typeof record !== 'object' || typeof record.type !== 'string') {
      throw new AstrospecError('BAD_INPUT', 'each line must be a JSON object with a "type"', where);
    }
    for (const key of REQUIRED_NUMBERS[record.type] ?? []) {
      if (typeof record[key] !== 'number') throw new AstrospecError('BAD_INPUT', `"${record.type}" record needs a number "${key}"`, { ...where, column: key });
    }
    switch (record.type) {
      case 'start':
        log.start = record as unknown as TrainingStart;
        break;
      case 'step':
        log.steps.push(record as unknown as TrainingStep);
        break;
      case 'epoch':
        log.epochs.push(record as unknown as TrainingEpoch);
        break;
      case 'end':
        log.end = record as unknown as TrainingEnd;
        break;
      default:
      // Record types added later are skipped rather than refused, so old reports read new logs.
    }
  }
  return log;
}

export async function readTrainingLog(file: string): Promise<TrainingLog> {
  return parseTrainingLog(await readFile(file, 'utf8'), file);
}
