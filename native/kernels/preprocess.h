// Spectrum preprocessing over a whole batch in one call: bad-pixel masking, optional
// Savitzky–Golay smoothing and integer binning, flux normalisation, a Wien-approximation
// blackbody fit and summary features, plus noise augmentation for training.
//
// The definitions (what is a bad pixel, the order of the steps, the fit, the flags) are
// written out once, in src/preprocess/reference.ts, whose plain TypeScript is the oracle
// these kernels are tested against.
#pragma once
#include <cstddef>
#include <cstdint>

namespace astro {

enum class Normalisation { none = 0, l2 = 1, sum = 2, minmax = 3, median = 4 };

// Per-row flags (bits).
enum : uint8_t {
  kFlagNoValidPixels = 1,  // every pixel masked: output row zero, features NaN
  kFlagNoWienFit = 2,      // fewer than 3 positive pixels (or one wavelength): fit features NaN
  kFlagDegenerateScale = 4 // normalisation denominator zero or its inverse overflows float32
};

// Feature columns, in order (FEATURE_NAMES in src/preprocess/index.ts).
enum FeatureColumn {
  kFeatureMean = 0,
  kFeatureStd,
  kFeatureWienTemperature,
  kFeatureWienLogAmplitude,
  kFeatureWienR2,
  kFeatureWienRms,
  kFeatureWienPixels,
  kFeatureCount
};

// Second radiation constant hc/k in nm·K (CODATA 2018: 1.438776877e-2 m·K).
constexpr double kWienC2NmK = 1.438776877e7;
// Savitzky–Golay polynomial order (quadratic: the centred coefficients equal the cubic's).
constexpr int kSavgolOrder = 2;
// Robust refit: pixels whose residual exceeds this many weighted RMS are dropped once.
constexpr double kRobustClipSigma = 3.0;

struct PreprocessParams {
  Normalisation normalisation = Normalisation::l2;
  int bin = 1;            // >= 1
  int smooth_window = 0;  // 0 = none, else odd, 3 <= window <= length
  bool robust = false;
  double grid_start = 3800.0;  // Å
  double grid_step = 2.0;      // Å
};

struct PreprocessInput {
  const float* flux = nullptr;        // rows × length
  const uint8_t* bad_pixels = nullptr;  // optional, rows × length, nonzero = masked
  size_t rows = 0;
  size_t length = 0;
};

struct PreprocessOutput {
  float* flux = nullptr;      // rows × (length / bin); may equal input.flux when bin == 1
  float* features = nullptr;  // optional, rows × kFeatureCount
  uint8_t* flags = nullptr;   // rows
};

// Runs the whole chain over every row on `threads` threads (<= 0: the default).
// Throws std::invalid_argument on parameters the TS layer should have rejected.
void preprocess(const PreprocessParams& params, const PreprocessInput& input, const PreprocessOutput& output,
                int threads);

struct NoiseParams {
  double snr_low = 10.0;   // per-row S/N drawn uniformly from [snr_low, snr_high]
  double snr_high = 10.0;
  uint32_t seed = 0;
};

// Adds Gaussian white noise in place to the rows whose row_mask entry is nonzero (all rows
// when row_mask is null). Masked pixels stay untouched. Deterministic in (seed, row, pixel),
// independent of the thread count and instruction set up to float rounding.
void augment_noise(const NoiseParams& params, float* flux, size_t rows, size_t length, const uint8_t* row_mask,
                   int threads);

// Savitzky–Golay coefficients of a quadratic least-squares fit over `window` points,
// evaluated at position `target` (0 … window-1): the smoothed value is Σ c[k]·x[k].
void savgol_coefficients(int window, int target, double* out);

// Counter-based 32-bit hash (Wellons' "lowbias32"), the noise generator's source of bits.
inline uint32_t lowbias32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

}  // namespace astro
