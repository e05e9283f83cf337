// N-API glue for native/kernels/predictions.h: output checks (with redshift decoding) and predictions CSV lines,
// for classify's main thread (src/infer/prediction-lines.ts, src/infer/classify.ts).
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "binding/common.h"
#include "kernels/predictions.h"

namespace astro_binding {
namespace {

// The UTF-8 of strings[0, n), one after another: string r is bytes[offsets[r], offsets[r+1]).
void ReadStrings(Napi::Env env, Napi::Value value, size_t n, const char* op, const char* name, std::vector<char>& bytes,
                 std::vector<uint32_t>& offsets) {
  ASTRO_CHECK(value.IsArray(), env, op, std::string(name) + " must be an array of strings");
  napi_value array = value;
  bytes.clear();
  offsets.assign(n + 1, 0);
  for (size_t i = 0; i < n; ++i) {
    napi_value item;
    size_t length = 0;
    bool ok = napi_get_element(env, array, static_cast<uint32_t>(i), &item) == napi_ok &&
              napi_get_value_string_utf8(env, item, nullptr, 0, &length) == napi_ok;
    ASTRO_CHECK(ok, env, op, std::string(name) + " must be an array of strings");
    const size_t at = bytes.size();
    bytes.resize(at + length + 1);  // napi writes a terminating NUL
    napi_get_value_string_utf8(env, item, bytes.data() + at, length + 1, &length);
    bytes.resize(at + length);
    ASTRO_CHECK(bytes.size() < (1ull << 32), env, op, std::string(name) + " hold more than 4 GB");
    offsets[i + 1] = static_cast<uint32_t>(bytes.size());
  }
}

const float* OptionalRows(const Napi::CallbackInfo& info, size_t index, size_t rows, const char* op, const char* name) {
  if (IsNullish(info, index)) return nullptr;
  auto values = Float32Arg(info, index, op, name);
  ASTRO_CHECK(values.length >= rows, info.Env(), op, std::string(name) + " must hold a value per row");
  return values.data;
}

// predictionLinesSync(firstRow, ids, status, probabilities, oodScore | null, z | null, zErr | null, out, at):
// writes the CSV lines of ids.length rows into out from byte `at`; returns the bytes written, or
// −(bytes it may need) without writing when out has less room than that after `at`.
Napi::Value PredictionLinesSync(const Napi::CallbackInfo& info) {
  const char* op = "predictionLinesSync";
  Napi::Env env = info.Env();
  const double first_row = NumberArg(info, 0, op, "firstRow");
  ASTRO_CHECK(first_row >= 0 && first_row <= 9007199254740991.0 && first_row == std::floor(first_row), env, op,
              "firstRow must be a non-negative safe integer");
  ASTRO_CHECK(info.Length() >= 9 && info[1].IsArray() && info[2].IsArray(), env, op, "ids and status must be arrays of strings");
  const size_t rows = info[1].As<Napi::Array>().Length();
  ASTRO_CHECK(info[2].As<Napi::Array>().Length() >= rows, env, op, "status must hold a value per row");
  auto probabilities = Float32Arg(info, 3, op, "probabilities");
  ASTRO_CHECK(probabilities.length >= 3 * rows, env, op, "probabilities must hold 3 values per row");
  // Reused across calls: one batch's strings, kept per thread (the addon may run in workers too).
  thread_local std::vector<char> id_bytes, status_bytes;
  thread_local std::vector<uint32_t> id_offsets, status_offsets;
  ReadStrings(env, info[1], rows, op, "ids", id_bytes, id_offsets);
  ReadStrings(env, info[2], rows, op, "status", status_bytes, status_offsets);
  astro::PredictionLines lines;
  lines.first_row = first_row;
  lines.rows = rows;
  lines.id_bytes = id_bytes.data();
  lines.id_offsets = id_offsets.data();
  lines.status_bytes = status_bytes.data();
  lines.status_offsets = status_offsets.data();
  lines.probabilities = probabilities.data;
  lines.ood_score = OptionalRows(info, 4, rows, op, "oodScore");
  lines.z = OptionalRows(info, 5, rows, op, "z");
  lines.z_err = OptionalRows(info, 6, rows, op, "zErr");
  ASTRO_CHECK((lines.z == nullptr) == (lines.z_err == nullptr), env, op, "z and zErr come together");
  auto out = Uint8Arg(info, 7, op, "out");
  const double at = NumberArg(info, 8, op, "at");
  ASTRO_CHECK(at >= 0 && at <= static_cast<double>(out.length) && at == std::floor(at), env, op, "at must be an integer in 0 … out.length");
  const size_t bound = astro::prediction_lines_bound(lines);
  const size_t room = out.length - static_cast<size_t>(at);
  if (room < bound) return Napi::Number::New(env, -static_cast<double>(bound));
  const size_t written = astro::write_prediction_lines(lines, reinterpret_cast<char*>(out.data) + static_cast<size_t>(at));
  return Napi::Number::New(env, static_cast<double>(written));
}

// checkOutputsSync(rows, status, probabilities, columns, p, oodScore | null, oodThreshold, zBins | null, bins, zMin,
//                  zMax, z | null, zErr | null): check_outputs, with statuses read from and changed in `status`
// (an array of strings: 'ok', 'ood', or another left as it is).
Napi::Value CheckOutputsSync(const Napi::CallbackInfo& info) {
  const char* op = "checkOutputsSync";
  Napi::Env env = info.Env();
  const double rows_arg = NumberArg(info, 0, op, "rows");
  ASTRO_CHECK(rows_arg >= 0 && rows_arg <= 1e9 && rows_arg == std::floor(rows_arg), env, op, "rows must be a non-negative integer");
  const size_t rows = static_cast<size_t>(rows_arg);
  ASTRO_CHECK(info.Length() >= 13 && info[1].IsArray(), env, op, "status must be an array of strings");
  Napi::Array status_array = info[1].As<Napi::Array>();
  ASTRO_CHECK(status_array.Length() >= rows, env, op, "status must hold a value per row");
  astro::BatchOutputs outputs;
  outputs.rows = rows;
  auto probabilities = Float32Arg(info, 2, op, "probabilities");
  ASTRO_CHECK(probabilities.length >= 3 * rows, env, op, "probabilities must hold 3 values per row");
  outputs.probabilities = probabilities.data;
  auto columns = Int32Arg(info, 3, op, "columns");
  ASTRO_CHECK(columns.length == 3, env, op, "columns must hold 3 values");
  bool seen[3] = {false, false, false};
  for (int k = 0; k < 3; ++k) {
    ASTRO_CHECK(columns.data[k] >= 0 && columns.data[k] < 3 && !seen[columns.data[k]], env, op, "columns must be a permutation of 0, 1, 2");
    seen[columns.data[k]] = true;
    outputs.columns[k] = columns.data[k];
  }
  auto p = Float32Arg(info, 4, op, "p");
  ASTRO_CHECK(p.length >= 3 * rows, env, op, "p must hold 3 values per row");
  outputs.ood_score = OptionalRows(info, 5, rows, op, "oodScore");
  outputs.ood_threshold = NumberArg(info, 6, op, "oodThreshold");
  float* z = nullptr;
  float* z_err = nullptr;
  if (!IsNullish(info, 7)) {
    auto bins = Float32Arg(info, 7, op, "zBins");
    const double bin_count = NumberArg(info, 8, op, "bins");
    ASTRO_CHECK(bin_count >= 1 && bin_count <= 1e6 && bin_count == std::floor(bin_count), env, op, "bins must be a positive integer");
    outputs.bins = static_cast<size_t>(bin_count);
    ASTRO_CHECK(bins.length >= rows * outputs.bins, env, op, "zBins must hold rows × bins values");
    outputs.z_bins = bins.data;
    outputs.z_min = NumberArg(info, 9, op, "zMin");
    outputs.z_max = NumberArg(info, 10, op, "zMax");
    auto z_view = Float32Arg(info, 11, op, "z"), z_err_view = Float32Arg(info, 12, op, "zErr");
    ASTRO_CHECK(z_view.length >= rows && z_err_view.length >= rows, env, op, "z and zErr must hold a value per row");
    z = z_view.data;
    z_err = z_err_view.data;
  }
  thread_local std::vector<uint8_t> codes, before, scratch;
  codes.assign(rows, astro::kRowOther);
  scratch.resize(rows);
  for (size_t i = 0; i < rows; ++i) {
    napi_value item;
    char text[5];
    size_t length = 0;
    // Four bytes are enough to tell 'ok' and 'ood' from every other status.
    bool ok = napi_get_element(env, status_array, static_cast<uint32_t>(i), &item) == napi_ok &&
              napi_get_value_string_utf8(env, item, text, sizeof text, &length) == napi_ok;
    ASTRO_CHECK(ok, env, op, "status must be an array of strings");
    if (length == 2 && std::memcmp(text, "ok", 2) == 0) codes[i] = astro::kRowOk;
    else if (length == 3 && std::memcmp(text, "ood", 3) == 0) codes[i] = astro::kRowOod;
  }
  before = codes;
  astro::check_outputs(outputs, codes.data(), p.data, z, z_err, scratch.data());
  Napi::String non_finite, ood;
  for (size_t i = 0; i < rows; ++i) {
    if (codes[i] == before[i]) continue;
    if (codes[i] == astro::kRowNonFiniteOutput) {
      if (non_finite.IsEmpty()) non_finite = Napi::String::New(env, "non_finite_output");
      status_array.Set(static_cast<uint32_t>(i), non_finite);
    } else {
      if (ood.IsEmpty()) ood = Napi::String::New(env, "ood");
      status_array.Set(static_cast<uint32_t>(i), ood);
    }
  }
  return env.Undefined();
}

Registrar registrar({
    {"checkOutputsSync", CheckOutputsSync},
    {"predictionLinesSync", PredictionLinesSync},
});

}  // namespace
}  // namespace astro_binding
