// The retention schedule (issue 3, "Retention"): a background thread that
// removes expired signals and has their tags withdrawn at the gateway.
//
// A pass calls SignalStore::ExpireDue(now), which removes every signal whose
// expires_at has passed in atomic chunks, each written together with its
// queue entry of tag removals and its SIGNAL_EXPIRED record in the node's
// own log (signal ids, no user; when the store was created with the log).
// When something was removed the scheduler wakes the index publisher, so
// the withdrawals reach the gateway promptly. A pass runs at Start (signals
// may have expired while the node was down) and then every
// Options::interval (node config retention_interval_s).
//
// Errors: a failed pass is kept in last_error() and retried at the next
// interval; chunks removed before the error stay removed (with their
// records and withdrawals).
//
// Thread safety: every method may be called from any thread; RunOnce calls
// are serialised. Ownership: borrows the store and the publisher (which may
// be null); they must outlive the scheduler.
#ifndef SCHAKEL_NODES_RETENTION_SCHEDULER_H_
#define SCHAKEL_NODES_RETENTION_SCHEDULER_H_

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nodes/index_publisher.h"
#include "nodes/signal_store.h"

namespace schakel::nodes {

class RetentionScheduler {
 public:
  struct Options {
    // Time between passes (node config retention_interval_s).
    std::chrono::milliseconds interval{3'600'000};
    // The clock (absl::Now when unset).
    std::function<absl::Time()> now;
  };

  RetentionScheduler(SignalStore* store, IndexPublisher* publisher, Options options);
  ~RetentionScheduler();

  RetentionScheduler(const RetentionScheduler&) = delete;
  RetentionScheduler& operator=(const RetentionScheduler&) = delete;

  // Starts the thread, which runs a pass at once (once; later calls do
  // nothing).
  void Start();
  // Wakes and joins the thread; a pass under way finishes its current chunk
  // first (ExpireDue is not interruptible between chunks).
  void Stop();

  // One pass now; returns how many signals were removed.
  // Errors: those of SignalStore::ExpireDue (UNAVAILABLE / INTERNAL from the
  // store or the log).
  absl::StatusOr<size_t> RunOnce();

  // The error of the last pass; empty when it succeeded.
  std::string last_error() const;

 private:
  void Run();
  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }

  SignalStore* const store_;
  IndexPublisher* const publisher_;
  const Options options_;

  std::mutex run_mu_;  // serialises passes
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_RETENTION_SCHEDULER_H_
