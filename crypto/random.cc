#include "crypto/random.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace schakel::crypto {

void EnsureSodiumInitialized() {
  static std::once_flag once;
  std::call_once(once, [] {
    if (sodium_init() < 0) {
      std::fputs("schakel: libsodium could not be initialised\n", stderr);
      std::abort();
    }
  });
}

void RandomBytes(std::span<uint8_t> out) {
  EnsureSodiumInitialized();
  randombytes_buf(out.data(), out.size());
}

}  // namespace schakel::crypto
