/** Public library API. */
export { AstrospecError, type ErrorCode } from './errors.js';
export * from './io/batch.js';
export type * from './io/types.js';
export type * from './model/spec.js';
export { native } from './native/binding.js';
export { openSpectra, countSourceRows, formatOfPath } from './io/open.js';
export { createSpectraSink, sinkFormatOfPath, type SinkFormat } from './io/sink.js';
export {
  augmentNoise,
  augmentNoiseAsync,
  FEATURE_NAMES,
  FLAG_DEGENERATE_SCALE,
  FLAG_NO_VALID_PIXELS,
  FLAG_NO_WIEN_FIT,
  NORMALISATIONS,
  preprocess,
  preprocessSync,
  type NoiseOptions,
  type PreprocessedBatch,
  type PreprocessOptions,
} from './preprocess/index.js';
export { exportOnnx, buildOnnxModel, readOnnxModelSpec, type ExportResult, type OnnxExportOptions } from './export/onnx.js';
export { addOodToOnnx, fitOod, DEFAULT_OOD_LAYERS, DEFAULT_OOD_QUANTILE, type FitOodOptions } from './infer/ood.js';
export { withOodScore, OOD_OUTPUT, OOD_LAYERS } from './export/ood-graph.js';
export { classifyFile, parseShard, shardRange, type ClassifyOptions, type ClassifyResult, type Shard } from './infer/classify.js';
export { DEFAULT_MODEL, DEFAULT_INT8_MODEL } from './cli/shipped-models.js';
export { createPredictionWriter, hasPrediction, readPredictions, OOD_SCORE_COLUMN, type PredictionRows, type PredictionTable, type PredictionWriter } from './infer/predictions.js';
export { evaluatePredictionsFile, readTruth, scorePredictions, type Evaluation, type Truth } from './infer/evaluate.js';
export { defaultSessionSettings, type GraphOptimization, type SessionSettings } from './infer/session-pool.js';
export { buildReport, type ExampleSpectrum, type ReportData, type ReportInputs } from './report/report.js';
export { loadReportInputs, type ReportFiles } from './report/load.js';
export { mergePredictionShards, type MergeOptions, type MergeResult } from './infer/merge.js';
export { readTrainingLog, parseTrainingLog, type TrainingLog } from './report/training-log.js';
export { openFits, readLamostFile, parseLamostSpectrum, type LamostSpectrum } from './io/fits.js';
export { generateSurvey, DEFAULT_MIX, DEFAULT_SNR_RANGE, type SurveyOptions } from './synth/survey.js';
export { resolveBackend, parseBackendChoice, type BackendChoice, type ResolvedBackend } from './train/backend.js';
export { trainModel, evaluate as evaluateModel, type TrainOptions, type TrainResult, type TrainingData } from './train/trainer.js';
