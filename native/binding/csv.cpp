// CSV spectra rows: csvParse / csvFormat (Promise) and their Sync variants.
// TS (src/io/csv.ts) validates layouts and owns the error messages; here only the sizes that
// memory safety depends on are checked.
#include <memory>

#include "binding/common.h"
#include "kernels/csv.h"

namespace astro_binding {
namespace {

struct ParseJob {
  const char* data = nullptr;
  size_t size = 0;
  astro::CsvLayout layout;
  size_t max_rows = 0;
  float* flux = nullptr;
  int32_t* spans = nullptr;
  int threads = 0;
  astro::CsvParseResult result;
};

// csvParse(data: Uint8Array, hasId: boolean, pixels, trailing, maxRows, flux: Float32Array,
//          spans: Int32Array, threads)
std::shared_ptr<ParseJob> ParseArgs(const Napi::CallbackInfo& info, const char* op) {
  Napi::Env env = info.Env();
  auto job = std::make_shared<ParseJob>();
  auto data = Uint8Arg(info, 0, op, "data");
  ASTRO_CHECK(info.Length() > 1 && info[1].IsBoolean(), env, op, "hasId must be a boolean");
  job->layout.has_id = info[1].As<Napi::Boolean>().Value();
  const double pixels = NumberArg(info, 2, op, "pixels");
  const double trailing = NumberArg(info, 3, op, "trailing");
  const double max_rows = NumberArg(info, 4, op, "maxRows");
  ASTRO_CHECK(pixels >= 1 && pixels <= 1e7 && trailing >= 0 && trailing <= 1e4 && max_rows >= 0 && max_rows <= 1e9, env, op,
              "pixels, trailing or maxRows out of range");
  job->layout.pixels = static_cast<size_t>(pixels);
  job->layout.trailing = static_cast<size_t>(trailing);
  job->max_rows = static_cast<size_t>(max_rows);
  auto flux = Float32Arg(info, 5, op, "flux");
  auto spans = Int32Arg(info, 6, op, "spans");
  job->threads = static_cast<int>(NumberArg(info, 7, op, "threads"));
  ASTRO_CHECK(data.length < (size_t{1} << 31), env, op, "data must be smaller than 2 GiB");
  ASTRO_CHECK(flux.length >= job->max_rows * job->layout.pixels, env, op, "flux is shorter than maxRows × pixels");
  ASTRO_CHECK(spans.length >= job->max_rows * 2 * job->layout.text_fields(), env, op,
              "spans is shorter than maxRows × 2 × text fields");
  job->data = reinterpret_cast<const char*>(data.data);
  job->size = data.length;
  job->flux = flux.data;
  job->spans = spans.data;
  return job;
}

Napi::Value ParseResult(Napi::Env env, const astro::CsvParseResult& r) {
  auto out = Napi::Object::New(env);
  out.Set("rows", static_cast<double>(r.rows));
  out.Set("consumed", static_cast<double>(r.consumed));
  out.Set("error", static_cast<double>(static_cast<int32_t>(r.error)));
  out.Set("errorRow", static_cast<double>(r.error_row));
  out.Set("errorField", static_cast<double>(r.error_field));
  out.Set("errorOffset", static_cast<double>(r.error_offset));
  return out;
}

Napi::Value CsvParse(const Napi::CallbackInfo& info) {
  auto job = ParseArgs(info, "csvParse");
  std::vector<Napi::Value> keep{info[0], info[5], info[6]};
  return PromiseWorker::Run(
      info.Env(), "csvParse", keep,
      [job] {
        job->result = astro::csv_parse_rows(job->data, job->size, job->layout, job->max_rows, job->flux, job->spans,
                                            job->threads);
      },
      [job](Napi::Env env) { return ParseResult(env, job->result); });
}

Napi::Value CsvParseSync(const Napi::CallbackInfo& info) {
  auto job = ParseArgs(info, "csvParseSync");
  auto r = astro::csv_parse_rows(job->data, job->size, job->layout, job->max_rows, job->flux, job->spans, job->threads);
  return ParseResult(info.Env(), r);
}

struct FormatJob {
  const float* values = nullptr;
  size_t rows = 0, cols = 0;
  char* out = nullptr;
  int32_t* row_ends = nullptr;
  bool allow_non_finite = false;
  int threads = 0;
  astro::CsvFormatResult result;
};

// csvFormat(values: Float32Array, rows, cols, out: Uint8Array, rowEnds: Int32Array,
//           allowNonFinite: boolean, threads)
std::shared_ptr<FormatJob> FormatArgs(const Napi::CallbackInfo& info, const char* op) {
  Napi::Env env = info.Env();
  auto job = std::make_shared<FormatJob>();
  auto values = Float32Arg(info, 0, op, "values");
  const double rows = NumberArg(info, 1, op, "rows");
  const double cols = NumberArg(info, 2, op, "cols");
  ASTRO_CHECK(rows >= 0 && cols >= 0 && rows <= 1e9 && cols <= 1e7, env, op, "rows or cols out of range");
  job->rows = static_cast<size_t>(rows);
  job->cols = static_cast<size_t>(cols);
  auto out = Uint8Arg(info, 3, op, "out");
  auto row_ends = Int32Arg(info, 4, op, "rowEnds");
  ASTRO_CHECK(info.Length() > 5 && info[5].IsBoolean(), env, op, "allowNonFinite must be a boolean");
  job->allow_non_finite = info[5].As<Napi::Boolean>().Value();
  job->threads = static_cast<int>(NumberArg(info, 6, op, "threads"));
  ASTRO_CHECK(values.length >= job->rows * job->cols, env, op, "values is shorter than rows × cols");
  const size_t bound = astro::csv_format_bound(job->rows, job->cols);
  ASTRO_CHECK(out.length >= bound, env, op, "out is shorter than csvFormatBound(rows, cols)");
  ASTRO_CHECK(bound < (size_t{1} << 31), env, op, "rows × cols too large for one call");
  ASTRO_CHECK(row_ends.length >= job->rows, env, op, "rowEnds is shorter than rows");
  job->values = values.data;
  job->out = reinterpret_cast<char*>(out.data);
  job->row_ends = row_ends.data;
  return job;
}

Napi::Value FormatResult(Napi::Env env, const astro::CsvFormatResult& r) {
  auto out = Napi::Object::New(env);
  out.Set("bytes", static_cast<double>(r.bytes));
  out.Set("firstNonFinite", static_cast<double>(r.first_non_finite));
  return out;
}

Napi::Value CsvFormat(const Napi::CallbackInfo& info) {
  auto job = FormatArgs(info, "csvFormat");
  std::vector<Napi::Value> keep{info[0], info[3], info[4]};
  return PromiseWorker::Run(
      info.Env(), "csvFormat", keep,
      [job] {
        job->result = astro::csv_format_rows(job->values, job->rows, job->cols, job->out, job->row_ends,
                                             job->allow_non_finite, job->threads);
      },
      [job](Napi::Env env) { return FormatResult(env, job->result); });
}

Napi::Value CsvFormatSync(const Napi::CallbackInfo& info) {
  auto job = FormatArgs(info, "csvFormatSync");
  auto r = astro::csv_format_rows(job->values, job->rows, job->cols, job->out, job->row_ends, job->allow_non_finite,
                                  job->threads);
  return FormatResult(info.Env(), r);
}

Napi::Value CsvFormatBound(const Napi::CallbackInfo& info) {
  const double rows = NumberArg(info, 0, "csvFormatBound", "rows");
  const double cols = NumberArg(info, 1, "csvFormatBound", "cols");
  ASTRO_CHECK(rows >= 0 && cols >= 0, info.Env(), "csvFormatBound", "rows and cols must be >= 0");
  return Napi::Number::New(info.Env(), static_cast<double>(astro::csv_format_bound(static_cast<size_t>(rows), static_cast<size_t>(cols))));
}

Registrar registrar({
    {"csvParse", CsvParse},
    {"csvParseSync", CsvParseSync},
    {"csvFormat", CsvFormat},
    {"csvFormatSync", CsvFormatSync},
    {"csvFormatBound", CsvFormatBound},
});

}  // namespace
}  // namespace astro_binding
