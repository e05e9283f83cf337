// The per-row work of a finished inference batch: redshifts decoded from the redshift head's
// bins, and the predictions CSV lines. Both have a TypeScript twin that the browser page and the
// addon-less fallback use (src/infer/redshift.ts decodeRedshift, src/infer/prediction-lines.ts);
// these give the same numbers and the same bytes, without a JIT-compiled loop on the thread
// that feeds onnxruntime.
#pragma once
#include <cstddef>
#include <cstdint>

namespace astro {

// decodeRedshift of src/infer/redshift.ts: for each row r with decode[r] != 0 (all rows when
// decode is null), z and z_err from probabilities[r*bins, (r+1)*bins): the probability-weighted
// mean bin over the most probable bin and its 3 neighbours either side, mapped through
// u = ln(1 + z_min) + position·w, w = (ln(1 + z_max) − ln(1 + z_min)) / bins. Other rows, and
// rows whose peak window has no mass, get NaN.
void decode_redshift(const float* probabilities, size_t rows, size_t bins, double z_min, double z_max,
                     const uint8_t* decode, float* z, float* z_err);

// A finished batch's outputs, for check_outputs.
struct BatchOutputs {
  size_t rows = 0;
  const float* probabilities = nullptr;  // 3 per row, in the model's class order
  int columns[3] = {0, 1, 2};            // the predictions' column (star, galaxy, qso) of each
  const float* ood_score = nullptr;      // null: the model has no OOD score
  double ood_threshold = 0;
  const float* z_bins = nullptr;  // null: no redshift head; else rows × bins
  size_t bins = 0;
  double z_min = 0, z_max = 0;
};

// Row statuses of check_outputs: 'ok', 'ood', 'non_finite_output', and any other (left as it is).
enum RowStatus : uint8_t { kRowOk = 0, kRowOod = 1, kRowNonFiniteOutput = 2, kRowOther = 3 };

// checkedRows of src/infer/prediction-lines.ts: for rows whose status is kRowOk, the probabilities
// in star, galaxy, qso order into p (3 per row; other rows are left as they are) and
// kRowNonFiniteOutput when one is not finite; then kRowOod for ok rows whose OOD score is not
// ≤ the threshold; then z and z_err (with a redshift head) for rows ok or ood predicted galaxy
// or QSO, NaN for the others. `decode`: scratch of `rows` bytes.
void check_outputs(const BatchOutputs& outputs, uint8_t* status, float* p, float* z, float* z_err, uint8_t* decode);

// Number.prototype.toFixed(digits) of x, as JavaScript writes it (1 <= digits <= 8): exact
// decimal rounding, ties away from zero, "-" kept on negatives that round to zero, "NaN",
// "Infinity", and the shortest round-trip exponent form at |x| >= 1e21. Writes at most
// kFixedMaxChars bytes; returns how many.
constexpr size_t kFixedMaxChars = 32;
size_t format_fixed(double x, int digits, char* out);

// The lines of PredictionRows (src/infer/predictions.ts) for a predictions CSV:
//   row,id,predicted,p_star,p_galaxy,p_qso,status[,ood_score][,z,z_err]
// Strings are UTF-8, each row's in bytes[offsets[r], offsets[r+1]).
struct PredictionLines {
  double first_row = 0;  // a safe integer
  size_t rows = 0;
  const char* id_bytes = nullptr;
  const uint32_t* id_offsets = nullptr;
  const char* status_bytes = nullptr;
  const uint32_t* status_offsets = nullptr;
  const float* probabilities = nullptr;  // 3 per row: star, galaxy, qso
  const float* ood_score = nullptr;      // null: no ood_score column
  const float* z = nullptr;              // null: no z, z_err columns
  const float* z_err = nullptr;
};

// Bytes write_prediction_lines may write for these rows (an upper bound).
size_t prediction_lines_bound(const PredictionLines& lines);

// Writes the lines into out (room for prediction_lines_bound bytes); returns the bytes written.
size_t write_prediction_lines(const PredictionLines& lines, char* out);

}  // namespace astro
