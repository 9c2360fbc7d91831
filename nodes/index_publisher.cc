#include "nodes/index_publisher.h"

#include <algorithm>
#include <deque>
#include <utility>

#include "common/strings.h"
#include "rpc/deadline.h"

namespace schakel::nodes {
namespace {

// The gateway's own limit when GetIndexState names none (gateway.proto).
constexpr uint32_t kGatewayMaxChanges = 65'536;

uint64_t ChangeCount(const v1::IndexBatch& batch) {
  uint64_t n = 0;
  for (const v1::PurposeTagChanges& c : batch.changes()) {
    n += static_cast<uint64_t>(c.added_size()) + static_cast<uint64_t>(c.removed_size());
  }
  return n;
}

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t ms = absl::ToUnixMillis(t);
  out->set_seconds(ms / 1000);
  out->set_nanos(static_cast<int32_t>((ms % 1000) * 1'000'000));
}

}  // namespace

IndexPublisher::IndexPublisher(GatewayClient* gateway, SignalStore* store, LocalLog* log,
                               Options options)
    : gateway_(gateway), store_(store), log_(log), options_(std::move(options)) {}

IndexPublisher::~IndexPublisher() { Stop(); }

void IndexPublisher::Start() {
  std::lock_guard lock(mu_);
  if (started_ || stopping_) return;
  started_ = true;
  thread_ = std::thread([this] { Run(); });
}

void IndexPublisher::Stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (active_context_ != nullptr) active_context_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void IndexPublisher::Notify() {
  {
    std::lock_guard lock(mu_);
    notified_ = true;
  }
  cv_.notify_all();
}

IndexPublisher::Status IndexPublisher::status() const {
  std::lock_guard lock(mu_);
  return status_;
}

absl::StatusOr<v1::GetIndexStatusResponse> IndexPublisher::GetIndexStatus() const {
  auto counters = store_->GetIndexStatus();
  if (!counters.ok()) return counters.status();
  v1::GetIndexStatusResponse response;
  response.set_queued_through(counters->queued_through);
  response.set_acknowledged_through(counters->acknowledged_through);
  response.set_pending_batches(counters->queued_through - counters->acknowledged_through);
  std::lock_guard lock(mu_);
  if (status_.last_ack_at != absl::InfinitePast()) {
    SetTimestamp(status_.last_ack_at, response.mutable_last_ack_at());
  }
  response.set_connected(status_.connected);
  for (const auto& [purpose, count] : counters->tag_count) {
    v1::LocalPurposeIndex* p = response.add_purposes();
    p->set_purpose_id(purpose);
    p->set_tag_count(count);
    if (auto it = status_.gateway_tag_count.find(purpose); it != status_.gateway_tag_count.end()) {
      p->set_gateway_tag_count(it->second);
    }
  }
  return response;
}

void IndexPublisher::SetError(const absl::Status& status) {
  std::lock_guard lock(mu_);
  status_.last_error = status.ok() ? std::string() : StrCat(absl::StatusCodeToString(status.code()), ": ", status.message());
}

void IndexPublisher::LogPublished(std::string detail, uint64_t changes) {
  v1::LocalLogRecord record;
  record.set_kind(v1::LOCAL_EVENT_KIND_INDEX_PUBLISHED);
  record.set_outcome(v1::OUTCOME_GRANTED);
  record.set_element_count(changes);
  record.set_detail(std::move(detail));
  if (auto appended = log_->Append(std::move(record)); !appended.ok()) {
    // Publication goes on: the gateway logs what it applied, and the next
    // record covers these batches too.
    SetError(absl::Status(appended.status().code(),
                          StrCat("local log: INDEX_PUBLISHED not recorded: ",
                                 appended.status().message())));
  }
}

void IndexPublisher::Run() {
  std::chrono::milliseconds wait = options_.retry;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    bool progress = false;
    const absl::Status ended = RunSession(progress);
    {
      std::lock_guard lock(mu_);
      status_.connected = false;
      if (stopping_) return;
    }
    if (ended.ok()) {  // the stream reached its lifetime: reopen at once
      wait = options_.retry;
      continue;
    }
    SetError(ended);
    if (progress) wait = options_.retry;
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, wait, [this] { return stopping_; });
    }
    wait = std::min(wait * 2, std::max(options_.max_retry, options_.retry));
  }
}

