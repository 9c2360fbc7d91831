#include "nodes/notifications.h"

#include <grpcpp/client_context.h>

#include <algorithm>
#include <charconv>
#include <set>
#include <utility>
#include <vector>

#include "common/strings.h"
#include "crypto/pseudonym.h"
#include "rpc/deadline.h"
#include "rpc/status.h"

namespace schakel::nodes {
namespace {

constexpr std::string_view kNotificationPrefix = "ntf/n/";
constexpr std::string_view kWatermarkKey = "ntf/w";
constexpr std::string_view kReadPrefix = "ntf/r/";
constexpr int kMaxPerDelivery = 1000;
constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;
constexpr size_t kScanChunk = 256;

std::string NotificationKey(uint64_t sequence) {
  return StrCat(kNotificationPrefix, store::EncodeKeyU64(~sequence));
}

std::string ReadKey(uint64_t sequence, std::string_view user_id) {
  return StrCat(kReadPrefix, store::EncodeKeyU64(sequence), user_id);
}

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t ms = absl::ToUnixMillis(t);
  out->set_seconds(ms / 1000);
  out->set_nanos(static_cast<int32_t>(ms % 1000) * 1'000'000);
}

absl::Status Problem(std::string field, std::string problem) {
  v1::ErrorDetail detail;
  detail.set_reason(v1::DENIAL_REASON_MALFORMED_REQUEST);
  v1::FieldProblem* p = detail.add_problems();
  p->set_field(field);
  p->set_problem(problem);
  return rpc::WithErrorDetail(absl::InvalidArgumentError(StrCat(field, ": ", problem)), detail);
}

// Every notification must be whole before any is stored.
absl::Status Validate(const google::protobuf::RepeatedPtrField<v1::Notification>& notifications) {
  for (int i = 0; i < notifications.size(); ++i) {
    const v1::Notification& n = notifications[i];
    const std::string path = StrCat("notifications[", i, "]");
    if (n.sequence() == 0)
      return Problem(StrCat(path, ".sequence"), "missing (sequences start at 1)");
    if (n.notice_case() == v1::Notification::NOTICE_NOT_SET) {
      return Problem(path, "no kind: neither match nor disclosure is set");
    }
    if (n.has_match()) {
      for (int j = 0; j < n.match().tags_size(); ++j) {
        if (n.match().tags(j).size() != crypto::kTagSize) {
          return Problem(StrCat(path, ".match.tags[", j, "]"),
                         StrCat(n.match().tags(j).size(), " bytes; exactly 16"));
        }
      }
    }
  }
  return absl::OkStatus();
}

bool SeesAll(v1::Role role) { return role == v1::ROLE_ADMIN || role == v1::ROLE_AUDITOR; }

}  // namespace

absl::StatusOr<std::unique_ptr<NotificationInbox>> NotificationInbox::Open(
    store::KvStore* kv, LocalLog* log, const SignalStore* signals, OutgoingDisclosures* disclosures,
    std::function<absl::Time()> now) {
  auto value = kv->Get(kWatermarkKey);
  if (!value.ok()) return value.status();
  uint64_t watermark = 0;
  if (value->has_value()) {
    auto decoded = store::DecodeKeyU64(**value);
    if (!decoded.ok()) return absl::DataLossError("the stored notification watermark is malformed");
    watermark = *decoded;
  }
  return std::unique_ptr<NotificationInbox>(
      new NotificationInbox(kv, log, signals, disclosures, std::move(now), watermark));
}

uint64_t NotificationInbox::stored_through() const {
  std::lock_guard lock(mu_);
  return watermark_;
}

absl::StatusOr<v1::DeliverNotificationsResponse> NotificationInbox::Deliver(
    const v1::DeliverNotificationsRequest& request) {
  if (request.notifications_size() == 0) {
    return Problem("notifications", "no notification (1 to 1000 per call)");
  }
  if (request.notifications_size() > kMaxPerDelivery) {
    return Problem("notifications",
                   StrCat(request.notifications_size(), " notifications; at most 1000 per call"));
  }
  auto through = Store(request.notifications(), /*accept_gap=*/false);
  if (!through.ok()) return through.status();
  v1::DeliverNotificationsResponse response;
  response.set_acknowledged_through(*through);
  return response;
}

