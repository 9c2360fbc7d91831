// Secret byte strings that wipe themselves and cannot be copied by accident.
//
// `SecretBytes<N>` holds exactly N secret bytes (a private key, a seed, a
// blind). It is movable (the source is wiped) but not copyable; `Clone()` makes
// a deliberate copy. The destructor wipes the bytes with sodium_memzero, which
// the compiler may not optimise away. `SecretBuffer` is the same for
// variable-length secrets (for example a key file's contents while parsing).
//
// Thread safety: like a std::array; concurrent const access is safe.
#ifndef SCHAKEL_CRYPTO_SECRET_H_
#define SCHAKEL_CRYPTO_SECRET_H_

#include <sodium.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace schakel::crypto {

template <size_t N>
class SecretBytes {
 public:
  static constexpr size_t kSize = N;

  SecretBytes() { bytes_.fill(0); }
  explicit SecretBytes(std::span<const uint8_t, N> data) {
    std::copy(data.begin(), data.end(), bytes_.begin());
  }
  ~SecretBytes() { Wipe(); }

  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  SecretBytes(SecretBytes&& other) noexcept : bytes_(other.bytes_) { other.Wipe(); }
  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      bytes_ = other.bytes_;
      other.Wipe();
    }
    return *this;
  }

  // A deliberate copy.
  SecretBytes Clone() const { return SecretBytes(std::span<const uint8_t, N>(bytes_)); }

  std::span<const uint8_t, N> bytes() const { return bytes_; }
  std::span<uint8_t, N> mutable_bytes() { return bytes_; }
  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }
  static constexpr size_t size() { return N; }

  void Wipe() { sodium_memzero(bytes_.data(), N); }

 private:
  std::array<uint8_t, N> bytes_;
};

// Variable-length secret: a vector whose contents are wiped on destruction
// and before any reallocation the class performs itself.
class SecretBuffer {
 public:
  SecretBuffer() = default;
  explicit SecretBuffer(size_t size) : bytes_(size, 0) {}
  ~SecretBuffer() { Wipe(); }

  SecretBuffer(const SecretBuffer&) = delete;
  SecretBuffer& operator=(const SecretBuffer&) = delete;
  SecretBuffer(SecretBuffer&& other) noexcept : bytes_(std::move(other.bytes_)) {
    other.bytes_.clear();
  }
  SecretBuffer& operator=(SecretBuffer&& other) noexcept {
    if (this != &other) {
      Wipe();
      bytes_ = std::move(other.bytes_);
      other.bytes_.clear();
    }
    return *this;
  }

  std::span<const uint8_t> bytes() const { return bytes_; }
  std::span<uint8_t> mutable_bytes() { return bytes_; }
  const uint8_t* data() const { return bytes_.data(); }
  uint8_t* data() { return bytes_.data(); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }

  // Resizes; wipes the old storage first when growing forces a move.
  void Resize(size_t size) {
    if (size <= bytes_.capacity()) {
      if (size < bytes_.size()) sodium_memzero(bytes_.data() + size, bytes_.size() - size);
      bytes_.resize(size, 0);
      return;
    }
    std::vector<uint8_t> grown(size, 0);
    std::copy(bytes_.begin(), bytes_.end(), grown.begin());
    Wipe();
    bytes_ = std::move(grown);
  }

  void Wipe() {
    if (!bytes_.empty()) sodium_memzero(bytes_.data(), bytes_.size());
  }

 private:
  std::vector<uint8_t> bytes_;
};

// True after construction, false once the owner has been moved from. Objects
// holding keys carry one so that a moved-from object refuses to work instead
// of working with wiped (zero) key material.
class OwnershipFlag {
 public:
  OwnershipFlag() = default;
  OwnershipFlag(const OwnershipFlag&) = delete;
  OwnershipFlag& operator=(const OwnershipFlag&) = delete;
  OwnershipFlag(OwnershipFlag&& other) noexcept : live_(std::exchange(other.live_, false)) {}
  OwnershipFlag& operator=(OwnershipFlag&& other) noexcept {
    const bool live = std::exchange(other.live_, false);
    live_ = live;
    return *this;
  }
  explicit operator bool() const { return live_; }

 private:
  bool live_ = true;
};

}  // namespace schakel::crypto

#endif  // SCHAKEL_CRYPTO_SECRET_H_
