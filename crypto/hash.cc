#include "crypto/hash.h"

#include <algorithm>

#include "crypto/secret.h"

#include "common/strings.h"

namespace schakel::crypto {

Sha512::Sha512() { crypto_hash_sha512_init(&state_); }
Sha512::~Sha512() { sodium_memzero(&state_, sizeof(state_)); }
Sha512& Sha512::Update(ByteView data) {
  crypto_hash_sha512_update(&state_, data.data(), data.size());
  return *this;
}
Sha512Digest Sha512::Final() {
  Sha512Digest out;
  crypto_hash_sha512_final(&state_, out.data());
  return out;
}

Sha512Digest Sha512Hash(ByteView data) {
  Sha512Digest out;
  crypto_hash_sha512(out.data(), data.data(), data.size());
  return out;
}

Blake2b256::Blake2b256() { crypto_generichash_init(&state_, nullptr, 0, 32); }
Blake2b256::~Blake2b256() { sodium_memzero(&state_, sizeof(state_)); }
Blake2b256& Blake2b256::Update(ByteView data) {
  crypto_generichash_update(&state_, data.data(), data.size());
  return *this;
}
Blake2b256Digest Blake2b256::Final() {
  Blake2b256Digest out;
  crypto_generichash_final(&state_, out.data(), out.size());
  return out;
}

Blake2b256Digest Blake2b256Hash(ByteView data) {
  Blake2b256Digest out;
  crypto_generichash(out.data(), out.size(), data.data(), data.size(), nullptr, 0);
  return out;
}

absl::Status ExpandMessageXmdSha512Into(ByteView msg, ByteView dst, std::span<uint8_t> out) {
  constexpr size_t kHashBytes = 64;    // b_in_bytes
  constexpr size_t kBlockBytes = 128;  // s_in_bytes
  const size_t length = out.size();
  if (dst.empty() || dst.size() > 255) {
    return absl::InvalidArgumentError(
        StrCat("expand_message_xmd: DST length ", dst.size(), " is not in 1..255"));
  }
  const size_t ell = (length + kHashBytes - 1) / kHashBytes;
  if (length == 0 || length > 65535 || ell > 255) {
    return absl::InvalidArgumentError(
        StrCat("expand_message_xmd: output length ", length, " is not in 1..16320"));
  }
  const uint8_t dst_len = static_cast<uint8_t>(dst.size());
  static constexpr uint8_t kZeroPad[kBlockBytes] = {};
  const uint8_t len_i_b[2] = {static_cast<uint8_t>(length >> 8), static_cast<uint8_t>(length)};
  const uint8_t zero = 0;

  // b_0 = H(Z_pad || msg || l_i_b_str || I2OSP(0, 1) || DST_prime)
  SecretBytes<kHashBytes> b0;
  {
    Sha512 h;
    h.Update(ByteView(kZeroPad, kBlockBytes)).Update(msg).Update(ByteView(len_i_b, 2));
    h.Update(ByteView(&zero, 1)).Update(dst).Update(ByteView(&dst_len, 1));
    Sha512Digest d = h.Final();
    std::copy(d.begin(), d.end(), b0.data());
    sodium_memzero(d.data(), d.size());
  }
  // b_1 = H(b_0 || I2OSP(1, 1) || DST_prime);
  // b_i = H(strxor(b_0, b_(i-1)) || I2OSP(i, 1) || DST_prime).
  SecretBytes<kHashBytes> prev;
  SecretBytes<kHashBytes> x;
  for (size_t i = 1; i <= ell; ++i) {
    for (size_t j = 0; j < kHashBytes; ++j) {
      x.data()[j] = static_cast<uint8_t>(b0.data()[j] ^ (i == 1 ? 0 : prev.data()[j]));
    }
    const uint8_t idx = static_cast<uint8_t>(i);
    Sha512 h;
    h.Update(x.bytes()).Update(ByteView(&idx, 1)).Update(dst).Update(ByteView(&dst_len, 1));
    Sha512Digest d = h.Final();
    std::copy(d.begin(), d.end(), prev.data());
    sodium_memzero(d.data(), d.size());
    const size_t offset = (i - 1) * kHashBytes;
    const size_t n = std::min(kHashBytes, length - offset);
    std::copy_n(prev.data(), n, out.begin() + static_cast<std::ptrdiff_t>(offset));
  }
  return absl::OkStatus();
}

absl::StatusOr<Bytes> ExpandMessageXmdSha512(ByteView msg, ByteView dst, size_t length) {
  Bytes out(length);
  if (auto s = ExpandMessageXmdSha512Into(msg, dst, out); !s.ok()) return s;
  return out;
}

}  // namespace schakel::crypto
