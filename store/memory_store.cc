#include "store/memory_store.h"

namespace schakel::store {

absl::StatusOr<std::optional<std::string>> MemoryStore::Get(std::string_view key) const {
  std::lock_guard lock(mu_);
  auto it = data_.find(key);
  if (it == data_.end()) return std::optional<std::string>();
  return std::optional<std::string>(it->second);
}

absl::Status MemoryStore::Write(const WriteBatch& batch, Durability) {
  std::lock_guard lock(mu_);
  for (const auto& op : batch.ops()) {
    switch (op.kind) {
      case WriteBatch::Kind::kPut:
        data_.insert_or_assign(std::string(op.key), std::string(op.value));
        break;
      case WriteBatch::Kind::kDelete:
        if (auto it = data_.find(op.key); it != data_.end()) data_.erase(it);
        break;
      case WriteBatch::Kind::kDeleteRange:
        if (op.key < op.value) data_.erase(data_.lower_bound(op.key), data_.lower_bound(op.value));
        break;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> MemoryStore::Scan(
    std::string_view begin, std::string_view end, size_t limit) const {
  std::lock_guard lock(mu_);
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = data_.lower_bound(begin); it != data_.end(); ++it) {
    if (!end.empty() && it->first >= end) break;
    out.emplace_back(it->first, it->second);
    if (limit != 0 && out.size() == limit) break;
  }
  return out;
}

absl::StatusOr<std::optional<std::pair<std::string, std::string>>> MemoryStore::Last(
    std::string_view begin, std::string_view end) const {
  std::lock_guard lock(mu_);
  auto it = end.empty() ? data_.end() : data_.lower_bound(end);
  if (it == data_.begin()) return std::optional<std::pair<std::string, std::string>>();
  --it;
  if (it->first < begin) return std::optional<std::pair<std::string, std::string>>();
  return std::optional<std::pair<std::string, std::string>>(*it);
}

void MemoryStore::Tamper(std::string_view key, std::string_view value) {
  std::lock_guard lock(mu_);
  data_[std::string(key)] = std::string(value);
}

}  // namespace schakel::store