absl::Status IndexPublisher::Reconcile(uint64_t applied, uint32_t max_changes) {
  auto counters = store_->GetIndexStatus();
  if (!counters.ok()) return counters.status();
  const uint64_t acknowledged = counters->acknowledged_through;
  const uint64_t queued = counters->queued_through;
  if (applied >= acknowledged && applied <= queued) {
    // Batches the gateway applied whose ack this node never recorded.
    return applied > acknowledged ? store_->AcknowledgeUpTo(applied) : absl::OkStatus();
  }
  const std::string why =
      applied < acknowledged
          ? StrCat("the gateway has applied index batches through ", applied,
                   " but had acknowledged them through ", acknowledged, " (it lost state)")
          : StrCat("the gateway has applied index batches through ", applied,
                   " but this node queued only through ", queued, " (this node lost state)");
  if (!options_.republish) {
    return absl::FailedPreconditionError(
        StrCat(why, "; a full republish is needed and none is configured"));
  }
  auto batches = options_.republish(applied, max_changes);
  if (!batches.ok()) {
    return absl::Status(batches.status().code(),
                        StrCat(why, "; the republish could not be queued: ",
                               batches.status().message()));
  }
  LogPublished(StrCat(why, "; full republish queued: ", *batches, " batches from sequence ",
                      applied + 1),
               0);
  return absl::OkStatus();
}

