// libFuzzer harness: astro::csv_parse_rows (native/kernels/csv.cpp) against the plain reference
// parser in csv_reference.h, under AddressSanitizer and UBSan.
//
// Input: 4 bytes of layout, then the CSV text. byte 0: bit 0 = id column, bits 1–2 = trailing
// text fields (0–3); bytes 1–2: pixels (byte 1 mod 24, or with byte 2's top bit set the low 15 bits
// mod 2600, plus 1); byte 3: max rows − 1 (mod 64, and at most the text's line count + 1).
// The text is copied to an exact-size heap buffer, so ASan catches a read one byte past its end.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "csv_reference.h"
#include "kernels/csv.h"

namespace {

[[noreturn]] void mismatch(const char* what, size_t a, size_t b) {
  std::fprintf(stderr, "csv_parse_rows differs from the reference: %s (kernel %zu, reference %zu)\n", what, a, b);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* input, size_t size) {
  if (size < 4) return 0;
  astro::CsvLayout layout;
  layout.has_id = input[0] & 1;
  layout.trailing = (input[0] >> 1) & 3;
  // Mostly short rows (fast to fuzz); with byte 2's top bit, up to the competition's 2600 pixels.
  layout.pixels = (input[2] & 0x80) ? 1 + static_cast<size_t>(input[1] | ((input[2] & 0x7f) << 8)) % 2600 : 1 + input[1] % 24;
  const size_t n = size - 4;
  char* data = static_cast<char*>(std::malloc(n > 0 ? n : 1));
  if (n > 0) std::memcpy(data, input + 4, n);
  // No more rows than the text has lines (any max_rows is a valid call; this keeps the output
  // buffers, which ASan makes slow to allocate, small), but often fewer: stopping early is tested.
  size_t lines = 0;
  for (size_t i = 0; i < n; ++i) lines += data[i] == '\n';
  const size_t max_rows = std::min<size_t>(1 + input[3] % 64, lines + 1);

  // Poisoned outputs: a row the kernel reports but didn't write shows up as a mismatch.
  std::vector<float> flux(max_rows * layout.pixels, -12345.0f);
  std::vector<int32_t> spans(max_rows * 2 * layout.text_fields() + 1, -7);
  const astro::CsvParseResult got = astro::csv_parse_rows(data, n, layout, max_rows, flux.data(), spans.data(), 1);
  const csv_reference::Result want = csv_reference::parse(data, n, layout, max_rows);

  if (got.error != want.error) mismatch("error kind", static_cast<size_t>(got.error), static_cast<size_t>(want.error));
  if (got.rows != want.rows) mismatch("rows", got.rows, want.rows);
  if (got.consumed != want.consumed) mismatch("bytes consumed", got.consumed, want.consumed);
  if (got.error != astro::CsvError::none) {
    if (got.error_row != want.error_row) mismatch("error row", got.error_row, want.error_row);
    if (got.error_field != want.error_field) mismatch("error field", got.error_field, want.error_field);
    if (got.error_offset != want.error_offset) mismatch("error offset", got.error_offset, want.error_offset);
  }
  if (got.consumed > n || (got.consumed > 0 && data[got.consumed - 1] != '\n')) mismatch("consumed is not at a line end", got.consumed, n);
  for (size_t i = 0; i < want.flux.size(); ++i) {
    uint32_t a, b;
    std::memcpy(&a, &flux[i], 4);
    std::memcpy(&b, &want.flux[i], 4);
    if (a != b) mismatch("flux bits at value", i, i);
  }
  for (size_t i = 0; i < want.spans.size(); ++i) {
    if (spans[i] != want.spans[i]) mismatch("text span at", i, static_cast<size_t>(want.spans[i]));
    if (spans[i] < 0 || static_cast<size_t>(spans[i]) > n) mismatch("text span outside the data", static_cast<size_t>(spans[i]), n);
  }
  std::free(data);
  return 0;
}
