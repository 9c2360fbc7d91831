#include "common/observed_store.h"

#include <chrono>

namespace schakel {

absl::Status ObservedStore::Write(const store::WriteBatch& batch, store::Durability durability) {
  const auto start = std::chrono::steady_clock::now();  // real time, not the test clock
  absl::Status result = inner_->Write(batch, durability);
  const absl::Duration took = absl::FromChrono(std::chrono::steady_clock::now() - start);
  if (!result.ok()) write_failed_.store(true, std::memory_order_relaxed);
  if (observer_) observer_(batch, durability, took, result);
  return result;
}

}  // namespace schakel