absl::StatusOr<uint64_t> NotificationInbox::StoreFetched(
    const google::protobuf::RepeatedPtrField<v1::Notification>& notifications) {
  return Store(notifications, /*accept_gap=*/true);
}

absl::StatusOr<v1::LocalNotification> NotificationInbox::Resolve(const v1::Notification& n) const {
  v1::LocalNotification local;
  *local.mutable_notification() = n;
  SetTime(Now(), local.mutable_received_at());
  if (!n.has_match() || signals_ == nullptr) return local;
  const v1::MatchNotice& notice = n.match();
  const std::set<int> hit_types(notice.key_types().begin(), notice.key_types().end());
  std::set<std::string> seen;
  for (const std::string& raw : notice.tags()) {
    crypto::Tag tag{};
    std::copy(raw.begin(), raw.end(), tag.begin());
    auto ids = signals_->SignalsWithTag(notice.purpose_id(), tag);
    if (!ids.ok()) return ids.status();
    for (const std::string& id : *ids) {
      if (!seen.insert(id).second) continue;
      auto signal = signals_->Get(id);
      if (absl::IsNotFound(signal.status())) continue;  // removed meanwhile
      if (!signal.ok()) return signal.status();
      v1::MatchedSignal* m = local.add_signals();
      m->set_signal_id(id);
      m->set_category(signal->category());
      m->set_owner_user_id(signal->owner_user_id());
      for (int type : signal->key_types()) {
        if (hit_types.empty() || hit_types.count(type) > 0) {
          m->add_key_types(static_cast<v1::MatchKeyType>(type));
        }
      }
    }
  }
  return local;
}

absl::StatusOr<uint64_t> NotificationInbox::Store(
    const google::protobuf::RepeatedPtrField<v1::Notification>& notifications, bool accept_gap) {
  if (absl::Status s = Validate(notifications); !s.ok()) return s;
  std::vector<const v1::Notification*> ordered;
  for (const v1::Notification& n : notifications) ordered.push_back(&n);
  std::stable_sort(ordered.begin(), ordered.end(),
                   [](const auto* a, const auto* b) { return a->sequence() < b->sequence(); });

  std::vector<v1::DisclosureStatus> news;
  uint64_t through = 0;
  {
    std::lock_guard lock(mu_);
    for (const v1::Notification* n : ordered) {
      if (n->sequence() <= watermark_) continue;                  // a repeat
      if (n->sequence() != watermark_ + 1 && !accept_gap) break;  // re-sent after the gap
      accept_gap = false;  // only the first of a fetch may jump
      auto local = Resolve(*n);
      if (!local.ok()) {
        return absl::UnavailableError(
            StrCat("notification ", n->sequence(),
                   " could not be mapped to this node's signals: ", local.status().message()));
      }
      v1::LocalLogRecord record;
      record.set_kind(v1::LOCAL_EVENT_KIND_NOTIFICATION_RECEIVED);
      record.set_outcome(v1::OUTCOME_GRANTED);
      if (n->has_receipt()) *record.add_receipts() = n->receipt();
      if (n->has_match()) {
        const v1::MatchNotice& m = n->match();
        record.set_purpose_id(m.purpose_id());
        record.set_case_id(m.case_id());
        record.set_exchange_id(m.exchange_id());
        record.set_counterpart_org_id(m.requester().org_id());
        for (const v1::MatchedSignal& s : local->signals()) record.add_signal_ids(s.signal_id());
        record.set_hit_count(static_cast<uint64_t>(m.tags_size()));
        record.set_detail(StrCat("match notice ", n->sequence(), ": ", m.tags_size(),
                                 " tag(s) of this node hit, ", local->signals_size(),
                                 " signal(s) concerned"));
      } else {
        const v1::DisclosureStatus& d = n->disclosure().status();
        record.set_purpose_id(d.purpose_id());
        record.set_case_id(d.case_id());
        record.set_exchange_id(d.exchange_id());
        record.set_disclosure_id(d.disclosure_id());
        record.set_counterpart_org_id(d.responder_org_id());
        record.set_detail(
            StrCat("disclosure notice ", n->sequence(), ": ", v1::DisclosureState_Name(d.state())));
        news.push_back(d);
      }
      store::WriteBatch batch;
      batch.Put(NotificationKey(n->sequence()), local->SerializeAsString());
      batch.Put(kWatermarkKey, store::EncodeKeyU64(n->sequence()));
      if (auto logged = log_->AppendWith(std::move(record), std::move(batch)); !logged.ok()) {
        return absl::UnavailableError(StrCat("notification ", n->sequence(),
                                             " could not be stored: ", logged.status().message()));
      }
      watermark_ = n->sequence();
    }
    through = watermark_;
  }
  // Outside the lock: the disclosure's own write. A failure here is
  // repaired by ShowDisclosure, which asks the gateway while pending.
  if (disclosures_ != nullptr) {
    for (const v1::DisclosureStatus& status : news)
      (void)disclosures_->ApplyStatus(status, nullptr);
  }
  return through;
}

