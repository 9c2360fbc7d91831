// PublicPointSum against libsodium: the input is split into 32-byte
// encodings; every one libsodium accepts is added to both sums, which must
// agree exactly (or both be the identity).
#include <cstdint>
#include <cstdlib>
#include <optional>

#include "crypto/public_point_sum.h"

using namespace schakel::crypto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  PublicPointSum fast;
  std::optional<Element> reference;
  bool reference_identity = false;
  for (size_t off = 0; off + 32 <= size && off < 32 * 64; off += 32) {
    auto e = Element::FromBytes(ByteView(data + off, 32), "x");
    if (!e.ok()) continue;
    fast.Add(*e);
    if (!reference || reference_identity) {
      if (reference_identity) {
        // identity + e = e
        reference_identity = false;
      }
      reference = *e;
      continue;
    }
    auto sum = Add(*reference, *e);
    if (sum.ok()) {
      reference = *sum;
    } else {
      reference_identity = true;  // the terms cancelled
    }
  }
  auto got = fast.Sum();
  const bool want_identity = !reference || reference_identity;
  if (want_identity != !got.ok()) std::abort();
  if (got.ok() && !(*got == *reference)) std::abort();
  return 0;
}
