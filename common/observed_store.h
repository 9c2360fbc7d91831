// A KvStore that passes everything to another one and reports each write:
// how long it took and whether it failed. The gateway uses it for the
// exchange log's write latency (metrics) and the node for its store's
// health (a failed write turns the health service to NOT_SERVING).
//
// Thread safety: as the wrapped store; the observer is called on the
// writing thread, after the write, and must be thread-safe.
// Errors: exactly those of the wrapped store.
#ifndef SCHAKEL_COMMON_OBSERVED_STORE_H_
#define SCHAKEL_COMMON_OBSERVED_STORE_H_

#include <atomic>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "store/kv_store.h"

namespace schakel {

class ObservedStore final : public store::KvStore {
 public:
  using Observer = std::function<void(const store::WriteBatch& batch, store::Durability durability,
                                      absl::Duration took, const absl::Status& result)>;

  // `inner` is not owned and must outlive this store.
  ObservedStore(store::KvStore* inner, Observer observer)
      : inner_(inner), observer_(std::move(observer)) {}

  // Whether any write has failed since this store was made.
  bool write_failed() const { return write_failed_.load(std::memory_order_relaxed); }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const override {
    return inner_->Get(key);
  }
  absl::Status Write(const store::WriteBatch& batch, store::Durability durability) override;
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view begin, std::string_view end, size_t limit) const override {
    return inner_->Scan(begin, end, limit);
  }
  absl::StatusOr<std::optional<std::pair<std::string, std::string>>> Last(
      std::string_view begin, std::string_view end) const override {
    return inner_->Last(begin, end);
  }

 private:
  store::KvStore* const inner_;
  const Observer observer_;
  std::atomic<bool> write_failed_{false};
};

}  // namespace schakel

#endif  // SCHAKEL_COMMON_OBSERVED_STORE_H_
