// A KvStore that wraps another and fails writes on command: for tests of
// fail-closed behaviour (an exchange whose log write fails must not happen).
// Reads pass through.
//
// Thread safety: safe for concurrent use.
#ifndef SCHAKEL_STORE_FAULTY_STORE_H_
#define SCHAKEL_STORE_FAULTY_STORE_H_

#include <atomic>

#include "store/kv_store.h"

namespace schakel::store {

class FaultyStore : public KvStore {
 public:
  explicit FaultyStore(KvStore* base) : base_(base) {}

  // Every write from now on fails with UNAVAILABLE until ClearFaults().
  void FailAllWrites() { fail_all_ = true; }
  // The next `n` writes fail with UNAVAILABLE.
  void FailNextWrites(int n) { fail_next_ = n; }
  void ClearFaults() {
    fail_all_ = false;
    fail_next_ = 0;
  }
  int failed_writes() const { return failed_writes_; }
  int writes() const { return writes_; }

  absl::StatusOr<std::optional<std::string>> Get(std::string_view key) const override {
    return base_->Get(key);
  }
  absl::Status Write(const WriteBatch& batch, Durability durability) override {
    ++writes_;
    int pending = fail_next_.load();
    while (pending > 0 && !fail_next_.compare_exchange_weak(pending, pending - 1)) {
    }
    if (fail_all_ || pending > 0) {
      ++failed_writes_;
      return absl::UnavailableError("store: injected write failure (I/O error)");
    }
    return base_->Write(batch, durability);
  }
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> Scan(
      std::string_view begin, std::string_view end, size_t limit) const override {
    return base_->Scan(begin, end, limit);
  }
  absl::StatusOr<std::optional<std::pair<std::string, std::string>>> Last(
      std::string_view begin, std::string_view end) const override {
    return base_->Last(begin, end);
  }

 private:
  KvStore* const base_;
  std::atomic<bool> fail_all_{false};
  std::atomic<int> fail_next_{0};
  std::atomic<int> failed_writes_{0};
  std::atomic<int> writes_{0};
};

}  // namespace schakel::store

#endif  // SCHAKEL_STORE_FAULTY_STORE_H_
