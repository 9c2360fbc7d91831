// How big a test runs: its short form in ./tests/run.sh and CI, its long
// form from one environment variable, and less work in the sanitizer build
// (several times slower). Header only.
#ifndef SCHAKEL_TESTS_SUPPORT_TEST_SCALE_H_
#define SCHAKEL_TESTS_SUPPORT_TEST_SCALE_H_

#include <cstdlib>

namespace schakel::testing {

// True in a build with AddressSanitizer (-DSCHAKEL_SANITIZE=ON).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif

// The positive integer in environment variable `name` (a test's long form,
// e.g. SCHAKEL_RANDOM_ELEMENTS=10000000), or `fallback` when it is unset or
// not a positive number.
inline int EnvCount(const char* name, int fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr) return fallback;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  return end != v && *end == '\0' && n > 0 && n <= 2'000'000'000 ? static_cast<int>(n) : fallback;
}

}  // namespace schakel::testing

#endif  // SCHAKEL_TESTS_SUPPORT_TEST_SCALE_H_
