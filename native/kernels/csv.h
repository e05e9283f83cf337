// CSV spectra rows: parsing decimal text into float32 fluxes, and formatting float32 back to
// the shortest text that reads back to the same float (so CSV round trips are bit-exact).
//
// A row is: [id field,] `pixels` numeric fields, `trailing` text fields (label, extras, tags).
// Numeric fields are plain decimals as pandas writes them (optional sign, digits, '.', exponent);
// text fields may be double-quoted with "" as the escaped quote. Lines end in '\n' or "\r\n".
// Quoted fields can't contain line breaks (rows are cut at '\n' before parsing, in parallel).
#pragma once
#include <cstddef>
#include <cstdint>

namespace astro {

enum class CsvError : int32_t {
  none = 0,
  too_few_fields = 1,      // line ends before the expected field
  too_many_fields = 2,     // text remains after the last expected field
  not_a_number = 3,        // a pixel field isn't a decimal number (includes empty)
  non_finite = 4,          // nan / inf text, or a value beyond float32's range
  unterminated_quote = 5,  // a quoted text field has no closing quote on its line
  empty_line = 6,          // a blank line between rows
};

struct CsvLayout {
  bool has_id = true;    // first field is a text id
  size_t pixels = 0;     // numeric fields
  size_t trailing = 0;   // text fields after the pixels
  size_t text_fields() const { return (has_id ? 1 : 0) + trailing; }
};

struct CsvParseResult {
  size_t rows = 0;         // complete rows parsed (== max_rows, or all complete lines in data)
  size_t consumed = 0;     // bytes through the last parsed row's '\n'
  CsvError error = CsvError::none;
  size_t error_row = 0;    // row of the first error, relative to this call
  size_t error_field = 0;  // 0-based field index within the row (id = 0 when has_id)
  size_t error_offset = 0; // byte offset in data of the offending field (or of the line end)
};

// Parses up to max_rows '\n'-terminated lines from data[0, size). Text after the last '\n' is
// left unconsumed. flux receives rows × pixels floats; spans receives, per row, a (begin, end)
// byte-offset pair for each text field (quotes included), rows × 2·text_fields() int32 values,
// so size must be < 2^31. On error, rows and consumed describe the rows before the first bad
// row. Rows are parsed on up to `threads` threads (<= 0: default).
CsvParseResult csv_parse_rows(const char* data, size_t size, const CsvLayout& layout, size_t max_rows,
                              float* flux, int32_t* spans, int threads);

// Parses one decimal number from [p, end) exactly as the row parser does: optional surrounding
// spaces, optional '+' or '-'. Returns false for malformed text; non-finite results (nan, inf,
// overflow past float32) return true with *non_finite set.
bool csv_parse_float(const char* p, const char* end, float* out, bool* non_finite);

// Upper bound of bytes csv_format_rows writes for rows × cols values.
size_t csv_format_bound(size_t rows, size_t cols);

struct CsvFormatResult {
  size_t bytes = 0;
  int64_t first_non_finite = -1;  // index into values of the first NaN/Inf, -1 if none
};

// Writes each row as comma-separated shortest round-trip float32 text (no line terminator);
// row_ends[r] is the end offset of row r in out (row r starts at row_ends[r-1], or 0).
// out must hold csv_format_bound(rows, cols) bytes. When allow_non_finite is false the first
// non-finite value is reported and nothing is written (bytes = 0); when true NaN is written
// as an empty field (as pandas does) and ±Inf as inf / -inf.
CsvFormatResult csv_format_rows(const float* values, size_t rows, size_t cols, char* out, int32_t* row_ends,
                                bool allow_non_finite, int threads);

}  // namespace astro
