// Byte strings and hex encoding.
//
// `Bytes` is the project's owning byte string for public data (encodings of
// group elements, hashes, signatures, wire payloads). Secrets never live in a
// `Bytes`: they live in the wiping types of crypto/secret.h.
//
// Thread safety: free functions only; all are reentrant.
#ifndef SCHAKEL_CRYPTO_BYTES_H_
#define SCHAKEL_CRYPTO_BYTES_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace schakel::crypto {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

// Lower-case hex of `data`.
std::string ToHex(ByteView data);

// Parses hex (either case, no separators). Errors: INVALID_ARGUMENT naming
// `field` when the length is odd or a character is not a hex digit.
absl::StatusOr<Bytes> FromHex(std::string_view hex, std::string_view field = "hex");

// Views a string's characters as bytes (no copy).
inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Appends `data` to `out`. (Out of line: GCC 12 reports a false
// stringop-overflow when vector::insert is inlined into an empty vector.)
void Append(Bytes& out, ByteView data);
inline void Append(Bytes& out, std::string_view data) { Append(out, AsBytes(data)); }

// Appends I2OSP(value, width) (big-endian, width 1 to 8) as RFC 8017
// defines. A value that does not fit aborts the process (callers validate
// lengths first; a truncated length would change a transcript's meaning).
void AppendI2osp(Bytes& out, uint64_t value, int width);

// Appends I2OSP(len(data), 2) || data, the length-prefixed framing RFC 9497
// uses in its transcripts. Callers guarantee data.size() < 65536.
void AppendLengthPrefixed(Bytes& out, ByteView data);
inline void AppendLengthPrefixed(Bytes& out, std::string_view data) {
  AppendLengthPrefixed(out, AsBytes(data));
}

// Constant-time equality of two byte strings of the same length; false when
// the lengths differ.
bool ConstantTimeEquals(ByteView a, ByteView b);

}  // namespace schakel::crypto

#endif  // SCHAKEL_CRYPTO_BYTES_H_
