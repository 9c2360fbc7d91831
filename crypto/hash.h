// Hash functions: SHA-512 (the RFC 9497 suite hash), BLAKE2b-256 (the
// exchange log's chain hash) and expand_message_xmd (RFC 9380 section 5.3.1)
// instantiated with SHA-512.
//
// Thread safety: free functions are reentrant; a Sha512 or Blake2b256 object
// must not be used from two threads at once.
#ifndef SCHAKEL_CRYPTO_HASH_H_
#define SCHAKEL_CRYPTO_HASH_H_

#include <sodium.h>

#include <array>
#include <cstdint>
#include <string_view>

#include "absl/status/statusor.h"
#include "crypto/bytes.h"

namespace schakel::crypto {

using Sha512Digest = std::array<uint8_t, 64>;
using Blake2b256Digest = std::array<uint8_t, 32>;

// Incremental SHA-512.
class Sha512 {
 public:
  Sha512();
  ~Sha512();
  Sha512(const Sha512&) = delete;
  Sha512& operator=(const Sha512&) = delete;

  Sha512& Update(ByteView data);
  Sha512& Update(std::string_view data) { return Update(AsBytes(data)); }
  Sha512Digest Final();

 private:
  crypto_hash_sha512_state state_;
};

Sha512Digest Sha512Hash(ByteView data);

// Incremental unkeyed BLAKE2b with a 32-byte digest.
class Blake2b256 {
 public:
  Blake2b256();
  ~Blake2b256();
  Blake2b256(const Blake2b256&) = delete;
  Blake2b256& operator=(const Blake2b256&) = delete;

  Blake2b256& Update(ByteView data);
  Blake2b256& Update(std::string_view data) { return Update(AsBytes(data)); }
  Blake2b256Digest Final();

 private:
  crypto_generichash_state state_;
};

Blake2b256Digest Blake2b256Hash(ByteView data);

// expand_message_xmd with SHA-512 (RFC 9380 section 5.3.1).
// Errors: INVALID_ARGUMENT when `dst` is empty or longer than 255 bytes, or
// when `length` is 0, above 65535 or above 255 * 64.
absl::StatusOr<Bytes> ExpandMessageXmdSha512(ByteView msg, ByteView dst, size_t length);

// The same, writing out.size() bytes into `out` (for example a SecretBytes
// when the output is key material). Every intermediate hash is wiped.
absl::Status ExpandMessageXmdSha512Into(ByteView msg, ByteView dst, std::span<uint8_t> out);

}  // namespace schakel::crypto

#endif  // SCHAKEL_CRYPTO_HASH_H_