absl::StatusOr<v1::ListNotificationsResponse> NotificationInbox::List(
    const v1::ListNotificationsRequest& request, const LocalCaller& caller) const {
  if (request.page_size() > kMaxPageSize) {
    return Problem("page_size", StrCat(request.page_size(), " is more than the most, 1000"));
  }
  const size_t page_size = request.page_size() == 0 ? kDefaultPageSize : request.page_size();
  std::string owner = request.owner_user_id();
  if (owner.empty() && !SeesAll(caller.role)) owner = caller.user_id;
  if (owner != caller.user_id && !owner.empty() && !SeesAll(caller.role)) {
    return absl::PermissionDeniedError(
        "owner_user_id: only a user acting as admin or auditor may list another user's "
        "notifications");
  }
  std::string begin(kNotificationPrefix);
  if (!request.page_token().empty()) {
    uint64_t after = 0;
    const std::string& token = request.page_token();
    auto [end_ptr, ec] = std::from_chars(token.data(), token.data() + token.size(), after);
    if (ec != std::errc() || end_ptr != token.data() + token.size() || after == 0) {
      return Problem("page_token", "not a token from a previous response");
    }
    begin = NotificationKey(after);
    begin.push_back('\0');  // just after (older than) the last one returned
  }
  const std::string end = store::PrefixEnd(kNotificationPrefix);

  v1::ListNotificationsResponse response;
  uint64_t last = 0;
  bool more = false;
  while (!more) {
    auto rows = kv_->Scan(begin, end, kScanChunk);
    if (!rows.ok()) return rows.status();
    for (const auto& [key, value] : *rows) {
      v1::LocalNotification local;
      if (!local.ParseFromString(value)) {
        return absl::DataLossError("a stored notification does not parse");
      }
      const uint64_t sequence = local.notification().sequence();
      // The signals as they are now, and whose they are.
      google::protobuf::RepeatedPtrField<v1::MatchedSignal> now_signals;
      for (const v1::MatchedSignal& s : local.signals()) {
        if (signals_ == nullptr) break;
        auto signal = signals_->Get(s.signal_id());
        if (absl::IsNotFound(signal.status())) continue;
        if (!signal.ok()) return signal.status();
        if (!owner.empty() && signal->owner_user_id() != owner) continue;
        v1::MatchedSignal* m = now_signals.Add();
        *m = s;
        m->set_category(signal->category());
        m->set_owner_user_id(signal->owner_user_id());
      }
      bool visible = owner.empty();
      if (local.notification().has_match()) {
        visible = visible || !now_signals.empty();
      } else if (!visible && disclosures_ != nullptr) {
        auto asked = disclosures_->Find(local.notification().disclosure().status().disclosure_id());
        if (!asked.ok()) return asked.status();
        visible = asked->has_value() && (*asked)->requested_by_user_id() == owner;
      }
      if (!visible) continue;
      auto read = kv_->Get(ReadKey(sequence, caller.user_id));
      if (!read.ok()) return read.status();
      if (request.unread_only() && read->has_value()) continue;
      if (static_cast<size_t>(response.notifications_size()) == page_size) {
        more = true;
        break;
      }
      v1::LocalNotification* out = response.add_notifications();
      *out = std::move(local);
      *out->mutable_signals() = std::move(now_signals);
      out->set_read(read->has_value());
      last = sequence;
    }
    if (rows->size() < kScanChunk) break;
    begin = rows->back().first;
    begin.push_back('\0');
  }
  if (more) response.set_next_page_token(StrCat(last));
  return response;
}

