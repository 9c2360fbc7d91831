#include "crypto/bytes.h"

#include <sodium.h>

#include <cstdio>
#include <cstdlib>

#include "common/strings.h"

namespace schakel::crypto {

std::string ToHex(ByteView data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0f]);
  }
  return out;
}

namespace {
int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}
}  // namespace

absl::StatusOr<Bytes> FromHex(std::string_view hex, std::string_view field) {
  if (hex.size() % 2 != 0) {
    return absl::InvalidArgumentError(
        StrCat(field, ": hex string has odd length ", hex.size()));
  }
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = HexValue(hex[2 * i]);
    int lo = HexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError(StrCat(
          field, ": character at position ", hi < 0 ? 2 * i : 2 * i + 1, " is not a hex digit"));
    }
    out[i] = static_cast<uint8_t>((hi << 4) | lo);
  }
  return out;
}

void Append(Bytes& out, ByteView data) { out.insert(out.end(), data.begin(), data.end()); }

namespace {
[[noreturn]] void Fatal(const char* what) {
  std::fprintf(stderr, "schakel: internal error: %s\n", what);
  std::abort();
}
}  // namespace

void AppendI2osp(Bytes& out, uint64_t value, int width) {
  // Hard checks, not asserts: a silently truncated length would change what
  // a transcript means. Callers validate lengths first.
  if (width < 1 || width > 8) Fatal("I2OSP width out of range");
  if (width < 8 && value >= (uint64_t{1} << (8 * width))) Fatal("I2OSP value does not fit");
  for (int i = width - 1; i >= 0; --i) {
    out.push_back(static_cast<uint8_t>(value >> (8 * i)));
  }
}

void AppendLengthPrefixed(Bytes& out, ByteView data) {
  AppendI2osp(out, data.size(), 2);
  Append(out, data);
}

bool ConstantTimeEquals(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace schakel::crypto
