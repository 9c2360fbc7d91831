// Cryptographically secure randomness (libsodium's randombytes), and the
// one-time libsodium initialisation every crypto entry point relies on.
//
// Thread safety: all functions are thread-safe.
#ifndef SCHAKEL_CRYPTO_RANDOM_H_
#define SCHAKEL_CRYPTO_RANDOM_H_

#include <cstdint>
#include <span>

namespace schakel::crypto {

// Calls sodium_init() once per process; aborts the process if libsodium
// cannot initialise (no usable entropy source), since nothing secure can
// follow. Cheap after the first call.
void EnsureSodiumInitialized();

// Fills `out` with random bytes.
void RandomBytes(std::span<uint8_t> out);

}  // namespace schakel::crypto

#endif  // SCHAKEL_CRYPTO_RANDOM_H_
