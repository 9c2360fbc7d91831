// Index publication (protocol.md, flow 1): a background thread that sends
// the SignalStore's queued IndexBatches to the gateway over
// Gateway.PublishIndex and drops them from the queue as the gateway
// acknowledges them.
//
// One session:
//   1. Gateway.GetIndexState: applied_through A and max_changes_per_batch.
//   2. Reconcile with the store's queue (acknowledged through K, queued
//      through Q):
//        A in [K, Q]  the gateway applied batches this node had not yet
//                     recorded as acknowledged (a crash between the
//                     gateway's ack and ours): AcknowledgeUpTo(A);
//        A < K        the gateway lost batches it had acknowledged (its store
//                     was restored or lost), or
//        A > Q        the gateway has a longer stream than this node (this
//                     node's store was restored or lost):
//                     both need a full republish that clears the gateway's
//                     sets and resends every tag, numbered from A + 1
//                     (Options::republish; logged as INDEX_PUBLISHED).
//   3. A PublishIndex stream: every queued batch from A + 1 on, in order,
//      at most Options::window unacknowledged at a time; each IndexAck
//      calls SignalStore::AcknowledgeUpTo. New batches are sent when
//      Notify() is called (the services call it after every write) and in
//      any case every Options::check_interval.
// The gateway's stream is idempotent by sequence, so a session that ends
// anywhere (the node killed, the gateway restarted, the network down) is
// resumed by the next from the gateway's applied_through: nothing is lost or
// applied twice. After a failed session the next starts after
// Options::retry, doubling up to Options::max_retry (reset by a session
// that got an ack); a stream superseded by another of the same organisation
// (ABORTED) is retried the same way. A stream is closed and reopened at once
// after Options::stream_lifetime (its deadline).
//
// Local log: one INDEX_PUBLISHED record when a session has caught up with
// the queue (the batches acknowledged since the last record), one when a
// session that had acknowledged more ends, and one when a republish is
// queued; never one per batch.
//
// Errors never stop the thread: the latest is kept in status().last_error,
// and the session is retried. A batch with more changes than the gateway's
// max_changes_per_batch cannot be sent; the publisher reports it there and
// retries (such batches come only from a republish made with a larger
// limit).
//
// Thread safety: Start, Stop, Notify, status and GetIndexStatus may be
// called from any thread. Ownership: borrows the GatewayClient, the
// SignalStore and the LocalLog; they must outlive the publisher (Stop, or
// destroy it, first).
#ifndef SCHAKEL_NODES_INDEX_PUBLISHER_H_
#define SCHAKEL_NODES_INDEX_PUBLISHER_H_

#include <grpcpp/client_context.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nodes/gateway_client.h"
#include "nodes/local_log.h"
#include "nodes/signal_store.h"
#include "schakel/v1/node_admin.pb.h"

namespace schakel::nodes {

class IndexPublisher {
 public:
  // Rewrites the store's queue for a full republish after the gateway and
  // the node disagree on the stream: drops every queued batch, records
  // `after_sequence` as acknowledged, and queues from after_sequence + 1 one
  // batch with clear = true for every purpose answered, then every current
  // tag in batches of at most `max_changes_per_batch` changes. Returns the
  // number of batches queued: SignalStore::Republish.
  using RepublishFn =
      std::function<absl::StatusOr<uint64_t>(uint64_t after_sequence, uint32_t max_changes_per_batch)>;

  struct Options {
    // First wait after a failed session (node config publish.retry_ms);
    // doubles up to max_retry.
    std::chrono::milliseconds retry{1000};
    std::chrono::milliseconds max_retry{30'000};
    // Queue check without a Notify.
    std::chrono::milliseconds check_interval{5000};
    // Largest batch this node queues for a republish (node config
    // publish.batch_max_changes); the gateway's limit applies too.
    uint32_t max_changes_per_batch = 10'000;
    // Batches sent but not yet acknowledged, at most.
    size_t window = 64;
    // Deadline of one PublishIndex stream; the next opens at once.
    std::chrono::milliseconds stream_lifetime{600'000};
    // Full republish (see RepublishFn); unset: a disagreement is reported
    // in last_error and retried.
    RepublishFn republish;
    // The clock (absl::Now when unset).
    std::function<absl::Time()> now;
  };

  // What the publisher knows beyond the store's counters.
  struct Status {
    bool connected = false;                         // a stream is open now
    uint64_t gateway_applied_through = 0;           // as last seen
    absl::Time last_ack_at = absl::InfinitePast();  // never: InfinitePast
    std::string last_error;                         // empty when the last session is fine
    std::map<std::string, uint64_t> gateway_tag_count;  // from the last GetIndexState
    std::vector<std::string> ignored_purpose_ids;   // named in acks (may not answer)
    uint64_t sessions = 0;                          // streams opened so far
  };

  IndexPublisher(GatewayClient* gateway, SignalStore* store, LocalLog* log, Options options);
  ~IndexPublisher();

  IndexPublisher(const IndexPublisher&) = delete;
  IndexPublisher& operator=(const IndexPublisher&) = delete;

  // Starts the thread (once; later calls do nothing).
  void Start();
  // Ends the current session (cancelling its calls) and joins the thread.
  // Batches sent but not acknowledged stay queued for the next start.
  void Stop();
  // New batches were queued: send them now.
  void Notify();

  Status status() const;

  // NodeAdmin.GetIndexStatus: the store's queue counters and tag counts,
  // the gateway's counts as last seen, whether connected, the last ack.
  // Errors: those of SignalStore::GetIndexStatus.
  absl::StatusOr<v1::GetIndexStatusResponse> GetIndexStatus() const;

 private:
  void Run();
  // One session (see the top of this file); returns why it ended.
  absl::Status RunSession(bool& made_progress);
  // Step 2; `applied` is the gateway's applied_through.
  absl::Status Reconcile(uint64_t applied, uint32_t max_changes);
  void LogPublished(std::string detail, uint64_t changes);
  void SetError(const absl::Status& status);
  absl::Time Now() const { return options_.now ? options_.now() : absl::Now(); }

  GatewayClient* const gateway_;
  SignalStore* const store_;
  LocalLog* const log_;
  const Options options_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool notified_ ABSL_GUARDED_BY(mu_) = false;
  grpc::ClientContext* active_context_ ABSL_GUARDED_BY(mu_) = nullptr;
  Status status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_INDEX_PUBLISHER_H_
