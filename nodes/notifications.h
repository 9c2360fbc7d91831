// Notifications from the gateway at the node (notification.proto): stored
// durably and exactly once, mapped to the organisation's own signals, and
// caught up after an outage.
//
// Two paths carry the same per-recipient sequence numbers (1, 2, 3, ...):
// the gateway pushes with Node.DeliverNotifications (NotificationInbox::
// Deliver), and the node fetches with Gateway.FetchNotifications
// (NotificationPoller, at start and every interval). The inbox keeps a
// watermark, "stored through": a notification at or below it is a repeat
// and ignored; one right above it is stored and moves it on. A pushed
// notification beyond watermark + 1 (a gap) is not stored: the gateway
// re-sends everything above the acknowledged watermark. A fetch answers
// with the oldest notification the gateway still holds, so a first fetched
// sequence beyond watermark + 1 is accepted (the ones before it were
// acknowledged and dropped).
//
// Each notification is stored with a NOTIFICATION_RECEIVED record in the
// node's own log, in one atomic synced write with the new watermark
// (nodes/local_log.h AppendWith): no record, no notification. A
// MatchNotice's tags are resolved to the signals yielding them under its
// purpose (SignalStore::SignalsWithTag) when it arrives; each signal is
// shown with its owner and category as they are when listed, and dropped
// once the signal is gone. A DisclosureNotice moves the outgoing
// disclosure on (OutgoingDisclosures::ApplyStatus; if that fails,
// ShowDisclosure asks the gateway again while the disclosure is pending).
//
// Who sees what (local.proto, Inbox): a user sees MatchNotices about
// signals they own and DisclosureNotices of disclosures they asked for;
// ROLE_ADMIN and ROLE_AUDITOR see all. "Read" is per user.
//
// Storage: "ntf/n/" + ~sequence(8) -> v1::LocalNotification (read unset),
// newest first; "ntf/w" -> the watermark (8 bytes); "ntf/r/" + sequence(8)
// + user_id -> "" when that user read it.
//
// Thread safety: every method may be called concurrently; storing is
// serialised by an internal mutex. Ownership: borrows the store, the log,
// the signal store and the outgoing disclosures (the last two may be
// null); they must outlive the inbox.
#ifndef SCHAKEL_NODES_NOTIFICATIONS_H_
#define SCHAKEL_NODES_NOTIFICATIONS_H_

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string_view>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "nodes/gateway_client.h"
#include "nodes/local_auth.h"
#include "nodes/local_log.h"
#include "nodes/outgoing_disclosures.h"
#include "nodes/signal_store.h"
#include "schakel/v1/local.pb.h"
#include "schakel/v1/node.pb.h"
#include "store/kv_store.h"

namespace schakel::nodes {

class NotificationInbox {
 public:
  // Reads the watermark. Errors: DATA_LOSS (a malformed watermark);
  // INTERNAL from the store.
  static absl::StatusOr<std::unique_ptr<NotificationInbox>> Open(
      store::KvStore* kv, LocalLog* log, const SignalStore* signals,
      OutgoingDisclosures* disclosures, std::function<absl::Time()> now = {});

  NotificationInbox(const NotificationInbox&) = delete;
  NotificationInbox& operator=(const NotificationInbox&) = delete;

  // Node.DeliverNotifications after the caller check: stores what is new
  // and answers the watermark. Errors: INVALID_ARGUMENT (no notification or
  // more than 1000; one without a sequence or kind, or with a tag that is
  // not 16 bytes, named by index; nothing is stored then); UNAVAILABLE when
  // the store or log cannot be written (what was stored before stays).
  absl::StatusOr<v1::DeliverNotificationsResponse> Deliver(
      const v1::DeliverNotificationsRequest& request);

  // Stores the notifications of a FetchNotifications answer (oldest first).
  // Returns the watermark. Errors: as Deliver.
  absl::StatusOr<uint64_t> StoreFetched(
      const google::protobuf::RepeatedPtrField<v1::Notification>& notifications);

  // Every notification up to this sequence is stored.
  uint64_t stored_through() const;

  // Inbox.ListNotifications for `caller`. Errors: INVALID_ARGUMENT
  // ("page_token: ...", "page_size: ..."); PERMISSION_DENIED when a user
  // who is neither admin nor auditor names another owner; DATA_LOSS;
  // INTERNAL.
  absl::StatusOr<v1::ListNotificationsResponse> List(const v1::ListNotificationsRequest& request,
                                                     const LocalCaller& caller) const;

  // Inbox.MarkNotificationsRead for `user_id`: how many changed from unread
  // to read (unknown sequences are ignored). Errors: INVALID_ARGUMENT "sequences:
  // no sequence"; UNAVAILABLE from the store.
  absl::StatusOr<uint32_t> MarkRead(const v1::MarkNotificationsReadRequest& request,
                                    std::string_view user_id);

 private:
  NotificationInbox(store::KvStore* kv, LocalLog* log, const SignalStore* signals,
                    OutgoingDisclosures* disclosures, std::function<absl::Time()> now,
                    uint64_t watermark)
      : kv_(kv), log_(log), signals_(signals), disclosures_(disclosures), now_(std::move(now)),
        watermark_(watermark) {}

  absl::Time Now() const { return now_ ? now_() : absl::Now(); }
  // Stores what is new; `accept_gap` for a fetch. Returns the watermark.
  absl::StatusOr<uint64_t> Store(
      const google::protobuf::RepeatedPtrField<v1::Notification>& notifications, bool accept_gap);
  absl::StatusOr<v1::LocalNotification> Resolve(const v1::Notification& n) const;

  store::KvStore* const kv_;
  LocalLog* const log_;
  const SignalStore* const signals_;
  OutgoingDisclosures* const disclosures_;
  const std::function<absl::Time()> now_;
  mutable std::mutex mu_;
  uint64_t watermark_ ABSL_GUARDED_BY(mu_);
};

// Catches up with Gateway.FetchNotifications: once at Start, then every
// `interval`, asking for everything after the inbox's watermark (which also
// acknowledges it) until nothing newer is waiting. A failed fetch is
// reported through `log_line` (code and message only) and tried again at
// the next interval.
//
// Thread safety: Start and Stop from one thread; PollOnce may run on any
// thread (tests call it directly). Stop (also from the destructor) waits
// for the background thread.
class NotificationPoller {
 public:
  struct Options {
    std::chrono::milliseconds interval{30'000};
    // Notifications asked per FetchNotifications call (1 to 1000).
    uint32_t max_count = 1000;
    std::function<void(std::string_view)> log_line;
  };

  NotificationPoller(GatewayClient* gateway, NotificationInbox* inbox, Options options);
  ~NotificationPoller();
  NotificationPoller(const NotificationPoller&) = delete;
  NotificationPoller& operator=(const NotificationPoller&) = delete;

  void Start();
  void Stop();

  // One catch-up. Returns how far the inbox is stored afterwards.
  // Errors: the gateway's (UNAVAILABLE when unreachable) and the inbox's.
  absl::StatusOr<uint64_t> PollOnce();

 private:
  void Run();

  GatewayClient* const gateway_;
  NotificationInbox* const inbox_;
  const Options options_;
  std::mutex mu_;
  std::condition_variable wake_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace schakel::nodes

#endif  // SCHAKEL_NODES_NOTIFICATIONS_H_
