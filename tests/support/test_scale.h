// How big a test runs: its short form in ./tests/run.sh and CI, its long
// form from one environment variable, and less work in the sanitizer build
// (several times slower). Header only.
#ifndef SCHAKEL_TESTS_SUPPORT_TEST_SCALE_H_
#define SCHAKEL_TESTS_SUPPORT_TEST_SCALE_H_

#include <cstdint>
#include <cstdlib>
#include <random>

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

// A test's count: EnvCount(name, ...) when set (the long form), else
// `normal`, or `sanitized` in the sanitizer build.
inline int ScaledCount(const char* name, int normal, int sanitized) {
  return EnvCount(name, kSanitized ? sanitized : normal);
}

// The seed of a randomised test: environment variable `name` when set (to
// repeat a run whose seed it printed), else a fresh random one.
inline uint64_t TestSeed(const char* name) {
  if (const char* v = std::getenv(name); v != nullptr && *v != '\0') {
    return std::strtoull(v, nullptr, 10);
  }
  std::random_device device;
  return (static_cast<uint64_t>(device()) << 32) ^ device();
}

}  // namespace schakel::testing

#endif  // SCHAKEL_TESTS_SUPPORT_TEST_SCALE_H_