absl::Status IndexPublisher::RunSession(bool& made_progress) {
  // 1. Where the gateway stands.
  v1::GetIndexStateResponse state;
  {
    grpc::ClientContext context;
    rpc::SetDeadline(context, gateway_->options().call_timeout);
    {
      std::lock_guard lock(mu_);
      if (stopping_) return absl::OkStatus();
      active_context_ = &context;
    }
    const grpc::Status s =
        gateway_->gateway().GetIndexState(&context, v1::GetIndexStateRequest(), &state);
    {
      std::lock_guard lock(mu_);
      active_context_ = nullptr;
    }
    if (!s.ok()) return GatewayClient::FromGateway(s, "GetIndexState");
  }
  const uint64_t applied = state.applied_through();
  const uint32_t max_changes =
      std::min(state.max_changes_per_batch() == 0 ? kGatewayMaxChanges
                                                  : state.max_changes_per_batch(),
               std::max<uint32_t>(1, options_.max_changes_per_batch));
  {
    std::lock_guard lock(mu_);
    status_.gateway_applied_through = applied;
    status_.gateway_tag_count.clear();
    for (const v1::PurposeIndexState& p : state.purposes()) {
      status_.gateway_tag_count[p.purpose_id()] = p.tag_count();
    }
  }

  // 2. Agree on where to resume.
  if (auto s = Reconcile(applied, max_changes); !s.ok()) return s;
  SetError(absl::OkStatus());  // reachable and in agreement again

  // 3. The stream. The reader thread takes the acks; this thread sends.
  grpc::ClientContext context;
  rpc::SetDeadline(context, options_.stream_lifetime);
  {
    std::lock_guard lock(mu_);
    if (stopping_) return absl::OkStatus();
    active_context_ = &context;
  }
  auto stream = gateway_->gateway().PublishIndex(&context);

  struct Session {
    uint64_t acknowledged = 0;
    bool done = false;
    absl::Status error;
    std::deque<std::pair<uint64_t, uint64_t>> in_flight;  // (sequence, changes)
    uint64_t changes_acknowledged = 0;                    // since the last record
  } session;  // guarded by mu_
  session.acknowledged = applied;
  {
    std::lock_guard lock(mu_);
    status_.connected = true;
    ++status_.sessions;
  }

  std::thread reader([&] {
    v1::IndexAck ack;
    while (stream->Read(&ack)) {
      const uint64_t through = ack.applied_through();
      const absl::Status stored = store_->AcknowledgeUpTo(through);
      std::lock_guard lock(mu_);
      if (!stored.ok()) {
        session.error = absl::Status(stored.code(), StrCat("acknowledging index batches through ",
                                                           through, ": ", stored.message()));
        context.TryCancel();
        break;
      }
      if (through > session.acknowledged) {
        session.acknowledged = through;
        while (!session.in_flight.empty() && session.in_flight.front().first <= through) {
          session.changes_acknowledged += session.in_flight.front().second;
          session.in_flight.pop_front();
        }
        status_.last_ack_at = Now();
        status_.gateway_applied_through = through;
        status_.last_error.clear();
      }
      for (const std::string& purpose : ack.ignored_purpose_ids()) {
        auto& ignored = status_.ignored_purpose_ids;
        if (std::find(ignored.begin(), ignored.end(), purpose) == ignored.end()) {
          ignored.push_back(purpose);
        }
      }
      cv_.notify_all();
    }
    std::lock_guard lock(mu_);
    session.done = true;
    cv_.notify_all();
  });

  uint64_t sent = applied;
  uint64_t logged_through = applied;  // batches acknowledged before this session are not ours
  bool caught_up_logged = false;
  uint64_t seen_acknowledged = applied;
  absl::Status result;
  bool first = true;
  while (true) {
    size_t room = 0;
    {
      std::unique_lock lock(mu_);
      if (!first) {
        cv_.wait_for(lock, options_.check_interval, [&] {
          return stopping_ || session.done || notified_ ||
                 session.acknowledged != seen_acknowledged;
        });
      }
      first = false;
      if (stopping_ || session.done) break;
      notified_ = false;
      seen_acknowledged = session.acknowledged;
      const uint64_t unacknowledged = sent - session.acknowledged;
      room = unacknowledged >= options_.window ? 0 : options_.window - unacknowledged;
    }
    bool drained = false;
    if (room > 0) {
      auto batches = store_->PendingBatches(sent, room);
      if (!batches.ok()) {
        result = batches.status();
        break;
      }
      drained = batches->size() < room;
      bool broken = false;
      for (const v1::IndexBatch& batch : *batches) {
        const uint64_t changes = ChangeCount(batch);
        if (changes > max_changes) {
          result = absl::FailedPreconditionError(
              StrCat("index batch ", batch.sequence(), " has ", changes,
                     " tag changes; the gateway accepts at most ", max_changes,
                     " per batch (republish with a smaller publish.batch_max_changes)"));
          break;
        }
        if (batch.sequence() != sent + 1) {
          result = absl::DataLossError(StrCat("index queue: batch ", batch.sequence(),
                                              " follows batch ", sent, "; the queue has a gap"));
          break;
        }
        {
          std::lock_guard lock(mu_);
          session.in_flight.emplace_back(batch.sequence(), changes);
        }
        if (!stream->Write(batch)) {  // the stream is broken; the reader sees why
          broken = true;
          break;
        }
        sent = batch.sequence();
      }
      if (!result.ok()) break;
      if (broken) {
        std::unique_lock lock(mu_);
        cv_.wait(lock, [&] { return session.done; });
        break;
      }
    }
    // Caught up: everything queued has been sent and acknowledged.
    uint64_t changes = 0;
    uint64_t acknowledged = 0;
    {
      std::lock_guard lock(mu_);
      acknowledged = session.acknowledged;
      if (drained && !caught_up_logged && acknowledged == sent && acknowledged > logged_through) {
        changes = session.changes_acknowledged;
        session.changes_acknowledged = 0;
      } else {
        acknowledged = 0;
      }
    }
    if (acknowledged > 0) {
      LogPublished(StrCat("caught up: index batches ", logged_through + 1, " to ", acknowledged,
                          " acknowledged by the gateway"),
                   changes);
      logged_through = acknowledged;
      caught_up_logged = true;
    }
  }

  context.TryCancel();
  reader.join();
  const grpc::Status finished = stream->Finish();
  {
    std::lock_guard lock(mu_);
    active_context_ = nullptr;
  }
  uint64_t acknowledged = 0;
  uint64_t changes = 0;
  bool stopping = false;
  absl::Status ack_error;
  {
    std::lock_guard lock(mu_);
    acknowledged = session.acknowledged;
    changes = session.changes_acknowledged;
    stopping = stopping_;
    ack_error = session.error;
  }
  made_progress = acknowledged > applied;

  absl::Status why = result;
  if (why.ok()) why = ack_error;
  const bool lifetime_reached = finished.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED;
  if (why.ok() && !stopping && !lifetime_reached) {
    why = GatewayClient::FromGateway(finished, "PublishIndex");
    if (why.ok()) why = absl::UnavailableError("the gateway ended the PublishIndex stream");
  }
  if (acknowledged > logged_through) {
    LogPublished(StrCat("index batches ", logged_through + 1, " to ", acknowledged,
                        " acknowledged by the gateway; stream closed",
                        why.ok() ? std::string() : StrCat(": ", why.message())),
                 changes);
  }
  return why;
}

}  // namespace schakel::nodes
