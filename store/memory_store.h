// An in-memory KvStore for tests: a std::map under a mutex. Durability is
// ignored (everything is "durable" until the object is destroyed).
//
// Thread safety: safe for concurrent use.
#ifndef SCHAKEL_STORE_MEMORY_STORE_H_
#define SCHAKEL_STORE_MEMORY_STORE_H_

#include <map>
#include <mutex>

#include "store/kv_store.h"

namespace schakel::store {

class MemoryStore : public KvStore {
 public:
  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const override;
  absl::Status Write(const WriteBatch& batch, Durability durability) override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view begin, std::string_view end, size_t limit) const override;
  absl::StatusOr<std::optional<std::pair<std::string, std::string>>> Last(
      std::string_view begin, std::string_view end) const override;

  // Test hook: overwrites a value directly, bypassing whoever owns the key
  // (to simulate an edit of the store behind the application's back).
  void Tamper(std::string_view key, std::string_view value);

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::string, std::less<>> data_;  // guarded by mu_
};

}  // namespace schakel::store

#endif  // SCHAKEL_STORE_MEMORY_STORE_H_
