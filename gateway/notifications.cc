#include "gateway/notifications.h"

#include <algorithm>
#include <utility>

#include "common/strings.h"
#include "gateway/authoriser.h"
#include "gateway/exchange_state.h"

namespace schakel::gateway {
namespace {

constexpr char kLastPrefix[] = "nq/s/";
constexpr char kAckedPrefix[] = "nq/a/";
constexpr char kQueuePrefix[] = "nq/n/";
constexpr std::string_view kSep("\0", 1);
constexpr uint32_t kDefaultFetch = 100;
constexpr uint32_t kMaxFetch = 1000;
constexpr uint64_t kFormatVersion = 1;

std::string QueueKey(std::string_view org, uint64_t sequence) {
  return StrCat(kQueuePrefix, org, kSep, store::EncodeKeyU64(sequence));
}

absl::StatusOr<std::map<std::string, uint64_t>> LoadCounters(const store::KvStore& kv,
                                                             std::string_view prefix) {
  auto rows = kv.Scan(prefix, store::PrefixEnd(prefix));
  if (!rows.ok()) return rows.status();
  std::map<std::string, uint64_t> out;
  for (const auto& [key, value] : *rows) {
    auto n = store::DecodeKeyU64(value);
    if (!n.ok()) return absl::DataLossError("notifications: a stored counter is malformed");
    out[key.substr(prefix.size())] = *n;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<NotificationOutbox>> NotificationOutbox::Open(store::KvStore* kv,
                                                                             Options options) {
  std::unique_ptr<NotificationOutbox> outbox(new NotificationOutbox(kv, std::move(options)));
  auto last = LoadCounters(*kv, kLastPrefix);
  if (!last.ok()) return last.status();
  auto acked = LoadCounters(*kv, kAckedPrefix);
  if (!acked.ok()) return acked.status();
  for (const auto& [org, n] : *last) outbox->counters_[org].last = n;
  for (const auto& [org, n] : *acked) outbox->counters_[org].acked = n;
  return outbox;
}

NotificationOutbox::~NotificationOutbox() { Stop(); }

std::mutex& NotificationOutbox::OrgLock(const std::string& org) {
  std::lock_guard lock(mu_);
  auto& m = locks_[org];
  if (m == nullptr) m = std::make_unique<std::mutex>();
  return *m;
}

NotificationOutbox::Reservation::~Reservation() {
  if (outbox_ == nullptr) return;
  for (auto it = orgs_.rbegin(); it != orgs_.rend(); ++it) outbox_->OrgLock(*it).unlock();
}

NotificationOutbox::Reservation NotificationOutbox::Reserve(std::vector<std::string> recipients) {
  std::sort(recipients.begin(), recipients.end());
  recipients.erase(std::unique(recipients.begin(), recipients.end()), recipients.end());
  Reservation r(this);
  for (const std::string& org : recipients) {
    OrgLock(org).lock();
    r.orgs_.push_back(org);
    std::lock_guard lock(mu_);
    r.next_[org] = counters_[org].last;
  }
  return r;
}

uint64_t NotificationOutbox::AddQueued(Reservation& reservation, const std::string& recipient,
                                       v1::Notification notification, uint64_t log_sequence,
                                       std::string_view exchange_id, store::WriteBatch& batch) {
  const uint64_t sequence = ++reservation.next_.at(recipient);
  notification.set_sequence(sequence);
  notification.clear_receipt();
  SetMillis(notification.mutable_created_at(), absl::ToUnixMillis(options_.now()));
  PartsWriter w;
  w.Number(kFormatVersion);
  w.Number(log_sequence);
  w.Part(exchange_id);
  w.Message(notification);
  batch.Put(QueueKey(recipient, sequence), w.Take());
  batch.Put(StrCat(kLastPrefix, recipient), store::EncodeKeyU64(sequence));
  return sequence;
}

void NotificationOutbox::Commit(Reservation& reservation) {
  {
    std::lock_guard lock(mu_);
    for (const auto& [org, last] : reservation.next_) counters_[org].last = last;
  }
  reservation.committed_ = true;
  {
    std::lock_guard lock(push_mu_);
    for (const auto& [org, last] : reservation.next_) woken_.insert(org);
  }
  push_cv_.notify_all();
}

absl::StatusOr<std::vector<v1::Notification>> NotificationOutbox::Read(const std::string& org,
                                                                       uint64_t after,
                                                                       size_t limit) const {
  auto rows = kv_->Scan(QueueKey(org, after + 1), store::PrefixEnd(StrCat(kQueuePrefix, org, kSep)), limit);
  if (!rows.ok()) return rows.status();
  std::vector<v1::Notification> out;
  for (const auto& [key, value] : *rows) {
    PartsReader r(value);
    uint64_t version = 0;
    uint64_t log_sequence = 0;
    std::string_view exchange_id;
    v1::Notification n;
    if (!r.Number(version) || version != kFormatVersion || !r.Number(log_sequence) ||
        !r.Part(exchange_id) || !r.Message(n) || !r.done()) {
      return absl::DataLossError("notifications: a queued notification is malformed");
    }
    if (options_.receipt) {
      auto receipt = options_.receipt(log_sequence, org, exchange_id);
      if (receipt.ok()) *n.mutable_receipt() = *std::move(receipt);
    }
    out.push_back(std::move(n));
  }
  return out;
}

absl::StatusOr<v1::FetchNotificationsResponse> NotificationOutbox::Fetch(const std::string& recipient,
                                                                         uint64_t after_sequence,
                                                                         uint32_t max_count) {
  std::lock_guard org_lock(OrgLock(recipient));
  const uint64_t last = LastSequence(recipient);
  if (after_sequence > last) {
    return absl::InvalidArgumentError(
        StrCat("after_sequence: ", after_sequence, " is beyond the last sequence issued to the caller (",
               last, ")"));
  }
  if (after_sequence > AcknowledgedThrough(recipient)) {
    store::WriteBatch batch;
    batch.DeleteRange(QueueKey(recipient, 0), QueueKey(recipient, after_sequence + 1));
    batch.Put(StrCat(kAckedPrefix, recipient), store::EncodeKeyU64(after_sequence));
    if (absl::Status written = kv_->Write(batch, store::Durability::kSynced); !written.ok()) {
      return written;
    }
    std::lock_guard lock(mu_);
    counters_[recipient].acked = after_sequence;
  }
  const uint32_t count = max_count == 0 ? kDefaultFetch : std::min(max_count, kMaxFetch);
  auto notifications = Read(recipient, std::max(after_sequence, AcknowledgedThrough(recipient)), count);
  if (!notifications.ok()) return notifications.status();
  v1::FetchNotificationsResponse response;
  for (v1::Notification& n : *notifications) *response.add_notifications() = std::move(n);
  response.set_last_sequence(last);
  return response;
}

absl::Status NotificationOutbox::Acknowledge(const std::string& recipient, uint64_t through) {
  std::lock_guard org_lock(OrgLock(recipient));
  through = std::min(through, LastSequence(recipient));
  if (through <= AcknowledgedThrough(recipient)) return absl::OkStatus();
  store::WriteBatch batch;
  batch.DeleteRange(QueueKey(recipient, 0), QueueKey(recipient, through + 1));
  batch.Put(StrCat(kAckedPrefix, recipient), store::EncodeKeyU64(through));
  if (absl::Status written = kv_->Write(batch, store::Durability::kSynced); !written.ok()) {
    return written;
  }
  std::lock_guard lock(mu_);
  counters_[recipient].acked = through;
  return absl::OkStatus();
}

uint64_t NotificationOutbox::LastSequence(const std::string& recipient) const {
  std::lock_guard lock(mu_);
  auto it = counters_.find(recipient);
  return it == counters_.end() ? 0 : it->second.last;
}

uint64_t NotificationOutbox::AcknowledgedThrough(const std::string& recipient) const {
  std::lock_guard lock(mu_);
  auto it = counters_.find(recipient);
  return it == counters_.end() ? 0 : it->second.acked;
}

uint64_t NotificationOutbox::QueueDepth() const {
  std::lock_guard lock(mu_);
  uint64_t depth = 0;
  for (const auto& [org, c] : counters_) depth += c.last - std::min(c.last, c.acked);
  return depth;
}

// ------------------------------------------------------------------ pusher

void NotificationOutbox::Start(Deliver deliver, std::function<void(std::string_view)> log_line) {
  std::lock_guard lock(push_mu_);
  if (pusher_.joinable()) return;
  deliver_ = std::move(deliver);
  log_line_ = std::move(log_line);
  stopping_ = false;
  {
    std::lock_guard counters_lock(mu_);
    for (const auto& [org, c] : counters_) {
      if (c.last > c.acked) woken_.insert(org);
    }
  }
  pusher_ = std::thread([this] { Push(); });
}

void NotificationOutbox::Stop() {
  {
    std::lock_guard lock(push_mu_);
    if (!pusher_.joinable()) return;
    stopping_ = true;
  }
  push_cv_.notify_all();
  pusher_.join();
}

void NotificationOutbox::Push() {
  std::unique_lock lock(push_mu_);
  while (!stopping_) {
    const absl::Time now = absl::Now();
    std::set<std::string> due;
    absl::Time next = absl::InfiniteFuture();
    for (const std::string& org : woken_) {
      auto retry = retry_at_.find(org);
      if (retry == retry_at_.end() || retry->second <= now) due.insert(org);
    }
    for (const auto& [org, at] : retry_at_) {
      if (at <= now) {
        due.insert(org);
      } else {
        next = std::min(next, at);
      }
    }
    if (due.empty()) {
      if (next == absl::InfiniteFuture()) {
        push_cv_.wait(lock);
      } else {
        push_cv_.wait_until(lock, absl::ToChronoTime(next));
      }
      continue;
    }
    for (const std::string& org : due) woken_.erase(org);
    lock.unlock();
    std::map<std::string, bool> delivered;
    for (const std::string& org : due) delivered[org] = PushOnce(org);
    lock.lock();
    for (const auto& [org, ok] : delivered) {
      if (ok) {
        if (retry_at_.erase(org) > 0 && log_line_) log_line_(StrCat("notifications to ", org, ": delivered again"));
        backoff_.erase(org);
        continue;
      }
      auto& backoff = backoff_[org];
      backoff = backoff == absl::ZeroDuration() ? options_.first_retry
                                                : std::min(backoff * 2, options_.max_retry);
      retry_at_[org] = absl::Now() + backoff;
    }
  }
}

bool NotificationOutbox::PushOnce(const std::string& org) {
  while (true) {
    {
      std::lock_guard lock(push_mu_);
      if (stopping_) return false;
    }
    const uint64_t acked = AcknowledgedThrough(org);
    auto queued = Read(org, acked, options_.push_batch);
    if (!queued.ok()) {
      if (log_line_) log_line_(StrCat("notifications to ", org, ": ", queued.status().message()));
      return false;
    }
    if (queued->empty()) return true;
    v1::DeliverNotificationsRequest request;
    for (v1::Notification& n : *queued) *request.add_notifications() = std::move(n);
    const uint64_t sent_through = request.notifications(request.notifications_size() - 1).sequence();
    auto through = deliver_(org, request);
    if (!through.ok()) {
      bool first = false;
      {
        std::lock_guard lock(push_mu_);
        first = retry_at_.count(org) == 0;
      }
      if (first && log_line_) {
        log_line_(StrCat("notifications to ", org, ": not delivered (", absl::StatusCodeToString(through.status().code()),
                         "); ", LastSequence(org) - acked, " queued; retrying with back-off"));
      }
      return false;
    }
    const uint64_t now_through = std::min(*through, sent_through);
    if (now_through <= acked) return false;  // no progress: back off rather than spin
    if (!Acknowledge(org, now_through).ok()) return false;
  }
}

}  // namespace schakel::gateway