absl::StatusOr<uint32_t> NotificationInbox::MarkRead(
    const v1::MarkNotificationsReadRequest& request, std::string_view user_id) {
  if (request.sequences_size() == 0) return Problem("sequences", "no sequence");
  store::WriteBatch batch;
  uint32_t marked = 0;
  std::set<uint64_t> seen;
  for (uint64_t sequence : request.sequences()) {
    if (sequence == 0 || !seen.insert(sequence).second) continue;
    auto stored = kv_->Get(NotificationKey(sequence));
    if (!stored.ok()) return stored.status();
    if (!stored->has_value()) continue;  // unknown: ignored
    auto read = kv_->Get(ReadKey(sequence, user_id));
    if (!read.ok()) return read.status();
    if (read->has_value()) continue;
    batch.Put(ReadKey(sequence, user_id), "");
    ++marked;
  }
  if (!batch.empty()) {
    if (absl::Status s = kv_->Write(batch, store::Durability::kSynced); !s.ok()) return s;
  }
  return marked;
}

NotificationPoller::NotificationPoller(GatewayClient* gateway, NotificationInbox* inbox,
                                       Options options)
    : gateway_(gateway), inbox_(inbox), options_(std::move(options)) {}

NotificationPoller::~NotificationPoller() { Stop(); }

void NotificationPoller::Start() {
  std::lock_guard lock(mu_);
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Run(); });
}

void NotificationPoller::Stop() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<uint64_t> NotificationPoller::PollOnce() {
  const uint32_t max_count = std::clamp<uint32_t>(options_.max_count, 1, 1000);
  for (;;) {
    const uint64_t after = inbox_->stored_through();
    v1::FetchNotificationsRequest request;
    request.set_after_sequence(after);
    request.set_max_count(max_count);
    v1::FetchNotificationsResponse response;
    grpc::ClientContext context;
    rpc::SetDeadline(context, gateway_->options().call_timeout);
    if (absl::Status s = GatewayClient::FromGateway(
            gateway_->gateway().FetchNotifications(&context, request, &response),
            "FetchNotifications");
        !s.ok()) {
      return s;
    }
    auto through = inbox_->StoreFetched(response.notifications());
    if (!through.ok()) return through.status();
    // Done when nothing newer waits, or when nothing moved (no loop on a
    // gateway that answers the same thing again).
    if (response.notifications().empty() || *through <= after ||
        response.last_sequence() <= *through) {
      return *through;
    }
  }
}

void NotificationPoller::Run() {
  for (;;) {
    if (auto polled = PollOnce(); !polled.ok() && options_.log_line) {
      options_.log_line(StrCat("fetching notifications failed (tried again in ",
                               options_.interval.count() / 1000,
                               " s): ", absl::StatusCodeToString(polled.status().code()), ": ",
                               polled.status().message()));
    }
    std::unique_lock lock(mu_);
    if (wake_.wait_for(lock, options_.interval, [this] { return stop_; })) return;
  }
}

}  // namespace schakel::nodes
