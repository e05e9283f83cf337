// Minimal test harness for the kernel unit tests: CHECK records failures, main() returns
// non-zero if any failed. Tests register with TEST(name).
#pragma once
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace astro_test {
struct Case {
  const char* name;
  std::function<void()> fn;
};
inline std::vector<Case>& cases() {
  static std::vector<Case> all;
  return all;
}
inline int& failures() {
  static int count = 0;
  return count;
}
struct Register {
  Register(const char* name, std::function<void()> fn) { cases().push_back({name, std::move(fn)}); }
};
}  // namespace astro_test

#define ASTRO_CONCAT2(a, b) a##b
#define ASTRO_CONCAT(a, b) ASTRO_CONCAT2(a, b)
#define TEST(name)                                                               \
  static void name();                                                            \
  static astro_test::Register ASTRO_CONCAT(register_, name)(#name, name);        \
  static void name()

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);      \
      ++astro_test::failures();                                                          \
    }                                                                                    \
  } while (0)

#define CHECK_NEAR(a, b, tol)                                                                       \
  do {                                                                                              \
    double _a = (a), _b = (b);                                                                      \
    if (!(std::fabs(_a - _b) <= (tol)) && !(std::isnan(_a) && std::isnan(_b))) {                    \
      std::fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g, tol %g\n", __FILE__,    \
                   __LINE__, #a, _a, #b, _b, static_cast<double>(tol));                            \
      ++astro_test::failures();                                                                     \
    }                                                                                               \
  } while (0)

#define ASTRO_TEST_MAIN()                                                             \
  int main() {                                                                        \
    for (auto& c : astro_test::cases()) {                                             \
      int before = astro_test::failures();                                            \
      c.fn();                                                                         \
      std::printf("%s %s\n", astro_test::failures() == before ? "ok  " : "FAIL", c.name); \
    }                                                                                 \
    return astro_test::failures() == 0 ? 0 : 1;                                       \
  }
