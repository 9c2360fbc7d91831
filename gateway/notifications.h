// The gateway's durable notification outbox (notification.proto): per
// recipient organisation a queue of Notifications with its own sequence
// (1, 2, 3, ... without gaps), kept until the recipient acknowledges them,
// and a best-effort pusher that delivers them with Node.DeliverNotifications.
//
// Queueing goes into the batch of the log entry that causes the
// notification (ExchangeLog::Append's `with`): a MatchNotice is queued
// exactly when its EXCHANGE_RESOLVED entry is written, a DisclosureNotice
// exactly when its DISCLOSURE_DECIDED entry is. The notification's receipt
// (of that entry) needs the entry's hash, which the batch does not know
// yet, so the outbox keeps the entry's sequence and issues the receipt when
// it hands the notification out (Options::receipt).
//
// Sequences stay gapless: Reserve locks the recipients (in a fixed order)
// and hands out the next numbers; only Commit, after the write succeeded,
// makes them taken. A write that fails takes nothing (and the log then
// refuses everything until the gateway restarts, which reloads the
// counters from the store).
//
// Delivery: at least once, in order. Fetch (Gateway.FetchNotifications)
// returns what is above `after_sequence` and acknowledges (drops) the rest;
// the pusher (Start) sends queued notifications to each recipient's node in
// order, drops what the node acknowledged, and backs off per recipient
// while its node cannot be reached (the queue stays; the node catches up
// with Fetch when it comes back).
//
// Storage:
//   "nq/s/<org>"               -> last sequence issued (8 BE)
//   "nq/a/<org>"               -> acknowledged through (8 BE)
//   "nq/n/<org>\0<seq, 8 BE>"  -> parts: log sequence, exchange id,
//                                 Notification (without receipt)
//
// Thread safety: all methods may be called concurrently. The pusher runs on
// its own thread between Start and Stop (the destructor stops it).
#ifndef SCHAKEL_GATEWAY_NOTIFICATIONS_H_
#define SCHAKEL_GATEWAY_NOTIFICATIONS_H_

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "schakel/v1/gateway.pb.h"
#include "schakel/v1/node.pb.h"
#include "schakel/v1/notification.pb.h"
#include "store/kv_store.h"

namespace schakel::gateway {

class NotificationOutbox {
 public:
  struct Options {
    // The receipt of log entry `log_sequence` for `recipient` (exchange id
    // 16 bytes or empty); a notification whose receipt cannot be issued is
    // handed out without one.
    std::function<absl::StatusOr<v1::Receipt>(uint64_t log_sequence, std::string_view recipient,
                                              std::string_view exchange_id)>
        receipt;
    // The clock for created_at.
    std::function<absl::Time()> now = absl::Now;
    // Pusher back-off per recipient after a failed delivery: doubles from
    // `first_retry` up to `max_retry`.
    absl::Duration first_retry = absl::Milliseconds(500);
    absl::Duration max_retry = absl::Minutes(5);
    // At most this many notifications per DeliverNotifications call.
    size_t push_batch = 100;
  };

  // Opens the outbox kept in `kv` (not owned; must outlive it) and loads
  // the recipients' counters. Errors: DATA_LOSS for a malformed counter;
  // store errors.
  static absl::StatusOr<std::unique_ptr<NotificationOutbox>> Open(store::KvStore* kv,
                                                                  Options options);
  ~NotificationOutbox();
  NotificationOutbox(const NotificationOutbox&) = delete;
  NotificationOutbox& operator=(const NotificationOutbox&) = delete;

  // Sequences reserved for a set of recipients; holds their locks until it
  // goes. Move-only.
  class Reservation {
   public:
    Reservation(Reservation&&) noexcept = default;
    ~Reservation();

