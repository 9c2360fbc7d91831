// Any 32 bytes: Element::FromBytes and ScalarMultUntrusted agree on what is
// valid, refuse everything else with INVALID_ARGUMENT, and never crash.
#include <cstdint>
#include <cstdlib>

#include "crypto/ristretto.h"

using namespace schakel::crypto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Scalar k = Scalar::Random();
  ByteView in(data, size);
  auto e = Element::FromBytes(in, "x");
  auto m = ScalarMultUntrusted(k, in, "x");
  if (e.ok() != m.ok()) std::abort();
  if (!e.ok() && (e.status().code() != absl::StatusCode::kInvalidArgument ||
                  m.status().code() != absl::StatusCode::kInvalidArgument)) {
    std::abort();
  }
  if (e.ok() && !(ScalarMult(k, *e).value() == m->product)) std::abort();
  return 0;
}
