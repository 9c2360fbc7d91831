#include "nodes/retention_scheduler.h"

#include <utility>

#include "common/strings.h"

namespace schakel::nodes {

RetentionScheduler::RetentionScheduler(SignalStore* store, IndexPublisher* publisher,
                                       Options options)
    : store_(store), publisher_(publisher), options_(std::move(options)) {}

RetentionScheduler::~RetentionScheduler() { Stop(); }

void RetentionScheduler::Start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void RetentionScheduler::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string RetentionScheduler::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

absl::StatusOr<size_t> RetentionScheduler::RunOnce() {
  std::lock_guard run(run_mu_);
  absl::StatusOr<size_t> removed = store_->ExpireDue(Now());
  // Chunks removed before an error are queued too: wake the publisher
  // whenever the pass may have queued something.
  if (publisher_ != nullptr && (!removed.ok() || *removed > 0)) publisher_->Notify();
  std::lock_guard lock(mu_);
  last_error_ = removed.ok() ? std::string()
                             : StrCat(absl::StatusCodeToString(removed.status().code()), ": ",
                                      removed.status().message());
  return removed;
}

void RetentionScheduler::Run() {
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    (void)RunOnce();  // the error is kept in last_error_
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, options_.interval, [this] { return stopping_; })) return;
  }
}

}  // namespace schakel::nodes