   private:
    friend class NotificationOutbox;
    explicit Reservation(NotificationOutbox* outbox) : outbox_(outbox) {}
    NotificationOutbox* outbox_;
    std::vector<std::string> orgs_;                   // locked, in order
    std::map<std::string, uint64_t> next_;            // org -> last sequence used so far
    bool committed_ = false;
  };
  // Locks `recipients` (repeats ignored) until the reservation goes.
  Reservation Reserve(std::vector<std::string> recipients);

  // Adds to `batch` the writes that queue `notification` (its notice set;
  // sequence, created_at and receipt are filled in here) for `recipient`,
  // which must be in the reservation, caused by log entry `log_sequence`
  // of exchange `exchange_id`. Returns the sequence it gets.
  uint64_t AddQueued(Reservation& reservation, const std::string& recipient,
                     v1::Notification notification, uint64_t log_sequence,
                     std::string_view exchange_id, store::WriteBatch& batch);
  // After the batch was written: the sequences are taken; wakes the pusher.
  void Commit(Reservation& reservation);

  // Gateway.FetchNotifications for `recipient`: acknowledges (drops) every
  // notification up to `after_sequence` (synced), then returns those above
  // it, oldest first, at most `max_count` (0: 100; at most 1000), with
  // last_sequence. Errors: INVALID_ARGUMENT when after_sequence is beyond
  // the last sequence issued to the recipient; store errors.
  absl::StatusOr<v1::FetchNotificationsResponse> Fetch(const std::string& recipient,
                                                       uint64_t after_sequence, uint32_t max_count);

  // Drops every notification of `recipient` up to `through` (synced; a
  // value at or below what was acknowledged is a no-op, one beyond the
  // last issued is capped).
  absl::Status Acknowledge(const std::string& recipient, uint64_t through);

  // Last sequence issued to `recipient`, and acknowledged through (0, 0
  // for a recipient never notified).
  uint64_t LastSequence(const std::string& recipient) const;
  uint64_t AcknowledgedThrough(const std::string& recipient) const;
  // Notifications queued and not acknowledged, over all recipients.
  uint64_t QueueDepth() const;

  // Sends `request` to `recipient`'s node; returns the node's
  // acknowledged_through. Errors: whatever the call failed with.
  using Deliver = std::function<absl::StatusOr<uint64_t>(
      const std::string& recipient, const v1::DeliverNotificationsRequest& request)>;
  // Starts the pusher thread (once); it delivers what is queued now and
  // whatever is committed later. `log_line` gets one line per recipient
  // whose delivery failed (and when it recovers); may be empty.
  void Start(Deliver deliver, std::function<void(std::string_view)> log_line);
  // Stops the pusher and waits for it. Idempotent.
  void Stop();

 private:
  struct Counters {
    uint64_t last = 0;
    uint64_t acked = 0;
  };
  NotificationOutbox(store::KvStore* kv, Options options) : kv_(kv), options_(std::move(options)) {}
  std::mutex& OrgLock(const std::string& org);
  absl::StatusOr<std::vector<v1::Notification>> Read(const std::string& org, uint64_t after,
                                                     size_t limit) const;
  void Push();
  // One round for `org`: true when it delivered everything queued.
  bool PushOnce(const std::string& org);

  store::KvStore* const kv_;
  const Options options_;

  mutable std::mutex mu_;
  std::map<std::string, Counters> counters_;                   // guarded by mu_
  std::map<std::string, std::unique_ptr<std::mutex>> locks_;   // guarded by mu_

  // The pusher.
  Deliver deliver_;
  std::function<void(std::string_view)> log_line_;
  std::mutex push_mu_;
  std::condition_variable push_cv_;
  bool stopping_ = false;                          // guarded by push_mu_
  std::set<std::string> woken_;                    // guarded by push_mu_
  std::map<std::string, absl::Time> retry_at_;     // guarded by push_mu_ (real clock)
  std::map<std::string, absl::Duration> backoff_;  // guarded by push_mu_
  std::thread pusher_;
};

}  // namespace schakel::gateway

#endif  // SCHAKEL_GATEWAY_NOTIFICATIONS_H_
