#include "store/kv_store.h"

#include "common/strings.h"

namespace schakel::store {

absl::StatusOr<std::vector<std::optional<std::string>>> KvStore::MultiGet(
    std::span<const std::string> keys) const {
  std::vector<std::optional<std::string>> out;
  out.reserve(keys.size());
  for (const std::string& key : keys) {
    auto value = Get(key);
    if (!value.ok()) return value.status();
    out.push_back(*std::move(value));
  }
  return out;
}

std::string PrefixEnd(std::string_view prefix) {
  std::string end(prefix);
  while (!end.empty()) {
    auto& c = reinterpret_cast<unsigned char&>(end.back());
    if (c != 0xff) {
      ++c;
      return end;
    }
    end.pop_back();
  }
  return end;
}

std::string EncodeKeyU64(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[static_cast<size_t>(i)] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

absl::StatusOr<uint64_t> DecodeKeyU64(std::string_view bytes) {
  if (bytes.size() != 8) {
    return absl::InvalidArgumentError(StrCat("key: expected 8 bytes, got ", bytes.size()));
  }
  uint64_t v = 0;
  for (char c : bytes) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

}  // namespace schakel::store
